"""plm paradigms: bad input is one line and exit 2; the table lays out rows and the curve."""

from typer.testing import CliRunner

from plmkit.cli import app
from plmkit.cli.paradigms import table

runner = CliRunner()


def test_bad_template_exits_2_with_one_line(sentiment_csv, tmp_path):
    result = runner.invoke(
        app,
        ["paradigms", "--data", str(sentiment_csv), "--out", str(tmp_path / "p"),
         "--prompt-template", "Is it good? {text}"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "{labels}" in result.output and "Traceback" not in result.output


def test_table_shows_every_row_and_the_spread():
    row = dict(paradigm="SetFit (8/class)", model="minilm", train_examples=16, accuracy=0.7,
               accuracy_std=0.03, macro_f1=0.69, macro_f1_std=0.02, train_seconds=12.0,
               examples_per_second=300.0, parameters=22_700_000)  # fmt: skip
    point = dict(row, paradigm="SetFit", size="8/class", seeds=3)
    lines = table(
        {"rows": [row, dict(row, paradigm="fine-tuned", accuracy_std=0)], "curve": [point]}
    )
    assert "0.7000 ±0.030" in lines[1] and "22.7M" in lines[1]
    assert "fine-tuned" in lines[2] and "±" not in lines[2].split("minilm")[1].split()[1]
    assert "8/class" in lines[-1] and "3 seeds" in lines[-1]
