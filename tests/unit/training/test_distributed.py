"""training.distributed without launching anything: the launcher's environment is faked.

The real torchrun runs (2 processes, 2 nodes, resume on another world size) are in
test_distributed_runs.py (slow).
"""

from __future__ import annotations

import os
import random
import sys
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from plmkit.cli import app
from plmkit.errors import InvalidInputError
from plmkit.training import distributed
from plmkit.training.distributed import DistributedError

LAUNCHER_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "PLMKIT_NPROC")


@pytest.fixture
def launched(monkeypatch):
    """launched(rank, size, local_size): this process looks like one torchrun started."""
    for name in LAUNCHER_ENV:
        monkeypatch.delenv(name, raising=False)

    def fake(rank: int = 0, size: int = 2, local_size: int | None = None) -> None:
        local = size if local_size is None else local_size
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("LOCAL_RANK", str(rank % local))
        monkeypatch.setenv("WORLD_SIZE", str(size))
        monkeypatch.setenv("LOCAL_WORLD_SIZE", str(local))

    return fake


def test_one_process_without_a_launcher(launched):
    world = distributed.world()
    assert (world.rank, world.size, world.nodes, world.launched) == (0, 1, 1, False)
    assert distributed.is_main_process()
    assert distributed.trainer_overrides() == {}
    assert distributed.gather_to_main("x") == ["x"]
    assert distributed.broadcast_from_main("y") == "y"


def test_world_from_the_launcher_environment(launched):
    launched(rank=3, size=4, local_size=2)
    world = distributed.world()
    assert (world.rank, world.local_rank, world.size, world.local_size) == (3, 1, 4, 2)
    assert world.nodes == 2 and world.launched
    assert not distributed.is_main_process()


def test_cpu_runs_need_gloo_and_use_cpu(launched):
    launched(size=2)
    if torch.cuda.is_available():
        pytest.skip("a GPU machine uses nccl")
    assert distributed.trainer_overrides() == {"use_cpu": True, "ddp_backend": "gloo"}


def test_batch_size_is_global(launched):
    assert distributed.split_batch(32) == 32
    launched(size=2)
    assert distributed.split_batch(32) == 16
    assert distributed.split_batch(32, accumulation=2) == 8
    with pytest.raises(InvalidInputError, match="does not split over 2 processes"):
        distributed.split_batch(33)


def test_nproc_must_match_the_launcher(launched, monkeypatch):
    launched(size=2)
    assert distributed.check_launch(2).size == 2
    with pytest.raises(DistributedError, match="--nproc 3 asked for 3 processes"):
        distributed.check_launch(3)
    monkeypatch.setenv("PLMKIT_NPROC", "4")  # what plm --nproc 4 passes its processes
    with pytest.raises(DistributedError, match="--nproc 4"):
        distributed.check_launch(None)


def test_a_trainer_that_did_not_join_fails_loudly(launched):
    """transformers #17581: WORLD_SIZE=2 but the Trainer sees one process."""
    launched(size=2)
    with pytest.raises(DistributedError, match="each process would train on its own"):
        distributed.check_world(SimpleNamespace(world_size=1))


def test_threads_per_process(launched, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = distributed.cores()
    assert distributed.threads_per_process(2) == max(1, cores // 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert distributed.threads_per_process(2) == 3


def test_world_record_and_its_log_line(launched):
    launched(size=2)
    args = SimpleNamespace(per_device_train_batch_size=16, gradient_accumulation_steps=2)
    record = distributed.world_record(args)
    assert record["world_size"] == 2 and record["global_batch_size"] == 64
    assert record["writer"] == "rank 0"
    assert "global batch 64 = 16 per process x 2 x 2 accumulation" in distributed.describe(record)


def test_launch_command_is_torchrun_without_nproc():
    command = distributed.launch_command(2, ["finetune", "--nproc", "2", "--nproc=2", "--out", "x"])
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in command and "--nproc_per_node=2" in command
    assert command[-5:] == ["-m", "plmkit.cli", "finetune", "--out", "x"]


def test_cli_refuses_a_wrong_nproc_under_a_launcher(launched, tmp_path):
    launched(size=2)
    result = CliRunner().invoke(app, ["finetune", "--nproc", "3", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "--nproc 3 asked for 3 processes on this machine, the launcher started 2" in (
        result.output
    )
    assert not (tmp_path / "r").exists()


def test_rng_of_a_multi_process_checkpoint_resumes_on_one(make_trainer, tmp_path):
    """A checkpoint of 2 processes holds rng_state_0/1.pth: one process takes rank 0's."""
    trainer = make_trainer(tmp_path / "run")
    checkpoint = tmp_path / "checkpoint"
    trainer._save_rng_state(str(checkpoint))
    assert os.listdir(checkpoint) == ["rng_state.pth"]  # one process: HF's name
    os.rename(checkpoint / "rng_state.pth", checkpoint / "rng_state_0.pth")
    expected = (torch.random.get_rng_state(), random.random())
    torch.rand(5)
    random.random()
    trainer._load_rng_state(str(checkpoint))
    assert torch.equal(torch.random.get_rng_state(), expected[0])
    assert random.random() == expected[1]
