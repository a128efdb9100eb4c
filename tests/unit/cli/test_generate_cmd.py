"""`plm generate` at the limits: more new tokens than the context holds (capped, with a note),
a prompt that does not fit (one line, exit 2), and Ctrl-C (the partial result, exit 130),
through CliRunner and, for Ctrl-C, a real process sent SIGINT."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from plmkit.cli import app

runner = CliRunner()
LONG_CONTEXT = 50_000


@pytest.fixture(scope="module")
def long_context_llama_dir(tmp_path_factory, tiny_llama_dir):
    """The tiny Llama with a 50,000-token context (rope: no weights for positions), so that
    `--max-new-tokens 100000` is capped yet runs long enough to be interrupted."""
    from transformers import AutoConfig, AutoModelForCausalLM

    directory = tmp_path_factory.mktemp("long-context-llama")
    shutil.copytree(tiny_llama_dir, directory, dirs_exist_ok=True)
    config = AutoConfig.from_pretrained(tiny_llama_dir)
    config.max_position_embeddings = LONG_CONTEXT
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, config=config)
    model.save_pretrained(directory, safe_serialization=True)
    return directory


def test_more_new_tokens_than_the_context_are_capped(tiny_gpt2_dir):
    args = ["generate", "the cat", "--model", str(tiny_gpt2_dir), "--backend", "torch-fp32"]
    result = runner.invoke(app, [*args, "--max-new-tokens", "100000", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["prompt_tokens"] + data["new_tokens"] == 128
    assert data["finish_reason"] == "length"
    assert "not 100,000" in data["note"] and "holds 128 tokens" in data["note"]


def test_a_prompt_longer_than_the_context_is_one_line(tiny_gpt2_dir):
    prompt = "the cat sat on the mat " * 40
    result = runner.invoke(app, ["generate", prompt, "--model", str(tiny_gpt2_dir)])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "the prompt is" in line and "128-token context" in line, line


def interrupted(directory, *flags: str, wait_on: str) -> tuple[subprocess.CompletedProcess, str]:
    """Run `plm generate` on `directory`, send SIGINT a second after its first line on
    `wait_on` (stdout or stderr), and return the finished process and that first line."""
    command = [sys.executable, "-m", "plmkit.cli", "generate", "the cat", "--model"]
    command += [str(directory), "--backend", "torch-fp32", "--max-new-tokens", "100000", *flags]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
        # Ctrl-C as in a terminal, even when this suite runs as a background job that
        # ignores SIGINT (the child would inherit that, and Python then never raises it)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    watchdog = threading.Timer(180, process.kill)  # a run that never prints must not hang
    watchdog.start()
    try:
        if wait_on == "stderr":
            first = process.stderr.readline()
        else:
            first = process.stdout.read(len("the cat"))  # the streamed prompt: generating
        time.sleep(1)
        process.send_signal(signal.SIGINT)
        # read through the file objects: what readline / read above buffered ahead stays
        # in them, and communicate() reads the raw pipes past it (it lost a few tokens)
        out, err = process.stdout.read(), process.stderr.read()
        process.wait(120)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
    out, err = (first + out, err) if wait_on == "stdout" else (out, first + err)
    return subprocess.CompletedProcess(command, process.returncode, out, err), first


def test_ctrl_c_prints_the_partial_result_as_json(long_context_llama_dir):
    """The cap's note comes on stderr before generating; Ctrl-C then ends the run with the
    JSON of what was generated, finish_reason 'interrupted', exit code 130."""
    done, first = interrupted(long_context_llama_dir, "--json", wait_on="stderr")
    assert f"holds {LONG_CONTEXT:,} tokens" in first, done.stderr
    assert done.returncode == 130, done.stderr
    data = json.loads(done.stdout)
    assert data["finish_reason"] == "interrupted"
    assert 0 < data["new_tokens"] < LONG_CONTEXT - data["prompt_tokens"]
    assert data["text"].startswith(" cat cat")  # the tiny Llama repeats " cat"


def test_ctrl_c_ends_the_line_and_prints_the_stats(long_context_llama_dir):
    done, _ = interrupted(long_context_llama_dir, wait_on="stdout")
    assert done.returncode == 130, done.stderr
    assert done.stdout.startswith("the cat cat cat") and done.stdout.endswith("\n")
    stats = done.stderr.strip().splitlines()[-1]
    assert stats.startswith("[") and stats.endswith("; finish: interrupted]"), done.stderr
    new_tokens = int(stats[1:].split()[0])
    assert done.stdout.count(" cat") >= new_tokens > 0  # all that was generated was shown
