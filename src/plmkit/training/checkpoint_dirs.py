"""The `checkpoint-N` directories of a run: which are complete, and what `--resume` continues.

`AtomicTrainer` (training.trainer) writes each checkpoint to a hidden `.tmp-checkpoint-N-*`
directory, fsyncs it, then renames it to `checkpoint-N`: a run killed mid-save leaves only a
hidden temp directory, which nothing here reads and `remove_partial_checkpoints` deletes. HF
restores the optimizer, scheduler, RNG states and data order from a checkpoint, so a resumed run
ends where an uninterrupted one does.

Optimizer, scheduler and RNG state files inside checkpoints are HF's torch files; HF loads them
with `weights_only=True`, so no pickle code runs. Model weights are always safetensors.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from plmkit.errors import CheckpointError

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
STAGING_PREFIX = ".tmp-checkpoint-"
# Files a checkpoint must hold to be resumed from (HF's names).
CHECKPOINT_REQUIRED = ("model.safetensors", "trainer_state.json")


def checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete `checkpoint-N` directories under `run_dir`, oldest step first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = []
    for path in run_dir.iterdir():
        match = CHECKPOINT_RE.match(path.name)
        if match and path.is_dir() and all((path / f).is_file() for f in CHECKPOINT_REQUIRED):
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def last_complete_checkpoint(run_dir: str | Path) -> Path | None:
    found = checkpoints(run_dir)
    return found[-1] if found else None


def remove_partial_checkpoints(run_dir: str | Path) -> list[Path]:
    """Delete temp directories left by a run killed mid-save; returns what was removed.
    Under torchrun only rank 0 deletes (it is the only writer)."""
    from plmkit.training.distributed import is_main_process

    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not is_main_process():
        return []
    removed = [p for p in run_dir.iterdir() if p.name.startswith(STAGING_PREFIX) and p.is_dir()]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def resume_checkpoint(run_dir: str | Path, resume: bool | str | Path) -> str | None:
    """The checkpoint `--resume` continues from: the last complete one under `run_dir`, or
    the directory given. None when `resume` is False. A clear error when there is none."""
    if resume is False or resume is None:
        return None
    remove_partial_checkpoints(run_dir)
    if resume is True:
        found = last_complete_checkpoint(run_dir)
        if found is None:
            raise CheckpointError(
                f"--resume: no complete checkpoint under {run_dir}",
                "run without --resume to start fresh (checkpoints are written each epoch)",
            )
        return str(found)
    path = Path(resume)
    if not all((path / f).is_file() for f in CHECKPOINT_REQUIRED):
        raise CheckpointError(
            f"{path} is not a complete checkpoint (needs {', '.join(CHECKPOINT_REQUIRED)})",
            f"pass --resume alone to use the last complete checkpoint under {run_dir}",
        )
    return str(path)


def fsync_tree(root: Path) -> None:
    """Flush every file under `root`, then `root` itself, to disk (before a rename)."""
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    fsync_dir(root)


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (a rename into it) to disk; silently skipped where the
    platform cannot open directories."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
