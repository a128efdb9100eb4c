"""The inference commands (tokenize, mask-demo, encode, fill-mask, generate) through typer's
CliRunner: output, --json, and exit code 2 on bad input."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from plmkit.cli import app

runner = CliRunner()


def run(*args: str, stdin: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=stdin)


@pytest.fixture(autouse=True)
def one_decode_a_command(monkeypatch):
    """`plm generate` tells llama.cpp it decodes once (a process-wide note): undone after each
    test, which shares its process with the others."""
    from plmkit.backends import llama_cpp_backend

    monkeypatch.setattr(llama_cpp_backend, "_one_shot_tokens", None)


@pytest.mark.parametrize(
    ("flags", "tokens"),
    [((), 64), (("--max-new-tokens", "5"), 5), (("--max-length", "300"), 300)],
)
def test_generate_tells_llama_cpp_how_long_its_one_decode_is(tiny_gpt2_dir, flags, tokens):
    """So a short one maps the weights file and starts sooner (llama_cpp_backend.map_weights)."""
    from plmkit.backends import llama_cpp_backend

    result = run("generate", "the cat", "--model", str(tiny_gpt2_dir), *flags)
    assert result.exit_code == 0, result.output
    assert llama_cpp_backend._one_shot_tokens == tokens


def test_tokenize(tiny_bert_dir):
    result = run("tokenize", "The cat sat on the mat.", "--model", str(tiny_bert_dir))
    assert result.exit_code == 0, result.output
    assert "'[CLS]', 'the', 'cat', 'sat', 'on', 'the', 'mat', '.', '[SEP]'" in result.output


def test_encode_prints_shape_and_writes_npy(tiny_bert_dir, tmp_path):
    shown = run("encode", "The cat sat on the mat.", "--model", str(tiny_bert_dir))
    assert shown.exit_code == 0, shown.output
    assert "last_hidden_state shape: [1, 9, 32]" in shown.output
    out = tmp_path / "e.npy"
    result = run("encode", "the cat", "the dog", "--model", tiny_bert_dir, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote [2, 32] mean-pooled embeddings to {out}\n"  # no vectors
    assert np.load(out).shape == (2, 32)


def test_encode_reads_stdin_and_writes_stdout(tiny_bert_dir):
    result = run(
        "encode", "--file", "-", "--model", tiny_bert_dir, "--out", "-",
        stdin="the cat\n\nthe dog sat\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["the cat", "the dog sat"]
    assert all(len(r["embedding"]) == 32 for r in rows)
    shown = run("encode", "--file", "-", "--model", tiny_bert_dir, stdin="the cat\n")
    assert "text: 'the cat'" in shown.stdout
    bad = run("encode", "--file", "-", "--model", tiny_bert_dir, "--out", "e.txt", stdin="hi\n")
    assert bad.exit_code == 2 and "cannot write embeddings to 'e.txt'" in bad.output


def test_encode_from_file_json(tiny_bert_dir, tmp_path):
    texts = tmp_path / "in.txt"
    texts.write_text("the cat\n\nthe dog sat\n")
    result = run(
        "encode", "--file", str(texts), "--model", str(tiny_bert_dir), "--json", "--pooling", "cls"
    )
    data = json.loads(result.output)
    assert data["pooling"] == "cls" and data["dimensions"] == 32
    assert [item["text"] for item in data["items"]] == ["the cat", "the dog sat"]
    assert [item["shape"] for item in data["items"]] == [[1, 4, 32], [1, 5, 32]]
    assert all(len(item["embedding"]) == 32 for item in data["items"])
    # a vector is one line, not one float a line
    assert len(result.output.splitlines()) < 30


def test_fill_mask(tiny_bert_mlm_dir):
    result = run(
        "fill-mask",
        "the cat sat on the [MASK] .",
        "--model",
        str(tiny_bert_mlm_dir),
        "--top-k",
        "2",
    )
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 2


def test_generate_streams_and_reports(tiny_gpt2_dir):
    result = run("generate", "the cat", "--model", str(tiny_gpt2_dir), "--max-new-tokens", "5")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("the cat") and "tok/s" in result.output


def test_generate_json(tiny_llama_dir):
    result = run(
        "generate",
        "hi",
        "--model",
        str(tiny_llama_dir),
        "--chat",
        "--max-new-tokens",
        "3",
        "--json",
    )
    data = json.loads(result.output)
    assert data["new_tokens"] <= 3 and data["finish_reason"] in {"stop", "length"}


def test_mask_demo(tiny_bert_dir):
    result = run("mask-demo", "the cat sat on the mat", "--model", str(tiny_bert_dir), "--json")
    data = json.loads(result.output)
    assert sum(t["action"] != "-" for t in data["tokens"]) >= 1
    assert data["tokens"][0]["action"] == "-"  # [CLS] is never picked
    assert 0.1 < data["measured"]["picked_fraction"] < 0.2


@pytest.mark.parametrize(
    "args, message",
    [
        (["encode", ""], "empty text"),
        (["encode", "--file", "/no/such/file.txt"], "does not exist"),
        (["encode", "hi", "--model", "./no/such/model"], "does not exist"),
        (["generate", "hi", "--model", "TINY_BERT"], "needs a decoder"),
        (["encode", "hi", "--model", "TINY_GPT2"], "needs an encoder"),
        (["fill-mask", "a [MASK]", "--model", "TINY_BERT"], "no trained MLM head"),
        (["generate", "hi", "--model", "TINY_GPT2", "--max-new-tokens", "0"], "--max-new-tokens"),
        (["generate", "hi", "--model", "TINY_GPT2", "--max-length", "-3"], "--max-length"),
        (["generate", "", "--model", "TINY_GPT2"], "empty prompt"),
        (["generate", "hi", "--model", "gpt2"], "not in the local Hugging Face cache"),
        (["tokenize", "hi", "--model", "minilmm"], "unknown model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args, message, tiny_bert_dir, tiny_gpt2_dir, monkeypatch, tmp_path
):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    names = {"TINY_BERT": str(tiny_bert_dir), "TINY_GPT2": str(tiny_gpt2_dir)}
    result = run(*[names.get(a, a) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error[")]
    assert len(lines) == 1 and "Traceback" not in result.output


@pytest.fixture
def nothing_measured(monkeypatch, tmp_path):
    """Fails the test if `auto` measures a backend; a fresh cache, so none is cached."""

    def never(*args, **kwargs):
        raise AssertionError("measured before the input was checked")

    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "cache"))
    for name in ("select.choose_encoder", "select.choose_decoder"):
        monkeypatch.setattr(f"plmkit.backends.{name}", never)
    yield
    assert not (tmp_path / "cache" / "backends.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["encode", "hi", "--model", "TINY_GPT2"], "needs an encoder"),
        (["encode", "hi", "--model", "smollm2"], "needs an encoder"),
        (["encode", "--file", "MISSING", "--model", "TINY_BERT"], "does not exist"),
        (["encode", "hi", "--model", "TINY_BERT", "--out", "e.csv"], "cannot write embeddings"),
        (["generate", "hi", "--model", "TINY_BERT"], "needs a decoder"),
        (["generate", "hi", "--model", "minilm"], "needs a decoder"),
        (["fill-mask", "a [MASK]", "--model", "TINY_GPT2"], "needs an encoder"),
        (["fill-mask", "a [MASK]", "--model", "TINY_BERT"], "no trained MLM head"),
    ],
)
def test_bad_input_fails_before_measuring(
    args, message, nothing_measured, tiny_bert_dir, tiny_gpt2_dir, tmp_path
):
    names = {"TINY_BERT": tiny_bert_dir, "TINY_GPT2": tiny_gpt2_dir, "MISSING": tmp_path / "x.txt"}
    result = run(*[names.get(a, a) for a in args])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error[PLM") and message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_generate_stats_line_counts_one_token_in_the_singular(tiny_gpt2_dir):
    result = run("generate", "the cat", "--model", str(tiny_gpt2_dir), "--max-new-tokens", "1")
    assert result.exit_code == 0, result.output
    assert "[1 token in " in result.output and "[1 tokens" not in result.output
