"""max_tokens beyond the context on every decoder backend: capped with finish_reason
'length' (whole, streamed, and in a batch), never an engine error; a prompt past the
context is a 400 naming it. The same in the Python API (`generate`, `generate_batch`)."""

from __future__ import annotations

import json
import shutil

import pytest

from plmkit.backends import registry
from plmkit.config import GenerateConfig
from plmkit.pipelines.generate import generate
from plmkit.pipelines.generate_batch import BatchRequest, generate_batch

BACKENDS = ["torch-fp32", "ct2-int8", "llama-cpp"]
HUGE = 1_000_000_000


@pytest.fixture(scope="module")
def decoder_dir(tmp_path_factory, tiny_llama_dir):
    """The tiny Llama (128 positions) with an F32 GGUF beside it, for llama.cpp."""
    directory = tmp_path_factory.mktemp("tiny-llama-every-backend")
    shutil.copytree(tiny_llama_dir, directory, dirs_exist_ok=True)
    if not registry.missing("llama-cpp"):
        from gguf_writer import write_llama_gguf

        write_llama_gguf(directory, directory / "tiny-llama-f32.gguf")
    return str(directory)


def skip_missing(name: str) -> None:
    if registry.missing(name):
        pytest.skip(registry.missing(name))


@pytest.mark.parametrize("name", BACKENDS)
def test_the_api_caps_max_tokens_at_the_context(name, decoder_dir, serve_with):
    skip_missing(name)
    body = {"prompt": "the cat sat on", "max_tokens": HUGE, "temperature": 0}
    with serve_with({"generators": [decoder_dir]}, backend=name) as client:
        whole = client.post("/v1/completions", json=body)
        assert whole.status_code == 200, whole.text
        usage = whole.json()["usage"]
        assert usage["total_tokens"] <= 128
        if whole.json()["choices"][0]["finish_reason"] == "length":  # not an early eos
            assert usage["total_tokens"] == 128
        streamed = client.post("/v1/completions", json={**body, "stream": True})
        events = [p[6:] for p in streamed.text.split("\n\n") if p.startswith("data: ")]
        assert streamed.status_code == 200 and events[-1] == "[DONE]"
        assert json.loads(events[-2])["choices"][0]["finish_reason"] in ("length", "stop")
        too_long = client.post("/v1/completions", json={**body, "prompt": "word " * 300})
        assert too_long.status_code == 400
        assert "128-token context" in too_long.json()["error"]["message"]


@pytest.mark.parametrize("name", BACKENDS)
def test_the_python_api_caps_alone_and_in_a_batch(name, decoder_dir):
    skip_missing(name)
    config = GenerateConfig(max_new_tokens=HUGE)
    alone = generate("the cat sat on", decoder_dir, config, backend=name)
    assert alone.prompt_tokens + alone.new_tokens <= 128
    if alone.finish_reason == "length":
        assert alone.prompt_tokens + alone.new_tokens == 128 and "128" in alone.note
    requests = [BatchRequest("the cat sat on", config), BatchRequest("a", config)]
    for result in generate_batch(requests, decoder_dir, backend=name):
        assert result.finish_reason in ("length", "stop")
        assert result.prompt_tokens + result.new_tokens <= 128
