"""bench/train.py: the train scenario measures every arm through the recipe, ratio to reference."""

from plmkit.bench import SCENARIOS, BenchOptions
from plmkit.bench.train import ARMS, measure_training, scenario


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


def test_scenario_rows_from_the_measured_arms(monkeypatch):
    calls = []

    def measured(model, **kwargs):
        calls.append((model, kwargs))
        arm = {"batch_size": 8.0, "max_length": 512, "dtype": "fp32 (no native bf16)"}
        return {
            "arms": {
                "reference": {**arm, "samples_per_second": 2.0, "ratio": 1.0, "mean_ratio": 1.0},
                "default": {**arm, "batch_size": 32.0, "max_length": 40,
                            "samples_per_second": 50.0, "ratio": 25.0, "mean_ratio": 24.5},
            }
        }  # fmt: skip

    monkeypatch.setattr("plmkit.bench.train.measure_training", measured)
    rows = scenario(BenchOptions(quick=True, encoder="tiny"))
    assert calls == [
        ("tiny", {"steps": {"reference": 1, "default": 1}, "warmup": 1,
                  "arms": ("reference", "default")})
    ]  # fmt: skip
    reference, default = (row.to_dict() for row in rows)
    assert reference["name"] == "reference (fine-tune tiny, batch 8, max_length 512)"
    assert reference["baseline"] and reference["ratio"] is None
    assert reference["unit"] == "samples/s" and reference["throughput"] == 2.0
    assert default["name"] == "default (fine-tune tiny, batch 32, max_length 40)"
    assert not default["baseline"] and default["ratio"] == 25.0
    assert default["note"] == "fp32 (no native bf16); mean-based ratio 24.5"
    monkeypatch.setattr("plmkit.training.decide_bf16", lambda requested: (False, "fp32"))
    rows = scenario(BenchOptions(encoder="tiny"))  # a full run: default steps
    assert calls[-1] == ("tiny", {"arms": ("reference", "default",
                                           "default + frozen word embeddings")})  # fmt: skip
    assert rows[1].note.endswith("; also the default fp32 arm here")
    monkeypatch.setattr("plmkit.training.decide_bf16", lambda requested: (True, "bf16"))
    scenario(BenchOptions(encoder="tiny"))  # bf16 by default: fp32 is an arm of its own
    assert calls[-1] == ("tiny", {"arms": tuple(ARMS)})
    assert SCENARIOS["train"] == "plmkit.bench.train:scenario"
