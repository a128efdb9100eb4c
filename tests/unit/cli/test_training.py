"""plm finetune / evaluate / predict through typer's CliRunner, and exit code 2 on bad input."""

import json

from typer.testing import CliRunner

from plmkit.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


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


def test_predict_file_to_csv(tiny_classifier_dir, sentiment_csv, tmp_path):
    out = tmp_path / "p.csv"
    result = run("predict", tiny_classifier_dir, "--file", sentiment_csv, "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines()[0] == "text,label,score,p_negative,p_positive"


def test_bad_input_exits_2(tiny_bert_dir, tiny_classifier_dir, sentiment_csv, tmp_path):
    single = tmp_path / "one.csv"
    single.write_text("text,label\n" + "good film,positive\n" * 12)
    cases = [
        ("finetune", "--model", tiny_bert_dir, "--data", single, "--out", tmp_path / "x"),
        ("finetune", "--model", tiny_bert_dir, "--data", tmp_path / "none.csv"),
        ("finetune", "--model", tiny_bert_dir, "--recipe", "nope"),
        ("evaluate", tiny_classifier_dir, "--data", single, "--label-column", "nope"),
        ("predict", tiny_bert_dir, "good"),
        ("predict", tiny_classifier_dir, "--file", single),
        ("predict", tiny_classifier_dir, ""),
    ]
    for args in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("error[PLM"), (args, result.output)
    offline = run("finetune", "--model", "distilbert-base-uncased", "--data", sentiment_csv)
    assert "PLM002" in offline.output and "--model minilm" in offline.output  # not cached
