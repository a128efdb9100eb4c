"""plm finetune / evaluate / predict through typer's CliRunner, and exit code 2 on bad input."""

import csv
import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from plmkit.cli import app

runner = CliRunner()


def run(*args: str, stdin: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=stdin)


def test_finetune_then_evaluate_json(tiny_bert_dir, sentiment_csv, tmp_path):
    out = tmp_path / "run"
    result = run(
        "finetune", "--model", tiny_bert_dir, "--data", sentiment_csv, "--out", out,
        "--max-steps", "3", "--batch-size", "16", "--fp32", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["training"]["steps"] == 3 and "log_history" not in record["training"]
    evaluated = run("evaluate", out, "--data", sentiment_csv, "--split", "test", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.output)
    assert {"accuracy", "macro_f1", "n", "per_class", "confusion_matrix"} <= set(report)
    assert report["n"] == record["data"]["sizes"]["test"]


def test_finetune_prints_progress_and_padding(tiny_bert_dir, sentiment_csv, tmp_path):
    result = run(
        "finetune", "--model", tiny_bert_dir, "--data", sentiment_csv, "--out", tmp_path / "r",
        "--max-steps", "2", "--fp32",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "waste avoided" in result.output and "validation accuracy" in result.output


def test_evaluate_prints_table(tiny_classifier_dir, sentiment_csv):
    result = run("evaluate", tiny_classifier_dir, "--data", sentiment_csv)
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.output and "confusion matrix" in result.output


def test_predict_texts_in_order(tiny_classifier_dir):
    result = run(
        "predict", tiny_classifier_dir, "gorgeous moving the film .", "dull tedious the plot .",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [p["label"] for p in json.loads(result.output)] == ["positive", "negative"]


def test_predict_and_evaluate_take_a_backend(tiny_classifier_dir, sentiment_csv):
    texts = ["gorgeous moving the film .", "dull tedious the plot ."]
    probabilities = {}
    for name in ("torch-fp32", "torch-bf16", "torch-int8"):
        result = run("predict", tiny_classifier_dir, *texts, "--backend", name, "--json")
        assert result.exit_code == 0, result.output
        predictions = json.loads(result.output)
        assert [p["text"] for p in predictions] == texts
        probabilities[name] = [p["probabilities"]["positive"] for p in predictions]
    for name in ("torch-bf16", "torch-int8"):  # stated tolerance: 0.1 in probability
        assert (
            max(
                abs(a - b)
                for a, b in zip(probabilities[name], probabilities["torch-fp32"], strict=True)
            )
            < 0.1
        )
    reports = {}
    for name in ("torch-fp32", "onnx-fp32"):
        result = run("evaluate", tiny_classifier_dir, "--data", sentiment_csv, "--backend", name,
                     "--json")  # fmt: skip
        assert result.exit_code == 0, result.output
        reports[name] = json.loads(result.output)
    assert reports["onnx-fp32"]["accuracy"] == reports["torch-fp32"]["accuracy"]
    bad = run("predict", tiny_classifier_dir, "fine", "--backend", "ct2-int8")
    assert bad.exit_code == 2 and "unknown encoder backend" in bad.output


PREDICTED = ["pred_label", "pred_score", "p_negative", "p_positive"]


def gold_rows() -> list[list[str]]:
    """An id (leading zeros), a gold label (the wrong one for row 2) and texts to quote."""
    return [
        ["id", "label", "text"],
        ["007", "positive", "gorgeous, moving -- the film ."],
        ["8", "positive", 'dull "tedious" the plot é .'],
        ["x-9", "negative", "  great fun the story  "],
    ]


def test_predict_file_round_trips_every_column(tiny_classifier_dir, tmp_path):
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(gold_rows())
    result = run("predict", tiny_classifier_dir, "--file", source, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"wrote 3 predictions to {out}" in result.output
    lines_in = source.read_bytes().splitlines()
    lines_out = out.read_bytes().splitlines()
    assert len(lines_out) == len(lines_in)
    for line_in, line_out in zip(lines_in, lines_out, strict=True):
        assert line_out.startswith(line_in + b","), (line_in, line_out)  # byte for byte
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[0] == [*gold_rows()[0], *PREDICTED]
    assert [r[:3] for r in rows] == [r[:3] for r in gold_rows()]  # gold label not overwritten
    assert [r[3] for r in rows[1:]] == ["positive", "negative", "positive"]


@pytest.mark.parametrize("suffix", [".jsonl", ".tsv", ".parquet"])
def test_predict_file_keeps_columns_in_every_format(tiny_classifier_dir, tmp_path, suffix):
    frame = pd.DataFrame(gold_rows()[1:], columns=gold_rows()[0])
    source, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(source)
    elif suffix == ".tsv":
        frame.to_csv(source, sep="\t", index=False)
    else:
        frame.to_json(source, orient="records", lines=True, force_ascii=False)
    result = run("predict", tiny_classifier_dir, "--file", source, "--out", out)
    assert result.exit_code == 0, result.output
    if suffix == ".parquet":
        written = pd.read_parquet(out)
    elif suffix == ".tsv":
        written = pd.read_csv(out, sep="\t", dtype=str, keep_default_na=False)
    else:
        written = pd.read_json(out, lines=True, dtype=False)
    assert list(written.columns) == [*gold_rows()[0], *PREDICTED]
    assert written[gold_rows()[0]].values.tolist() == frame.values.tolist()


def test_predict_file_without_out_prints_csv(tiny_classifier_dir, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,gorgeous moving the film .\n2,dull tedious the plot .\n")
    result = run("predict", tiny_classifier_dir, "--file", source)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ",".join(["id", "text", *PREDICTED])  # no blank line first
    assert [line.split(",")[:3] for line in lines[1:]] == [
        ["1", "gorgeous moving the film .", "positive"],
        ["2", "dull tedious the plot .", "negative"],
    ]
    same = run("predict", tiny_classifier_dir, "--file", source, "--out", "-")
    assert same.stdout == result.stdout


def test_predict_reads_stdin_and_writes_stdout(tiny_classifier_dir):
    result = run(
        "predict", tiny_classifier_dir, "--file", "-",
        stdin="gorgeous moving the film .\n\ndull tedious the plot .\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["text", *PREDICTED]
    assert [r[:2] for r in rows[1:]] == [
        ["gorgeous moving the film .", "positive"], ["dull tedious the plot .", "negative"]
    ]  # fmt: skip
    texts = run("predict", tiny_classifier_dir, "gorgeous moving the film .", "--out", "-")
    assert texts.stdout.splitlines()[0] == ",".join(["text", *PREDICTED])
    both = run("predict", tiny_classifier_dir, "good", "--out", "-", "--json")
    assert both.exit_code == 2 and "both print to stdout" in both.output


def test_evaluate_starts_with_its_report(tiny_classifier_dir, sentiment_csv):
    result = run("evaluate", tiny_classifier_dir, "--data", sentiment_csv)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{sentiment_csv} (all), model {tiny_classifier_dir}")


def test_bad_input_exits_2(tiny_bert_dir, tiny_classifier_dir, sentiment_csv, tmp_path):
    single = tmp_path / "one.csv"
    single.write_text("text,label\n" + "good film,positive\n" * 12)
    cases = [
        ("finetune", "--model", tiny_bert_dir, "--data", single, "--out", tmp_path / "x"),
        ("finetune", "--model", tiny_bert_dir, "--data", tmp_path / "none.csv"),
        ("finetune", "--model", tiny_bert_dir, "--recipe", "nope"),
        ("evaluate", tiny_classifier_dir, "--data", single, "--label-column", "nope"),
        ("predict", tiny_bert_dir, "good"),
        ("predict", tiny_classifier_dir, "--file", single, "--out", tmp_path / "p.xlsx"),
        ("predict", tiny_classifier_dir, ""),
    ]
    for args in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("error[PLM"), (args, result.output)
    offline = run("finetune", "--model", "distilbert-base-uncased", "--data", sentiment_csv)
    assert "PLM002" in offline.output and "--model minilm" in offline.output  # not cached


@pytest.fixture
def nothing_loaded(monkeypatch, tmp_path):
    """Fails the test if a backend is measured or a model's weights load; a fresh cache, so
    no `auto` choice is cached."""

    def never(*args, **kwargs):
        raise AssertionError("measured or loaded before the input was checked")

    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "cache"))
    for name in ("select.choose_encoder", "select.choose_decoder", "build_encoder"):
        monkeypatch.setattr(f"plmkit.backends.{name}", never)
    monkeypatch.setattr("plmkit.loading.load_classifier", never)
    yield
    assert not (tmp_path / "cache" / "backends.json").exists()


def test_bad_input_fails_before_measuring(
    nothing_loaded, tiny_bert_dir, tiny_gpt2_dir, tiny_classifier_dir, sentiment_csv, tmp_path
):
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("review,label\ngood film,positive\n")
    clf = tiny_classifier_dir
    cases = [
        (("predict", tiny_bert_dir, "good"), "is not a fine-tuned classifier (BertModel)"),
        (("predict", tiny_gpt2_dir, "good"), "is not a fine-tuned classifier"),
        (("predict", "minilm", "--file", sentiment_csv), "fix: fine-tune one"),
        (("predict", clf, "--file", tmp_path / "none.csv"), "does not exist"),
        (("predict", clf, "--file", tmp_path), "is a directory"),
        (("predict", clf, "--file", nocol), "has no column 'text'"),
        (("evaluate", tiny_bert_dir, "--data", sentiment_csv), "not a fine-tuned classifier"),
        (("evaluate", clf, "--data", tmp_path / "none.csv"), "does not exist"),
        (("evaluate", clf, "--data", nocol), "has no column 'text'"),
        (("evaluate", clf, "--data", sentiment_csv, "--label-column", "stars"), "'stars'"),
        (("evaluate", clf, "--data", nocol, "--backend", "auto"), "has no column 'text'"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("error[PLM") and message in result.output, args
        assert len(result.output.strip().splitlines()) == 1, (args, result.output)
    hint = run("predict", "minilm", "good")
    assert "then plm predict runs/sentiment" in hint.output  # the model is an argument
    assert "as --model" not in hint.output
