"""`run_paradigms` with tiny models: every row and curve point measured, bad input refused."""

from __future__ import annotations

import json

import pytest

from plmkit.data import load_dataset_splits
from plmkit.errors import PlmError
from plmkit.recipes.paradigms import ParadigmsConfig, run_paradigms
from plmkit.recipes.paradigms.encoder_rows import contrastive_pairs
from plmkit.recipes.paradigms.settings import per_class_rows, shot_examples, subset_rows

ROWS = {
    "zero-shot decoder",
    "few-shot decoder (k=4)",
    "embedding similarity, zero-shot",
    "frozen encoder + logistic regression",
    "few-shot encoder, SetFit (4/class)",
    "fine-tuned encoder",
    "encoder from scratch (random weights)",
}


def _config(tmp_path, sentiment_csv, tiny_bert_dir, tiny_llama_dir, **extra):
    settings = dict(
        data=str(sentiment_csv),
        encoder=str(tiny_bert_dir),
        decoder=str(tiny_llama_dir),
        out=str(tmp_path / "paradigms"),
        shots=4,
        setfit_shots=4,
        seeds=2,
        decoder_test_size=0,
        curve_min_steps=2,
        setfit_steps=2,
        sizes=["4/class", "100%"],
    )
    return ParadigmsConfig(**{**settings, **extra})


def test_every_row_and_the_curve(tmp_path, sentiment_csv, tiny_bert_dir, tiny_llama_dir):
    config = _config(tmp_path, sentiment_csv, tiny_bert_dir, tiny_llama_dir)
    events = []
    result = run_paradigms(config, on_event=events.append)
    record = json.loads(result.path.read_text())
    assert record["stage"] == "done" and events
    rows = {row["paradigm"]: row for row in record["rows"]}
    assert set(rows) == ROWS
    n_test = record["data"]["sizes"]["test"]
    for row in rows.values():
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["macro_f1"] <= 1.0
        assert row["examples_per_second"] > 0 and row["parameters"] > 0
        assert row["n_test"] == n_test
    assert rows["fine-tuned encoder"]["train_seconds"] > 0
    few = rows["few-shot decoder (k=4)"]["prompt"]
    zero = rows["zero-shot decoder"]["prompt"]
    assert few["shots"] == 4 and few["shared_prompt_tokens"] > zero["shared_prompt_tokens"]
    assert rows["few-shot encoder, SetFit (4/class)"]["seeds"] == 2
    points = {(p["paradigm"], p["size"]): p for p in record["curve"]}
    assert set(points) == {
        (m, s) for m in ("linear head", "fine-tuned", "SetFit") for s in config.sizes
    }
    assert points[("fine-tuned", "4/class")]["seeds"] == 2  # several seeds at small sizes
    assert points[("fine-tuned", "100%")]["seeds"] == 1
    assert points[("fine-tuned", "4/class")]["train_examples"] == 8
    # the 100% point is the fine-tuned row itself
    assert points[("fine-tuned", "100%")]["accuracy"] == rows["fine-tuned encoder"]["accuracy"]
    assert result.plot.exists() and result.plot.read_bytes()[:4] == b"\x89PNG"
    html = (result.path.parent / "report.html").read_text()
    assert "Paradigms side by side" in html and "data:image/png;base64," in html
    assert f'data-key="rows.0.accuracy" data-value="{record["rows"][0]["accuracy"]}"' in html


def test_subsets_come_from_finetunes_training_split(sentiment_csv):
    train = load_dataset_splits(str(sentiment_csv), seed=42)["train"]
    rows = per_class_rows(train, 5, seed=1)
    assert sorted(train.labels[r] for r in rows) == [0] * 5 + [1] * 5
    assert rows != per_class_rows(train, 5, seed=2)
    half = subset_rows(train, "50%", seed=1)
    assert len(half) == round(len(train) / 2) and len(set(half)) == len(half)
    examples = shot_examples(train, 4, seed=1)
    assert sorted(label for _, label in examples) == ["negative"] * 2 + ["positive"] * 2
    pairs = contrastive_pairs(list(train.labels), 20, seed=0)
    assert len(pairs) == 20 and {same for *_, same in pairs} == {0.0, 1.0}
    assert all((train.labels[a] == train.labels[b]) == bool(s) for a, b, s in pairs)


def test_bad_input_is_refused_before_any_work(
    tmp_path, sentiment_csv, tiny_bert_dir, tiny_llama_dir
):
    def run(**extra):
        run_paradigms(_config(tmp_path, sentiment_csv, tiny_bert_dir, tiny_llama_dir, **extra))

    with pytest.raises(PlmError, match=r"\{labels\}"):
        run(prompt_template="Is this positive? {text}")
    with pytest.raises(PlmError, match="only"):
        run(shots=10_000)
    with pytest.raises(PlmError, match="per class"):
        run(setfit_shots=1_000)
    with pytest.raises(PlmError, match="curve size"):
        run(sizes=["lots"])
    with pytest.raises(PlmError, match=r"\{label\}"):
        run(label_sentence="a sentence")
    one_class = tmp_path / "one.csv"
    one_class.write_text("text,label\n" + "".join(f"good movie {i},positive\n" for i in range(40)))
    with pytest.raises(PlmError, match="2 classes|single class"):
        run(data=str(one_class))
    assert not (tmp_path / "paradigms" / "paradigms.json").exists()
