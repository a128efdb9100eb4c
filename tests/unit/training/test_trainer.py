"""training/trainer.py: atomic checkpoints, a crash mid-save, resume == uninterrupted."""

from __future__ import annotations

import pytest
import torch

from plmkit import training
from plmkit.training.checkpoint_dirs import STAGING_PREFIX


def test_checkpoints_are_complete_and_rotated(make_trainer, tmp_path):
    make_trainer(tmp_path, epochs=3).train()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["checkpoint-12", "checkpoint-18"]  # save_total_limit=2, no temp dirs left
    assert training.last_complete_checkpoint(tmp_path).name == "checkpoint-18"


def test_kill_during_save_leaves_previous_checkpoint_usable(make_trainer, tmp_path, monkeypatch):
    """The weight writer dies half way through the second save: checkpoint-6 stays the last
    complete one, the half-written files are only in a hidden temp dir, and resume uses it."""
    import transformers.modeling_utils as modeling_utils

    trainer = make_trainer(tmp_path, epochs=2)
    real_save = modeling_utils.safe_save_file
    calls = {"n": 0}

    def dying_save(tensors, filename, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            with open(filename, "wb") as handle:
                handle.write(b"\x00" * 100)  # a partial file, then the process "dies"
            raise KeyboardInterrupt("killed mid-save")
        return real_save(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(modeling_utils, "safe_save_file", dying_save)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    monkeypatch.setattr(modeling_utils, "safe_save_file", real_save)

    # a SIGKILL would skip the cleanup that ran here: leave a half-written temp dir behind
    leftover = tmp_path / f"{STAGING_PREFIX}12-x" / "checkpoint-12"
    leftover.mkdir(parents=True)
    (leftover / "model.safetensors").write_bytes(b"\x00" * 100)
    complete = training.checkpoints(tmp_path)
    assert [p.name for p in complete] == ["checkpoint-6"]
    assert not (tmp_path / "checkpoint-12").exists()
    from transformers import BertForSequenceClassification

    BertForSequenceClassification.from_pretrained(complete[0])  # loads fine
    assert training.resume_checkpoint(tmp_path, True) == str(complete[0])
    assert not any(p.name.startswith(STAGING_PREFIX) for p in tmp_path.iterdir())


def test_resume_equals_uninterrupted(make_trainer, tmp_path):
    from transformers import TrainerCallback

    straight = make_trainer(tmp_path / "a", epochs=2)
    straight.train()

    class Crash(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 6:
                raise RuntimeError("simulated crash after the epoch-1 checkpoint")

    crashed = make_trainer(tmp_path / "b", epochs=2, callbacks=[Crash()])
    with pytest.raises(RuntimeError):
        crashed.train()
    resumed = make_trainer(tmp_path / "b", epochs=2)
    resumed.train(resume_from_checkpoint=training.resume_checkpoint(tmp_path / "b", True))
    for (name, a), (_, b) in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6), name


def test_evaluator_replaces_trainer_evaluate(make_trainer, tmp_path):
    trainer = make_trainer(
        tmp_path, epochs=1, evaluator=lambda model: {"accuracy": 0.75, "label": "not a number"}
    )
    metrics = trainer.evaluate()
    assert metrics["eval_accuracy"] == 0.75 and "eval_label" not in metrics
    assert metrics["eval_runtime"] >= 0
