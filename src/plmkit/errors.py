"""Errors a user can act on: each says what went wrong and how to fix it.

The CLI prints `error[CODE]: message` then `fix: ...` and exits with status 2; the
server maps them to HTTP 4xx. Nothing else in plmkit should let a traceback reach a user
for bad input. A full disk (`disk_full`) is not bad input, but the CLI gives it one line
too (`DiskFullError`, exit status 1) instead of the traceback of whichever library was
writing.
"""

from __future__ import annotations

import errno


class PlmError(Exception):
    """Base class: `message` says what is wrong, `fix` says what to do about it."""

    code = "PLM000"
    exit_code = 2

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def one_line(self) -> str:
        text = f"error[{self.code}]: {self.message}"
        return f"{text} -- fix: {self.fix}" if self.fix else text


class UnknownModelError(PlmError):
    """A model name that is neither an alias, a local directory nor a cached hub model."""

    code = "PLM001"


class ModelNotCachedError(PlmError):
    """A hub id whose weights are not in the local Hugging Face cache while offline."""

    code = "PLM002"


class ModelPathError(PlmError):
    """A local model path that does not exist or does not hold a usable model."""

    code = "PLM003"


class WrongModelKindError(PlmError):
    """An encoder given to a decoder command, a model without the head a command needs..."""

    code = "PLM004"


class InvalidInputError(PlmError):
    """Empty text, a bad option value, a missing input file..."""

    code = "PLM005"


class DataError(PlmError):
    """A dataset that cannot be read or does not fit the task (columns, labels, splits)."""

    code = "PLM006"


class UnsafeWeightsError(PlmError):
    """A checkpoint that only has pickle weights (we load safetensors only)."""

    code = "PLM007"


class BackendUnavailableError(PlmError):
    """An optional inference backend that is not installed or not usable on this machine."""

    code = "PLM008"


class CheckpointError(PlmError):
    """A training checkpoint that is missing, incomplete or does not match the run."""

    code = "PLM009"


class DiskFullError(PlmError):
    """A write that found the disk full (or the user's quota spent): not the input's fault,
    so it exits with 1, but it gets one line and a fix like the others."""

    code = "PLM010"
    exit_code = 1


FULL_DISK_TEXTS = ("no space left on device", "disk quota exceeded")
"""How a full disk reads where a library turns the OSError into its own exception
(safetensors: "Error while serializing: I/O error: No space left on device (os error 28)")."""


def disk_full(error: BaseException) -> BaseException | None:
    """The exception that shows `error` to be a full disk: `error` itself or one it was
    raised from or during (an OSError names the file it was writing); None for any other."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return current
        if any(text in str(current).lower() for text in FULL_DISK_TEXTS):
            return current
        current = current.__cause__ or current.__context__
    return None
