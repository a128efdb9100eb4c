"""Start-here commands: demo, models, doctor."""

import json

from typer.testing import CliRunner

from plmkit.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_doctor_json():
    result = run("doctor", "--json")
    data = json.loads(result.output)
    assert {"packages", "models", "cpu", "defaults"} <= set(data)
    assert "avx2" in data["cpu"]["flags"]


def test_models_lists_aliases():
    result = run("models")
    assert result.exit_code == 0 and "minilm" in result.output and "smollm2" in result.output


def test_demo_runs_every_part_on_tiny_models(tiny_bert_dir, tiny_gpt2_dir, tmp_path, monkeypatch):
    """Part 4 fine-tunes on the real movie-snippets data (2 steps of a tiny model), and says
    how it goes while it trains (it once printed nothing for minutes into a log file)."""
    monkeypatch.setenv("PLMKIT_PROGRESS_SECONDS", "0")  # a line per step, not one per 10 s
    out = tmp_path / "demo-classifier"
    result = run(
        "demo",
        "--encoder",
        str(tiny_bert_dir),
        "--decoder",
        str(tiny_gpt2_dir),
        "--finetune-steps",
        "2",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    for part in ("Part 2", "Part 3", "Part 4", "last_hidden_state: [1, 9, 32]", "accuracy"):
        assert part in result.output
    assert (out / "model.safetensors").exists()
    steps = [line.split()[1] for line in result.output.splitlines() if "steps/s" in line]
    assert steps == ["1/2", "2/2"] and "data: train" in result.output


def test_demo_rejects_negative_steps():
    result = run("demo", "--finetune-steps", "-1")
    assert result.exit_code == 2 and "finetune-steps" in result.output
