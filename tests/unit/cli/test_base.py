"""What every command shares: -h, --version, help in the workflow's order, conventional
help text, flag names in error messages, compact JSON, and a cheap import."""

from typer.testing import CliRunner

from plmkit.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_cli_and_generate_pipeline_import_without_torch():
    """Cold start: llama.cpp / CTranslate2 commands must not pay for importing torch."""
    import subprocess
    import sys

    code = (
        "import sys, plmkit.cli, plmkit.pipelines.generate, plmkit.pipelines.encode, "
        "plmkit.loading, plmkit.backends, plmkit.backends.onnx_backend; "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_short_help_and_version():
    assert run("-h").exit_code == 0 and "Usage" in run("-h").output
    version = run("--version")
    assert version.exit_code == 0 and version.output.startswith("plmkit ")


def test_help_lists_commands_in_workflow_order():
    text = run("--help").output
    order = ["demo", "tokenize", "encode", "generate", "finetune", "predict", "pretrain", "serve"]
    positions = [text.index(f"│ {name} ") for name in order + ["bench"]]
    assert positions == sorted(positions)


def test_help_has_no_bool_placeholder_or_braces():
    text = run("pretrain", "--help").output + run("generate", "--help").output
    assert "<bool>" not in text and "{" not in text
    assert "OBJECTIVE" in text and "PROMPT" in text


def test_errors_name_the_flags_the_user_typed(tiny_gpt2_dir):
    result = run("generate", "hi", "--model", str(tiny_gpt2_dir), "--max-new-tokens", "0")
    assert result.exit_code == 2
    assert "--max-new-tokens must be > 0" in result.output and "max_new_tokens" not in result.output
    sampled = run(
        "generate", "hi", "-m", str(tiny_gpt2_dir), "--strategy", "sample", "--temperature", "0"
    )
    assert "--temperature must be > 0" in sampled.output and "1 or more" not in sampled.output


def test_a_full_disk_is_one_line_with_the_fix_and_exit_1(tiny_bert_dir, tmp_path, monkeypatch):
    import errno

    import numpy as np

    out = tmp_path / "e.npy"

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(np, "save", full)
    result = run("encode", "the cat", "--model", str(tiny_bert_dir), "--out", str(out))
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error[PLM010]: the disk is full")
    assert f"while writing {out}" in lines[0] and "PLMKIT_CACHE" in lines[0]
    assert "Traceback" not in result.output


def test_other_failures_are_not_called_a_full_disk(tiny_bert_dir, tmp_path, monkeypatch):
    import numpy as np

    def broken(path, *args, **kwargs):
        raise RuntimeError("something else")

    monkeypatch.setattr(np, "save", broken)
    result = run(
        "encode", "the cat", "--model", str(tiny_bert_dir), "--out", str(tmp_path / "e.npy")
    )
    assert isinstance(result.exception, RuntimeError) and "PLM010" not in result.output
