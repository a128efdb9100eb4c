"""recipes/finetune_classifier.py on a tiny BERT: formats, splits, labels, resume, bad input."""

from __future__ import annotations

import json

import pytest
import torch

from plmkit.config import FinetuneConfig
from plmkit.errors import CheckpointError, DataError, InvalidInputError
from plmkit.recipes.finetune_classifier import finetune as finetune_and_report
from plmkit.training import events


def write_rows(path, labels=("positive", "negative"), positive_share=0.5):
    """sentiment_rows (conftest) in the file format its suffix names."""
    import pandas as pd
    from conftest import sentiment_rows

    rows = sentiment_rows()
    cut = int(len(rows) * positive_share)
    texts = [t for t, y in rows if y == "positive"] + [t for t, y in rows if y == "negative"]
    names = [labels[0]] * (len(rows) // 2) + [labels[1]] * (len(rows) // 2)
    if positive_share != 0.5:  # relabel: the first `cut` rows positive
        names = [labels[0]] * cut + [labels[1]] * (len(rows) - cut)
    frame = pd.DataFrame({"text": texts, "label": names})
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    return path


def finetune(config: FinetuneConfig, on_event=None):
    """The recipe without its report.html (tests/unit/report tests that; it costs seconds)."""
    return finetune_and_report(config, on_event, report=False)


def _config(model, data, out, **kw) -> FinetuneConfig:
    base = dict(batch_size=16, learning_rate=5e-3, bf16=False, early_stopping_patience=0)
    return FinetuneConfig(model=str(model), data=str(data), out=str(out), **(base | kw))


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_every_format_trains(tiny_bert_dir, tmp_path, suffix):
    data = write_rows(tmp_path / f"data{suffix}")
    result = finetune(_config(tiny_bert_dir, data, tmp_path / "out", max_steps=2))
    assert result.record["data"]["sizes"] == {"train": 76, "validation": 10, "test": 10}
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_events_tell_the_run_in_order(tiny_bert_dir, sentiment_csv, tmp_path):
    sent = []
    result = finetune_and_report(
        _config(tiny_bert_dir, sentiment_csv, tmp_path / "out", max_steps=2), on_event=sent.append
    )
    kinds = [type(e) for e in sent if not isinstance(e, events.TrainStep)]
    assert kinds[:3] == [events.DataSplits, events.Setup, events.TrainStart]
    assert kinds[-4:] == [
        events.TrainEnd,
        events.FinalMetrics,
        events.ModelSaved,
        events.ReportWritten,
    ]
    steps = [e for e in sent if isinstance(e, events.TrainStep)]
    assert [e.step for e in steps] == [1, 2] and steps[-1].eta_seconds == 0
    assert sent[-1].path == str(tmp_path / "out" / "report.html") and sent[-1].error is None
    sent = sent[:-1]
    data, setup = sent[0], sent[1]
    assert data.sizes == result.record["data"]["sizes"] and data.labels == ["negative", "positive"]
    assert setup.max_length == result.record["max_length"] and setup.recipe == "default"
    assert setup.padding == result.record["padding"]
    final = sent[-2].metrics
    assert final["test"]["accuracy"] == result.metrics["test"]["accuracy"]
    assert sent[-1].out == str(tmp_path / "out")


def test_output_dir_has_model_labels_and_provenance(tiny_classifier_dir):
    config = json.loads((tiny_classifier_dir / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["label2id"] == {"negative": 0, "positive": 1}
    record = json.loads((tiny_classifier_dir / "plmkit.json").read_text())
    for key in ("versions", "seed", "model", "data_hash", "metrics", "padding", "hardware"):
        assert key in record, key
    assert record["versions"]["torch"] and record["model"]["revision"] is None  # a local dir
    assert record["metrics"]["validation"]["accuracy"] > 0.9
    assert record["padding"]["waste_avoided"] > 0.5
    assert record["training"]["samples_per_second"] > 0
    assert not (tiny_classifier_dir / "checkpoints").exists()  # removed after success


def test_output_dir_keeps_labelled_held_out_rows_for_auto(tiny_classifier_dir):
    from plmkit.backends.calibration import labelled_rows

    texts, labels = labelled_rows(tiny_classifier_dir)
    record = json.loads((tiny_classifier_dir / "plmkit.json").read_text())
    assert len(texts) == len(labels) == min(512, record["data"]["sizes"]["validation"])
    assert set(labels) <= {0, 1}


def test_splits_are_deterministic(tiny_bert_dir, tmp_path):
    from plmkit.data import load_dataset_splits

    data = write_rows(tmp_path / "d.csv")
    result = finetune(_config(tiny_bert_dir, data, tmp_path / "a", max_steps=1, seed=1))
    again = {k: v.data_hash() for k, v in load_dataset_splits(str(data), seed=1).items()}
    other = {k: v.data_hash() for k, v in load_dataset_splits(str(data), seed=2).items()}
    assert result.record["data"]["hashes"] == again
    assert again["test"] != other["test"]


def test_integer_labels_map_to_names(tiny_bert_dir, tmp_path):
    data = write_rows(tmp_path / "ints.csv", labels=(0, 1))
    result = finetune(_config(tiny_bert_dir, data, tmp_path / "out", max_steps=1))
    assert result.record["labels"] == ["0", "1"]


def test_resume_equals_uninterrupted(tiny_bert_dir, tmp_path):
    data = write_rows(tmp_path / "d.csv")
    straight = finetune(_config(tiny_bert_dir, data, tmp_path / "a", epochs=2, batch_size=32))

    def crash_after_first_checkpoint(event):
        if isinstance(event, events.CheckpointSaved):
            raise KeyboardInterrupt("killed after the epoch-1 checkpoint")

    with pytest.raises(KeyboardInterrupt):
        finetune(
            _config(tiny_bert_dir, data, tmp_path / "b", epochs=2, batch_size=32),
            on_event=crash_after_first_checkpoint,
        )
    assert (tmp_path / "b" / "checkpoints" / "checkpoint-3").is_dir()
    resumed = finetune(
        _config(tiny_bert_dir, data, tmp_path / "b", epochs=2, batch_size=32, resume=True)
    )
    assert resumed.record["training"]["resumed_from"].endswith("checkpoint-3")
    from safetensors.torch import load_file

    a = load_file(straight.out / "model.safetensors")
    b = load_file(resumed.out / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name
    assert straight.metrics["test"] == resumed.metrics["test"]


def test_resume_without_checkpoint(tiny_bert_dir, tmp_path):
    data = write_rows(tmp_path / "d.csv")
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        finetune(_config(tiny_bert_dir, data, tmp_path / "out", resume=True))


def test_reference_recipe_pads_to_the_model_limit(tiny_bert_dir, tmp_path):
    data = write_rows(tmp_path / "d.csv")
    result = finetune(
        _config(
            tiny_bert_dir,
            data,
            tmp_path / "out",
            recipe="reference",
            batch_size=None,
            learning_rate=None,
            max_steps=1,
        )
    )
    assert result.record["max_length"] == 128  # the tiny model's 128 positions, not 512
    assert result.record["settings"]["batch_size"] == 8
    assert result.record["padding"]["waste_avoided"] == 0.0
    assert result.record["dtype"] == "fp32"


def test_class_weights_auto_on_imbalanced_data(tiny_bert_dir, tmp_path):
    data = write_rows(tmp_path / "d.csv", positive_share=0.8)
    result = finetune(
        _config(tiny_bert_dir, data, tmp_path / "out", class_weights="auto", max_steps=2)
    )
    assert result.record["config"]["class_weights"] == "auto"


@pytest.mark.parametrize(
    ("rows", "kw", "error", "match"),
    [
        ("text,label\n" + "good film,positive\n" * 20, {}, DataError, "2 classes"),
        ("text,label\ngood,positive\n,negative\nbad,negative\n", {}, DataError, "empty"),
        ("words,label\ngood,positive\nbad,negative\n", {}, DataError, "no column 'text'"),
        ("text,label\ngood,positive\n", {"recipe": "fastest"}, InvalidInputError, "recipe"),
        ("text,label\ngood,positive\n", {"class_weights": "x"}, InvalidInputError, "weights"),
        ("text,label\ngood,positive\n", {"epochs": 0}, InvalidInputError, "epochs"),
    ],
)
def test_bad_input_is_a_clear_error(tiny_bert_dir, tmp_path, rows, kw, error, match):
    data = tmp_path / "bad.csv"
    data.write_text(rows)
    with pytest.raises(error, match=match):
        finetune(_config(tiny_bert_dir, data, tmp_path / "out", **kw))


def test_missing_data_file(tiny_bert_dir, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        finetune(_config(tiny_bert_dir, tmp_path / "none.csv", tmp_path / "out"))


def test_a_decoder_fine_tunes_as_a_classifier(tiny_llama_dir, sentiment_csv, tmp_path):
    """The accurate recipe's path: a Llama with a score head on its last real token."""
    from plmkit.pipelines.classify import classify

    result = finetune(_config(tiny_llama_dir, sentiment_csv, tmp_path / "out", max_steps=2))
    config = json.loads((result.out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"]
    assert config["pad_token_id"] is not None
    predictions = classify(["great fun the movie .", "dull mess ."], str(result.out))
    assert [p.text for p in predictions] == ["great fun the movie .", "dull mess ."]
