"""Training progress off a terminal: `plm finetune` with its stderr going to a log (here
CliRunner's capture, not a tty) prints a line every PLMKIT_PROGRESS_SECONDS with step, loss,
rate and time left, between the logged steps; on a terminal it would draw a bar instead."""

import io

from typer.testing import CliRunner

from plmkit.cli import app
from plmkit.cli.step_progress import StepPrinter, step_line
from plmkit.training.events import TrainStep

runner = CliRunner()


def _step(step: int, loss: float | None = 0.5) -> TrainStep:
    return TrainStep(
        step=step, max_steps=120, epoch=0.1, loss=loss, steps_per_second=0.25,
        eta_seconds=(120 - step) / 0.25, elapsed_seconds=step / 0.25,
    )  # fmt: skip


def test_a_step_line_has_step_loss_rate_and_time_left():
    assert step_line(_step(30)) == (
        "  step 30/120 (25%)  loss 0.5000  0.25 steps/s  6m00s left  (2m00s so far)"
    )
    assert "loss" not in step_line(_step(1, loss=None))


def test_lines_come_at_most_once_per_interval(monkeypatch):
    monkeypatch.setenv("PLMKIT_PROGRESS_SECONDS", "3600")
    out = io.StringIO()
    printer = StepPrinter(stream=out)
    printer.start()
    for step in range(1, 50):
        printer.step(_step(step))
    printer.stop()
    assert out.getvalue() == ""  # the first line is due only after one interval
    monkeypatch.setenv("PLMKIT_PROGRESS_SECONDS", "0")
    printer.start()
    for step in range(1, 4):
        printer.step(_step(step))
    assert out.getvalue().count("\n") == 3


def test_plm_finetune_to_a_log_prints_steps_with_rate_and_eta_and_its_report(
    tiny_bert_dir, sentiment_csv, tmp_path, monkeypatch
):
    monkeypatch.setenv("PLMKIT_PROGRESS_SECONDS", "0")
    result = runner.invoke(
        app,
        [
            "finetune", "--model", str(tiny_bert_dir), "--data", str(sentiment_csv),
            "--out", str(tmp_path / "run"), "--max-steps", "3", "--batch-size", "16", "--fp32",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "steps/s" in line]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all(" left" in line and "so far" in line for line in lines)
    assert f"report: {tmp_path / 'run' / 'report.html'}" in result.output
    assert (tmp_path / "run" / "report.html").is_file()
