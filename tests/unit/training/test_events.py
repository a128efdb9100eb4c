"""training/events.py: one frozen event a kind; `to_dict` gives the flat form logs and JSON use."""

from __future__ import annotations

import dataclasses
import json

import pytest

from plmkit.training import events


def test_to_dict_is_flat_and_named_by_kind():
    assert events.Stage("packing the corpus").to_dict() == {
        "event": "stage",
        "stage": "packing the corpus",
    }
    assert events.DataSplits(sizes={"train": 8, "test": 2}, labels=["a", "b"]).to_dict() == {
        "event": "data",
        "train": 8,
        "test": 2,
        "labels": ["a", "b"],
    }
    assert events.ScoresBefore({"loss": 2.0}).to_dict() == {"event": "before", "loss": 2.0}
    assert events.ScoresAfter({"loss": 1.0}).to_dict() == {"event": "after", "loss": 1.0}
    evaluation = events.Evaluation(step=3, epoch=1.0, metrics={"accuracy": 0.9})
    assert evaluation.to_dict() == {"event": "evaluate", "step": 3, "epoch": 1.0, "accuracy": 0.9}
    final = events.FinalMetrics({"test": {"accuracy": 0.8, "macro_f1": 0.7}})
    assert final.to_dict() == {"event": "metrics", "test": {"accuracy": 0.8, "macro_f1": 0.7}}
    world = events.WorldSetup(record={"world_size": 2, "global_batch_size": 32})
    assert world.to_dict() == {"event": "world", "world_size": 2, "global_batch_size": 32}
    arm = events.CompareArm(model="minilm", index=1, of=2)
    assert arm.to_dict() == {"event": "arm", "model": "minilm", "index": 1, "of": 2}
    assert json.loads(json.dumps(events.ModelSaved(out="runs/x").to_dict())) == {
        "event": "saved",
        "out": "runs/x",
    }


def test_every_kind_has_its_own_name_and_is_frozen():
    kinds = [cls.kind for cls in events.Event.__subclasses__() if "kind" in cls.__dict__]
    kinds += [cls.kind for cls in events.HeldOutScores.__subclasses__()]
    assert len(kinds) == len(set(kinds)) and "world" in kinds  # kinds grow; none twice
    with pytest.raises(dataclasses.FrozenInstanceError):
        events.Stage("x").stage = "y"


def test_ignore_accepts_any_event():
    assert events.ignore(events.Stage("x")) is None
