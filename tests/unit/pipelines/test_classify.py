"""pipelines/classify.py: predictions in input order, files in and out, streaming evaluation."""

import csv
import json

import numpy as np
import pytest

from plmkit.errors import DataError, InvalidInputError, WrongModelKindError
from plmkit.pipelines.classify import (
    classify,
    classify_file,
    evaluate,
    predict,
    probability_batches,
    stream_confusion,
)


def test_classify_keeps_input_order(tiny_classifier_dir):
    texts = ["great fun the movie was .", "tedious boring dull the plot was . . .", "gorgeous"]
    predictions = classify(texts, str(tiny_classifier_dir), batch_size=2)
    assert [p.text for p in predictions] == texts
    assert [p.label for p in predictions] == ["positive", "negative", "positive"]
    for p in predictions:
        assert abs(sum(p.probabilities.values()) - 1) < 1e-5
        assert p.score == max(p.probabilities.values())


def test_probability_batches_are_length_sorted_and_bounded(tiny_classifier_dir):
    from plmkit import loading

    tokenizer = loading.load_tokenizer(str(tiny_classifier_dir))
    ids = [[2] + [10] * n + [3] for n in (5, 1, 9, 3, 7)]
    seen = []

    def forward(input_ids, attention_mask):
        seen.append(input_ids.shape)
        return np.zeros((input_ids.shape[0], 2), dtype=np.float32)

    batches = list(probability_batches(forward, tokenizer, ids, batch_size=2))
    assert [b for b, _ in batches] == [[2, 4], [0, 3], [1]]  # longest first
    assert seen == [(2, 11), (2, 7), (1, 3)]  # padded to each batch's longest only
    matrix = stream_confusion(forward, tokenizer, ids, [0, 1, 0, 1, 0], 2, batch_size=2)
    assert matrix.counts.tolist() == [[3, 0], [2, 0]]


def test_classify_file_writes_csv_in_order(tiny_classifier_dir, sentiment_csv, tmp_path):
    out = tmp_path / "pred.csv"
    predictions = classify_file(sentiment_csv, str(tiny_classifier_dir), out)
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    with sentiment_csv.open() as handle:
        source = list(csv.DictReader(handle))
    assert [{"text": r["text"], "label": r["label"]} for r in rows] == source  # gold kept
    assert list(rows[0]) == ["text", "label", "pred_label", "pred_score", "p_negative",
                             "p_positive"]  # fmt: skip
    assert [r["pred_label"] for r in rows] == [p.label for p in predictions]
    assert len(predictions) == len(source)
    with pytest.raises(InvalidInputError, match="cannot write"):
        classify_file(sentiment_csv, str(tiny_classifier_dir), tmp_path / "p.xlsx")


def test_evaluate_reports_and_uses_training_split(tiny_classifier_dir, sentiment_csv):
    report = evaluate(str(tiny_classifier_dir), str(sentiment_csv), split="test")
    recorded = json.loads((tiny_classifier_dir / "plmkit.json").read_text())
    assert report["n"] == recorded["data"]["sizes"]["test"]
    assert report["data_hash"] == recorded["data"]["hashes"]["test"]
    assert {"accuracy", "macro_f1", "n", "per_class", "confusion_matrix"} <= set(report)
    whole = evaluate(str(tiny_classifier_dir), str(sentiment_csv))
    assert whole["split"] == "all" and whole["n"] == 96 and whole["accuracy"] > 0.9


def test_evaluate_matches_label_names_and_rejects_unknown(tiny_classifier_dir, tmp_path):
    cased = tmp_path / "cased.jsonl"
    cased.write_text(
        '{"text": "great gorgeous the film story .", "label": "POSITIVE"}\n'
        '{"text": "dull mess the plot acting .", "label": "Negative"}\n'
    )
    assert evaluate(str(tiny_classifier_dir), str(cased))["accuracy"] == 1.0
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("text,label\ngreat film,neutral\nbad film,negative\n")
    with pytest.raises(DataError, match="neutral"):
        evaluate(str(tiny_classifier_dir), str(unknown))


def test_a_model_without_a_head_is_refused_before_loading(
    tiny_bert_dir, tiny_gpt2_dir, monkeypatch
):
    def never(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("plmkit.loading.load_classifier", never)
    monkeypatch.setattr("plmkit.backends.load_encoder_backend", never)
    for model in (tiny_bert_dir, tiny_gpt2_dir):
        with pytest.raises(WrongModelKindError, match="is not a fine-tuned classifier"):
            classify(["good"], str(model))
        with pytest.raises(WrongModelKindError) as error:
            evaluate(str(model), "movie-snippets")
        assert "then plm evaluate runs/sentiment" in error.value.fix  # the model is an argument


def test_evaluate_checks_the_data_before_loading_the_model(
    tiny_classifier_dir, sentiment_csv, monkeypatch
):
    def never(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr("plmkit.loading.load_classifier", never)
    monkeypatch.setattr("plmkit.backends.load_encoder_backend", never)
    model = str(tiny_classifier_dir)
    with pytest.raises(DataError, match="no column 'review'"):
        evaluate(model, str(sentiment_csv), text_column="review")
    with pytest.raises(DataError, match="no column 'stars'"):
        evaluate(model, str(sentiment_csv), label_column="stars", backend="auto")


def test_empty_text_is_refused(tiny_classifier_dir):
    with pytest.raises(InvalidInputError, match="empty"):
        classify(["good", "  "], str(tiny_classifier_dir))


def test_classify_file_refuses_an_empty_row(tiny_classifier_dir, tmp_path):
    data = tmp_path / "in.csv"
    data.write_text('text\ngreat fun\n""\n')
    with pytest.raises(DataError, match="empty text"):
        classify_file(data, str(tiny_classifier_dir), tmp_path / "out.csv")
    lines = tmp_path / "in.txt"
    lines.write_text("great fun\ndull mess\n")
    assert len(classify_file(lines, str(tiny_classifier_dir), tmp_path / "o.jsonl")) == 2


def test_predict_takes_texts_or_a_file(tiny_classifier_dir, sentiment_csv, tmp_path):
    model = str(tiny_classifier_dir)
    texts = ["gorgeous moving the film .", "dull tedious the plot ."]
    out = tmp_path / "texts.jsonl"
    predictions = predict(model, texts, out=out)
    assert predictions == classify(texts, model)
    assert [json.loads(line)["pred_label"] for line in out.read_text().splitlines()] == [
        p.label for p in predictions
    ]
    from_file = predict(model, file=sentiment_csv, out=tmp_path / "file.csv")
    assert from_file == classify_file(sentiment_csv, model, tmp_path / "again.csv")
    assert predict(model, file=sentiment_csv) == from_file  # no out: nothing written
    for kwargs, message in [
        ({"texts": texts, "file": sentiment_csv}, "both texts and --file"),
        ({"out": out}, "--out without --file"),
        ({"texts": texts, "out": tmp_path / "p.xlsx"}, "cannot write predictions"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            predict(model, **kwargs)
