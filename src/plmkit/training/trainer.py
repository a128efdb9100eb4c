"""`AtomicTrainer`: the HF `Trainer` every recipe runs, with checkpoints that appear atomically.

Each `checkpoint-N` is written to a hidden staging directory, fsynced, then renamed into
place (see training.checkpoint_dirs), so it is complete or absent. `evaluator=` swaps in the
recipe's own streaming evaluation for `Trainer.evaluate`. Each training batch's attention mask
goes to the `ProgressCallback`s, which count real tokens for throughput. HF's printer callback
is removed: progress goes out as events instead.
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

    def training_step(self, model: Any, inputs: dict, num_items_in_batch: Any = None) -> Any:
        mask = inputs.get("attention_mask")
        if mask is not None:
            for counter in self._counters:
                counter.count_batch(mask)
        return super().training_step(model, inputs, num_items_in_batch)

    def _get_output_dir(self, trial: Any) -> str:
        return self._staging_root or super()._get_output_dir(trial)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        from transformers.trainer_utils import rotate_checkpoints

        run_dir = super()._get_output_dir(trial)
        os.makedirs(run_dir, exist_ok=True)
        name = f"checkpoint-{self.state.global_step}"
        self._staging_root = tempfile.mkdtemp(
            prefix=f"{STAGING_PREFIX}{self.state.global_step}-", dir=run_dir
        )
        try:
            super()._save_checkpoint(model, trial)  # writes <staging>/checkpoint-N, rotates nothing
            staged = Path(self._staging_root) / name
            # HF pointed best_model_checkpoint at the staging copy: point it where it will live.
            best_step = self.state.best_global_step
            if best_step:
                best = os.path.join(run_dir, f"checkpoint-{best_step}")
                if best_step == self.state.global_step or os.path.isdir(best):
                    self.state.best_model_checkpoint = best
                self.state.save_to_json(str(staged / "trainer_state.json"))
            fsync_tree(staged)
            final = Path(run_dir) / name
            if final.exists():  # the same step saved again (after a resume): swap it out
                shutil.rmtree(final)
            os.replace(staged, final)
            fsync_dir(Path(run_dir))
        finally:
            shutil.rmtree(self._staging_root, ignore_errors=True)
            self._staging_root = None
        if self.args.should_save:
            rotate_checkpoints(
                output_dir=run_dir,
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=False,
            )

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
