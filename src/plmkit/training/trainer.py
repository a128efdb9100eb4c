"""`AtomicTrainer`: the HF `Trainer` every recipe runs, with checkpoints that appear atomically.

Each `checkpoint-N` is written to a hidden staging directory, fsynced, then renamed into
place (see training.checkpoint_dirs), so it is complete or absent. `evaluator=` swaps in the
recipe's own streaming evaluation for `Trainer.evaluate`. Each training batch's attention mask
goes to the `ProgressCallback`s, which count real tokens for throughput. HF's printer callback
is removed: progress goes out as events instead.

On several processes (torchrun; see training.distributed) only rank 0 writes: it makes the
staging directory, writes the model, optimizer, scheduler and every rank's RNG state (gathered
to it), renames the checkpoint into place, and the other ranks wait at a barrier. Batches are
grouped by length over the global batch, so the sample order is the same on any number of
processes and a checkpoint resumes on a different number (see `_get_train_sampler`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import Trainer

from plmkit.training import distributed
from plmkit.training.checkpoint_dirs import STAGING_PREFIX, fsync_dir, fsync_tree
from plmkit.training.progress import ProgressCallback


class AtomicTrainer(Trainer):
    """A `Trainer` whose `checkpoint-N` directories appear complete or not at all.

    `evaluator(model) -> {"accuracy": ..., ...}` replaces `Trainer.evaluate` (the recipe's own
    length-sorted, streaming evaluation); metrics are prefixed with `eval_` as HF expects.
    """

    def __init__(self, *args: Any, evaluator: Callable[[Any], dict] | None = None, **kwargs: Any):
        from transformers.trainer_callback import PrinterCallback

        super().__init__(*args, **kwargs)
        self.remove_callback(PrinterCallback)  # progress goes through ProgressCallback instead
        self._evaluator = evaluator
        self._staging_root: str | None = None
        self._counters = [
            cb for cb in self.callback_handler.callbacks if isinstance(cb, ProgressCallback)
        ]
        if _per_batch_mean_loss(self.model):
            # HF multiplies the loss by the world size, expecting it to be summed over the
            # tokens of the global batch; a classifier's loss is a per-batch mean, which DDP's
            # gradient averaging already makes the global batch's mean.
            self.args.average_tokens_across_devices = False
        distributed.configure_threads()
        distributed.check_world(self.args)
        self.world_record = distributed.world_record(self.args)
        """plmkit.json's `distributed` block: world size, global batch, backend, threads."""

    def train(self, *args: Any, **kwargs: Any) -> Any:
        for counter in self._counters:
            counter.world_setup(self.world_record)
        return super().train(*args, **kwargs)

    def training_step(self, model: Any, inputs: dict, num_items_in_batch: Any = None) -> Any:
        mask = inputs.get("attention_mask")
        if mask is not None:
            for counter in self._counters:
                counter.count_batch(mask)
        return super().training_step(model, inputs, num_items_in_batch)

    def _get_output_dir(self, trial: Any) -> str:
        return self._staging_root or super()._get_output_dir(trial)

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        """HF groups by length over one process's batch, so the order would change with the
        number of processes; grouping over the global batch (and sharding it, as accelerate
        does, batch r of every N to rank r) gives every world size the same samples per step."""
        from transformers.trainer_pt_utils import LengthGroupedSampler

        sampler = super()._get_train_sampler(train_dataset)
        if isinstance(sampler, LengthGroupedSampler):
            global_batch = (
                self.args.train_batch_size
                * self.args.gradient_accumulation_steps
                * self.args.world_size
            )
            sampler = LengthGroupedSampler(global_batch, lengths=sampler.lengths)
        return sampler

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        from transformers.trainer_utils import rotate_checkpoints

        main = distributed.is_main_process()
        run_dir = super()._get_output_dir(trial)
        name = f"checkpoint-{self.state.global_step}"
        staging = None
        if main:
            os.makedirs(run_dir, exist_ok=True)
            staging = tempfile.mkdtemp(
                prefix=f"{STAGING_PREFIX}{self.state.global_step}-", dir=run_dir
            )
        self._staging_root = distributed.broadcast_from_main(staging)
        try:
            super()._save_checkpoint(model, trial)  # writes <staging>/checkpoint-N, rotates nothing
            self._point_best_checkpoint(run_dir)
            if main:
                self._publish(Path(self._staging_root) / name, Path(run_dir) / name, run_dir)
        finally:
            if main:
                shutil.rmtree(self._staging_root, ignore_errors=True)
            self._staging_root = None
            distributed.barrier()  # nobody reads checkpoint-N before it is in place
        if self.args.should_save:
            rotate_checkpoints(
                output_dir=run_dir,
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=False,
            )

    def _point_best_checkpoint(self, run_dir: str) -> None:
        """HF pointed best_model_checkpoint at the staging copy: point it where it will live
        (on every rank: each loads the best model at the end)."""
        best_step = self.state.best_global_step
        if best_step:
            best = os.path.join(run_dir, f"checkpoint-{best_step}")
            if best_step == self.state.global_step or os.path.isdir(best):
                self.state.best_model_checkpoint = best

    def _publish(self, staged: Path, final: Path, run_dir: str) -> None:
        """Fsync the staged checkpoint and rename it into place (rank 0)."""
        if self.state.best_global_step:
            self.state.save_to_json(str(staged / "trainer_state.json"))
        fsync_tree(staged)
        if final.exists():  # the same step saved again (after a resume): swap it out
            shutil.rmtree(final)
        os.replace(staged, final)
        fsync_dir(Path(run_dir))

    def _save_rng_state(self, output_dir: str) -> None:
        """HF has every rank write its own RNG file; here rank 0 writes them all, under HF's
        names (rng_state.pth on one process, rng_state_<rank>.pth on several)."""
        import torch

        states = distributed.gather_to_main(_rng_states())
        if states is None:  # not rank 0: write nothing
            return
        os.makedirs(output_dir, exist_ok=True)
        if len(states) == 1:
            torch.save(states[0], os.path.join(output_dir, "rng_state.pth"))
            return
        for rank, state in enumerate(states):
            torch.save(state, os.path.join(output_dir, f"rng_state_{rank}.pth"))

    def _load_rng_state(self, checkpoint: str | None) -> None:
        """A checkpoint written by several processes, resumed on one, takes rank 0's RNG."""
        if (
            checkpoint is None
            or self.args.world_size > 1
            or os.path.isfile(os.path.join(checkpoint, "rng_state.pth"))
            or not os.path.isfile(os.path.join(checkpoint, "rng_state_0.pth"))
        ):
            return super()._load_rng_state(checkpoint)
        import random

        import numpy as np
        import torch
        from transformers.trainer_pt_utils import safe_globals

        with safe_globals():  # HF's allow-list for numpy's RNG state: no pickle code runs
            state = torch.load(os.path.join(checkpoint, "rng_state_0.pth"), weights_only=True)
        random.setstate(state["python"])
        np.random.set_state(state["numpy"])
        torch.random.set_rng_state(state["cpu"])

    def evaluate(
        self,
        eval_dataset: Any = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        if self._evaluator is None:
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        start = time.perf_counter()
        results = self._evaluator(self.model)
        metrics = {
            f"{metric_key_prefix}_{k}": float(v)
            for k, v in results.items()
            if isinstance(v, (int, float))
        }
        metrics[f"{metric_key_prefix}_runtime"] = round(time.perf_counter() - start, 3)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(
            self.args, self.state, self.control, metrics
        )
        return metrics


def _rng_states() -> dict[str, Any]:
    """This process's RNG states, as HF's `_save_rng_state` records them."""
    import random

    import numpy as np
    import torch

    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "cpu": torch.random.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.random.get_rng_state()
    return states


def _per_batch_mean_loss(model: Any) -> bool:
    """A sequence classifier: its loss ignores HF's num_items_in_batch."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    )

    return type(model).__name__ in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES.values()
