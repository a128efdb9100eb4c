"""Cold start: with caches warm and `auto`'s answer cached, `plm encode` on ONNX and
`plm generate` on llama.cpp run the whole command without importing torch or transformers
(each costs about a second of a start that should take under one) or pydantic (typer 0.29
imports it to build a validator per parameter: 0.3 s of `plm generate` on the Zen 3), and
print what the explicit backend printed.

Each test runs the CLI twice in fresh processes: first with the backend named (exporting
the ONNX graph, saving the tokenizer: torch and transformers may load), then with `auto`,
whose answer this test wrote to the cache as a measurement would have.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from plmkit.backends import registry, select

HEAVY = ("torch", "transformers", "pydantic")
RUN_CLI = (
    "import atexit, sys\n"
    "heavy = set(sys.argv[1].split(','))\n"
    "atexit.register(lambda: print('HEAVY', sorted(heavy & set(sys.modules)), file=sys.stderr))\n"
    "sys.argv = ['plm', *sys.argv[2:]]\n"  # registered first, the check runs last (after cleanup)
    "from plmkit.cli import main\n"
    "main()\n"
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh plmkit cache, shared by the CLI processes (they inherit the environment)."""
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PLMKIT_LLAMA_THREADS", "1")  # no thread measurement in the test
    return tmp_path / "cache"


def plm(*args: str) -> tuple[str, list[str]]:
    """(stdout, the heavy modules the process had imported by its end)."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_CLI, ",".join(HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    marker = [line for line in done.stderr.splitlines() if line.startswith("HEAVY ")][-1]
    return done.stdout, json.loads(marker.removeprefix("HEAVY ").replace("'", '"'))


def cache_auto_answer(model: str, kind: str, task: str, name: str) -> None:
    """What `auto` writes after measuring, so that the next `auto` reads `name` from it."""
    names, _ = select.candidates(kind)  # type: ignore[arg-type]
    assert name in names
    batch = {"batch_name": name} if kind == "decoder" else {}
    select._write_cache(select._key(model, task, names), select.Choice(name, **batch))


def test_encode_on_cached_onnx_imports_neither_torch_nor_transformers(cache, tiny_bert_dir):
    if registry.missing("onnx-fp32"):
        pytest.skip(registry.missing("onnx-fp32"))
    model = str(tiny_bert_dir)
    command = ("encode", "the cat sat on the mat", "a dog", "--model", model, "--json")
    explicit, _ = plm(*command, "--backend", "onnx-fp32")  # exports, saves the tokenizer
    cache_auto_answer(model, "encoder", "embed", "onnx-fp32")
    warm, heavy = plm(*command)
    assert heavy == []
    assert json.loads(warm) == json.loads(explicit)


def test_generate_on_cached_llama_cpp_imports_neither_torch_nor_transformers(
    cache, tiny_llama_dir, tmp_path
):
    if registry.missing("llama-cpp"):
        pytest.skip(registry.missing("llama-cpp"))
    from gguf_writer import write_llama_gguf

    model = tmp_path / "tiny-llama-gguf"
    shutil.copytree(tiny_llama_dir, model)
    write_llama_gguf(model, model / "tiny-llama-f32.gguf")
    command = ("generate", "once upon a time", "--model", str(model), "--max-new-tokens", "4")
    explicit, _ = plm(*command, "--json", "--backend", "llama-cpp")  # saves the tokenizer
    cache_auto_answer(str(model), "decoder", "generate", "llama-cpp")
    warm, heavy = plm(*command, "--json")
    assert heavy == []
    keep = ("text", "prompt_tokens", "new_tokens", "finish_reason")
    assert {k: json.loads(warm)[k] for k in keep} == {k: json.loads(explicit)[k] for k in keep}
    streamed, heavy = plm(*command)  # the default: streamed to the terminal
    assert heavy == [] and streamed.startswith("once upon a time")
