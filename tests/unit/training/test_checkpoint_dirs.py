"""training/checkpoint_dirs.py: which checkpoints are complete, and what --resume continues."""

from __future__ import annotations

import pytest

from plmkit.errors import CheckpointError
from plmkit.training import (
    checkpoints,
    last_complete_checkpoint,
    remove_partial_checkpoints,
    resume_checkpoint,
)
from plmkit.training.checkpoint_dirs import CHECKPOINT_REQUIRED, STAGING_PREFIX


def _checkpoint(run_dir, step, files=CHECKPOINT_REQUIRED):
    path = run_dir / f"checkpoint-{step}"
    path.mkdir(parents=True)
    for name in files:
        (path / name).write_text("{}")
    return path


def test_checkpoints_are_complete_ones_in_step_order(tmp_path):
    _checkpoint(tmp_path, 10)
    _checkpoint(tmp_path, 9)
    _checkpoint(tmp_path, 11, files=("model.safetensors",))  # no trainer_state.json
    (tmp_path / "checkpoint-x").mkdir()
    assert [p.name for p in checkpoints(tmp_path)] == ["checkpoint-9", "checkpoint-10"]
    assert last_complete_checkpoint(tmp_path).name == "checkpoint-10"
    assert checkpoints(tmp_path / "missing") == []
    assert last_complete_checkpoint(tmp_path / "missing") is None


def test_remove_partial_checkpoints_deletes_only_staging_dirs(tmp_path):
    kept = _checkpoint(tmp_path, 3)
    staged = tmp_path / f"{STAGING_PREFIX}6-abc"
    staged.mkdir()
    assert remove_partial_checkpoints(tmp_path) == [staged]
    assert not staged.exists() and kept.is_dir()


def test_resume_takes_the_last_complete_or_the_one_given(tmp_path):
    _checkpoint(tmp_path, 2)
    last = _checkpoint(tmp_path, 4)
    assert resume_checkpoint(tmp_path, True) == str(last)
    assert resume_checkpoint(tmp_path, str(tmp_path / "checkpoint-2")).endswith("checkpoint-2")


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        resume_checkpoint(tmp_path, True)
    with pytest.raises(CheckpointError, match="not a complete checkpoint"):
        resume_checkpoint(tmp_path, tmp_path)
    assert resume_checkpoint(tmp_path, False) is None
