"""`plm ARGV` in this process, for the torchrun tests: what this rank trained on goes to a trace.

    python -m torch.distributed.run --nproc_per_node 2 ddp_worker.py finetune --model ...

With PLMKIT_TEST_TRACE=DIR set, each rank writes DIR/rank<R>.json (the test's own file, outside
plmkit's output): a digest of every training sample it stepped on, its batch sizes, a digest of
its weights after training, and the Trainer's world record. With PLMKIT_TEST_KILL_AFTER_SAVE=1
every rank dies (exit 3) right after the first checkpoint is in place, like a killed job.
With PLMKIT_TEST_WATCH=DIR, the trace lists every file-system change this process made under
DIR (Python's audit events: opens for writing, mkdir, rename, remove, rmtree, mkdtemp).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path


def _digest_rows(inputs: dict) -> list[str]:
    ids, mask = inputs["input_ids"], inputs.get("attention_mask")
    rows = []
    for i in range(ids.shape[0]):
        row = ids[i] if mask is None else ids[i][mask[i].bool()]
        rows.append(hashlib.sha256(row.numpy().tobytes()).hexdigest()[:16])
    return rows


def _digest_model(model) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().contiguous().numpy().tobytes())
    return digest.hexdigest()


WRITE_EVENTS = {
    "os.mkdir",
    "os.rename",
    "os.remove",
    "os.rmdir",
    "shutil.rmtree",
    "tempfile.mkdtemp",
    "tempfile.mkstemp",
}


def _watch(directory: str, writes: list) -> None:
    root = os.path.realpath(directory)

    def under(path) -> bool:
        try:
            return os.path.realpath(os.fsdecode(path)).startswith(root)
        except (TypeError, ValueError):
            return False

    def hook(event: str, args: tuple) -> None:
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            mode, flags = args[1], args[2] if len(args) > 2 else 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            )
            if writing and under(args[0]):
                writes.append([event, os.fsdecode(args[0])])
        elif event in WRITE_EVENTS and args and under(args[0]):
            writes.append([event, os.fsdecode(args[0])])

    sys.addaudithook(hook)


def main() -> None:
    from plmkit.training.trainer import AtomicTrainer

    trace_dir = os.environ.get("PLMKIT_TEST_TRACE")
    kill_after_save = os.environ.get("PLMKIT_TEST_KILL_AFTER_SAVE") == "1"
    trace: dict = {
        "rank": int(os.environ.get("RANK", "0")),
        "samples": [],
        "batch_sizes": [],
        "writes": [],
    }
    if os.environ.get("PLMKIT_TEST_WATCH"):
        _watch(os.environ["PLMKIT_TEST_WATCH"], trace["writes"])
    step, train, save = (
        AtomicTrainer.training_step,
        AtomicTrainer.train,
        AtomicTrainer._save_checkpoint,
    )

    def training_step(self, model, inputs, num_items_in_batch=None):
        trace["samples"].extend(_digest_rows(inputs))
        trace["batch_sizes"].append(int(inputs["input_ids"].shape[0]))
        return step(self, model, inputs, num_items_in_batch)

    def traced_train(self, *args, **kwargs):
        output = train(self, *args, **kwargs)
        trace["weights"] = _digest_model(self.model)
        trace["world"] = self.world_record
        trace["global_step"] = self.state.global_step
        return output

    def save_then_die(self, model, trial):
        save(self, model, trial)
        if kill_after_save:
            os._exit(3)

    AtomicTrainer.training_step = training_step
    AtomicTrainer.train = traced_train
    AtomicTrainer._save_checkpoint = save_then_die
    from plmkit.cli import app

    try:
        app(sys.argv[1:], prog_name="plm")
    finally:
        if trace_dir:
            Path(trace_dir, f"rank{trace['rank']}.json").write_text(json.dumps(trace))


if __name__ == "__main__":
    main()
