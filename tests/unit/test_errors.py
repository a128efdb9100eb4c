"""errors: which exceptions count as a full disk (the CLI turns those into one line)."""

import errno

import pytest

from plmkit.errors import disk_full


def _raised_from(outer: Exception, inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException as cause:
            raise outer from cause
    except Exception as error:  # noqa: BLE001 - the chained exception is the point
        return error


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device", "/cache/model.safetensors"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        # safetensors wraps the OSError in its own exception and keeps only the text
        RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)"),
        _raised_from(ValueError("saving failed"), OSError(errno.ENOSPC, "No space left")),
    ],
)
def test_a_full_disk_is_recognised_however_it_is_wrapped(error):
    assert disk_full(error)


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.EACCES, "Permission denied", "/cache"),
        FileNotFoundError(errno.ENOENT, "No such file or directory", "x"),
        RuntimeError("shape mismatch"),
        _raised_from(ValueError("bad"), KeyError("space")),
    ],
)
def test_other_errors_are_not_a_full_disk(error):
    assert not disk_full(error)
