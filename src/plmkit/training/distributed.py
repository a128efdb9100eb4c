"""One process or many: everything plmkit does differently under `torchrun` / `accelerate launch`.

The engine is torch.distributed as HF's Trainer drives it (DDP; gloo on CPU, nccl on GPU). A
launcher starts N copies of the same command and tells each who it is through RANK,
LOCAL_RANK, WORLD_SIZE and LOCAL_WORLD_SIZE; this module reads them and keeps every rule of a
multi-process run in one place:

- `world()`: this process's rank and the size of the run; `is_main_process()`: rank 0, the
  only process that writes anything (checkpoints, the model, plmkit.json, reports, logs).
- `init_process_group()`, `barrier()`, `gather_to_main(obj)`, `broadcast_from_main(obj)`: the
  collective steps the recipes and the Trainer need.
- `configure_threads()`: each process gets cores / local processes threads, unless
  OMP_NUM_THREADS is set (bare `torchrun` sets it to 1 itself when it starts 2+ processes;
  `plm ... --nproc N` sets cores / N).
- `split_batch(global_batch)`: `--batch-size` is the global batch. Each of N processes takes
  batch / N, so a run on N processes makes the same optimizer steps over the same samples as
  on one, and `--resume` may continue on a different N (see `AtomicTrainer._get_train_sampler`).
- `trainer_overrides()`: `use_cpu=True, ddp_backend="gloo"` on CPU (without them HF silently
  runs N independent trainings, transformers #17581), `ddp_backend="nccl"` on GPU.
- `check_launch(nproc)`, `check_world(args)`: fail loudly when the launcher did not start the
  `--nproc` asked for, or when the Trainer's world is not the launcher's.
- `world_record(args)`: the `distributed` block of plmkit.json (world size, global batch...).
- `needs_launch(nproc)`, `launch_local(nproc, argv)`: `plm finetune --nproc N` re-runs itself
  under
  `python -m torch.distributed.run --standalone --nproc_per_node N`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from plmkit.errors import InvalidInputError, PlmError


class DistributedError(PlmError):
    """A multi-process run that is not what was asked for."""


@dataclass(frozen=True)
class World:
    rank: int = 0
    local_rank: int = 0
    size: int = 1
    local_size: int = 1

    @property
    def nodes(self) -> int:
        return max(1, self.size // max(1, self.local_size))

    @property
    def launched(self) -> bool:
        """Started by torchrun / accelerate launch (even with a single process)."""
        return "WORLD_SIZE" in os.environ


def world() -> World:
    """This process's place in the run, from the launcher's environment (1 process without)."""
    env = os.environ
    size = int(env.get("WORLD_SIZE", "1"))
    return World(
        rank=int(env.get("RANK", "0")),
        local_rank=int(env.get("LOCAL_RANK", "0")),
        size=size,
        local_size=int(env.get("LOCAL_WORLD_SIZE", str(size))),
    )


def is_main_process() -> bool:
    """Rank 0: the one process of a run that writes files and logs."""
    return world().rank == 0


def _initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def init_process_group() -> None:
    """Join the launcher's process group now (HF would when its TrainingArguments are built;
    accelerate reuses the group), so recipes can wait at barriers before training."""
    if world().size > 1 and not _initialized():
        import torch
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def barrier() -> None:
    """Wait for every rank (a no-op on one process)."""
    if _initialized():
        import torch.distributed as dist

        dist.barrier()


def gather_to_main(obj: Any) -> list[Any] | None:
    """Every rank's `obj`, in rank order, on rank 0 (None elsewhere); `[obj]` on one process."""
    if not _initialized():
        return [obj]
    import torch.distributed as dist

    found: list[Any] | None = [None] * dist.get_world_size() if is_main_process() else None
    dist.gather_object(obj, found, dst=0)
    return found


def broadcast_from_main(obj: Any) -> Any:
    """Rank 0's `obj` on every rank."""
    if not _initialized():
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_process(local_size: int | None = None) -> int:
    """OMP_NUM_THREADS when set, else cores / processes on this machine (at least 1)."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    local = local_size if local_size is not None else world().local_size
    return max(1, cores() // max(1, local))


def configure_threads() -> int:
    """Give torch this process's share of the cores (see `threads_per_process`)."""
    import torch

    current = world()
    if current.local_size > 1 or "OMP_NUM_THREADS" in os.environ:
        torch.set_num_threads(threads_per_process(current.local_size))
    return torch.get_num_threads()


def split_batch(global_batch: int, accumulation: int = 1) -> int:
    """The per-process batch of a `global_batch` shared by every process of the run."""
    size = world().size
    share = size * accumulation
    if global_batch % share:
        raise InvalidInputError(
            f"batch size {global_batch} does not split over {size} processes"
            + (f" x {accumulation} accumulation steps" if accumulation > 1 else ""),
            f"use a --batch-size that is a multiple of {share}, "
            f"e.g. {share * max(1, round(global_batch / share))}",
        )
    return global_batch // share


def trainer_overrides() -> dict[str, Any]:
    """The TrainingArguments a multi-process run needs: DDP over gloo (CPU) or nccl (GPU)."""
    import torch

    if world().size <= 1:
        return {}
    if torch.cuda.is_available():
        return {"use_cpu": False, "ddp_backend": "nccl"}
    return {"use_cpu": True, "ddp_backend": "gloo"}


def needs_launch(nproc: int | None) -> bool:
    """`--nproc N` (N > 1) outside a launcher: plm must start torchrun itself."""
    return bool(nproc and nproc > 1 and not world().launched)


def check_launch(nproc: int | None) -> World:
    """Under a launcher, `--nproc N` must match the processes it started on this machine."""
    current = world()
    nproc = requested_nproc(nproc)
    if nproc is not None and current.launched and current.local_size != nproc:
        raise DistributedError(
            f"--nproc {nproc} asked for {nproc} processes on this machine, "
            f"the launcher started {current.local_size}",
            f"launch with torchrun --nproc_per_node {nproc}, or drop --nproc",
        )
    return current


def check_world(args: Any) -> World:
    """Fail loudly unless the Trainer runs on every process the launcher started: otherwise
    N processes would each train alone on all the data (transformers #17581)."""
    current = world()
    seen = int(getattr(args, "world_size", 1))
    joined = _joined_size()
    if seen != current.size or (current.size > 1 and joined != current.size):
        raise DistributedError(
            f"the launcher started {current.size} processes (WORLD_SIZE) but training sees "
            f"{seen} (torch.distributed: {joined or 'not initialised'}): each process would "
            "train on its own",
            "launch with torchrun or accelerate launch, and leave ddp_backend / use_cpu to plmkit",
        )
    return current


def _joined_size() -> int:
    if not _initialized():
        return 0
    import torch.distributed as dist

    return dist.get_world_size()


def world_record(args: Any) -> dict[str, Any]:
    """The `distributed` block of plmkit.json: who trained, on what, with which batch."""
    current = world()
    per_device = int(args.per_device_train_batch_size)
    accumulation = int(args.gradient_accumulation_steps)
    backend = None
    if _initialized():
        import torch.distributed as dist

        backend = dist.get_backend()
    return {
        "world_size": current.size,
        "nodes": current.nodes,
        "processes_per_node": current.local_size,
        "backend": backend,
        "threads_per_process": threads_per_process(current.local_size),
        "per_device_batch_size": per_device,
        "gradient_accumulation_steps": accumulation,
        "global_batch_size": per_device * current.size * accumulation,
        "launcher": os.environ.get("PLMKIT_LAUNCHER")
        or ("torchrun" if "TORCHELASTIC_RUN_ID" in os.environ else None)
        or ("launched" if current.launched else "single process"),
        "writer": "rank 0",
    }


def describe(record: dict[str, Any]) -> str:
    """One log line of `world_record`."""
    return (
        f"{record['world_size']} process(es) on {record['nodes']} node(s)"
        f"{' (' + record['backend'] + ')' if record['backend'] else ''}, "
        f"{record['threads_per_process']} thread(s) each: global batch "
        f"{record['global_batch_size']} = {record['per_device_batch_size']} per process x "
        f"{record['world_size']} x {record['gradient_accumulation_steps']} accumulation"
    )


def launch_command(nproc: int, argv: Sequence[str]) -> list[str]:
    """`python -m torch.distributed.run --standalone --nproc_per_node N -m plmkit.cli ARGV`,
    ARGV without `--nproc` (torchrun's parser would take it for its own --nproc-per-node)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "--max_restarts=0",
        "-m",
        "plmkit.cli",
        *without_nproc(argv),
    ]


def without_nproc(argv: Sequence[str]) -> list[str]:
    """`argv` less `--nproc N` / `--nproc=N`."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def requested_nproc(nproc: int | None) -> int | None:
    """`--nproc`, or the N `launch_local` passed its processes (PLMKIT_NPROC)."""
    if nproc is not None:
        return nproc
    found = os.environ.get("PLMKIT_NPROC", "")
    return int(found) if found.isdigit() else None


def launch_local(nproc: int, argv: Sequence[str]) -> int:
    """Run `plm ARGV` as `nproc` processes on this machine through torchrun; its exit code.
    Each gets cores / nproc threads unless OMP_NUM_THREADS is set."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(threads_per_process(nproc)))
    env["PLMKIT_LAUNCHER"] = f"plm --nproc {nproc} (torchrun --standalone)"
    env["PLMKIT_NPROC"] = str(nproc)
    return subprocess.call(launch_command(nproc, argv), env=env)
