"""bench/train.py: the train scenario measures every arm through the recipe, ratio to reference."""

from plmkit.bench import SCENARIOS
from plmkit.bench.train import measure_training


def test_measure_training_on_a_tiny_model(tiny_bert_dir, sentiment_csv):
    arms = ("reference", "default fp32")
    measured = measure_training(
        str(tiny_bert_dir), str(sentiment_csv), steps={"reference": 2, "default fp32": 4},
        warmup=1, arms=arms,
    )  # fmt: skip
    reference, fast = measured["arms"]["reference"], measured["arms"]["default fp32"]
    assert reference["batch_size"] == 8 and reference["max_length"] == 128
    assert reference["timed_steps"] == 2 and fast["timed_steps"] == 4
    assert reference["ratio"] == 1.0
    assert fast["batch_size"] == 32 and fast["max_length"] < 32 and fast["dtype"].startswith("fp32")
    assert fast["ratio"] > 0 and fast["samples_per_second"] > 0


def test_train_scenario_is_registered():
    assert SCENARIOS["train"] == "plmkit.bench.train:scenario"
