import pytest

from plmkit.errors import ModelPathError, UnknownModelError
from plmkit.registry import EMBEDDED, resolve, unknown_name_error


def test_aliases_resolve_to_embedded_specs():
    assert resolve("minilm").source == "embedded"
    assert resolve("minilm").kind == "encoder"
    assert resolve("smollm2").kind == "decoder"
    assert set(EMBEDDED) == {"minilm", "smollm2"}


def test_local_directory(tmp_path):
    spec = resolve(str(tmp_path))
    assert spec.source == "local" and spec.locator == str(tmp_path.resolve())


def test_hub_ids_carry_the_embedded_alternative():
    assert resolve("gpt2").embedded_alternative == "smollm2"
    assert resolve("distilbert-base-uncased").embedded_alternative == "minilm"
    assert resolve("bert-base-uncased").kind == "encoder"
    assert resolve("someone/some-model").source == "hub"


@pytest.mark.parametrize("name", ["./no/such/dir", "/no/such/dir", "a/b/c", "bad name!"])
def test_missing_paths_fail_clearly(name):
    with pytest.raises(ModelPathError, match="does not exist"):
        resolve(name)


def test_a_file_is_not_a_model_dir(tmp_path):
    f = tmp_path / "model.safetensors"
    f.write_text("x")
    with pytest.raises(ModelPathError, match="is a file"):
        resolve(str(f))


def test_empty_name():
    with pytest.raises(UnknownModelError):
        resolve("  ")


def test_unknown_name_lists_known_aliases_and_suggests():
    error = unknown_name_error("minilmm")
    assert "did you mean 'minilm'" in error.message
    assert "minilm (encoder)" in error.fix and "smollm2 (decoder)" in error.fix
