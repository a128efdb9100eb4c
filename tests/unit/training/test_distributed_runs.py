"""`plm finetune` under real torchrun launches (gloo on CPU), on a tiny dropout-free BERT.

Each test starts 2 processes that each import torch and transformers: tens of seconds on this
2-core machine, so they are marked slow. `ddp_worker.py` runs `plm` in each process and writes
what that rank trained on (and every file it changed under the run's directory) to a trace.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("ddp_worker.py")
ROWS = 100  # 80 train / 10 validation / 10 test: 10 full global batches of 8 an epoch
TIMEOUT = 600


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A base BERT without dropout: runs on 1 or 2 processes then differ only by float sums."""
    from transformers import BertModel

    sys.path.insert(0, str(Path(__file__).parents[2]))
    from conftest import _tiny_bert

    directory = tmp_path_factory.mktemp("tiny-bert-nodropout")
    return _tiny_bert(
        directory, BertModel, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from conftest import sentiment_rows

    path = tmp_path_factory.mktemp("ddp-data") / "sentiment.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(sentiment_rows(ROWS))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def finetune_args(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "finetune",
        "--model",
        str(model),
        "--data",
        str(data),
        "--out",
        str(out),
        "--batch-size",
        "8",
        "--learning-rate",
        "5e-3",
        "--fp32",
        "--early-stopping-patience",
        "0",
        *extra,
    ]


def worker_env(tmp_path: Path, out: Path, **extra: str) -> dict[str, str]:
    trace = tmp_path / "trace"
    trace.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        PLMKIT_TEST_TRACE=str(trace),
        PLMKIT_TEST_WATCH=str(out),
        OMP_NUM_THREADS="1",
        **extra,
    )
    return env


def torchrun(torchrun_args: list[str], args: list[str], env: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", *torchrun_args, str(WORKER), *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=TIMEOUT)
    return process.returncode, output


def traces(tmp_path: Path) -> list[dict]:
    files = sorted((tmp_path / "trace").glob("rank*.json"))
    return [json.loads(path.read_text()) for path in files]


def check_two_ranks(found: list[dict], out: Path) -> None:
    """Different samples, identical weights, global batch 2x per-device, rank 0 the only writer."""
    assert [t["rank"] for t in found] == [0, 1]
    first, second = found
    for trace in found:
        world = trace["world"]
        assert world["world_size"] == 2 and world["backend"] == "gloo"
        assert world["global_batch_size"] == 2 * world["per_device_batch_size"] == 8
        assert set(trace["batch_sizes"]) == {4}
    # each step the two ranks took different halves of the global batch ...
    per_step = list(zip(first["samples"][::4], second["samples"][::4], strict=True))
    assert all(a != b for a, b in per_step)
    # ... and over an epoch they shared the 80 training rows out: 40 each, none twice
    epoch = Counter(first["samples"][:40]) + Counter(second["samples"][:40])
    assert sum(epoch.values()) == 80
    assert not Counter(first["samples"][:40]) & Counter(second["samples"][:40])
    assert first["weights"] == second["weights"]  # gradients averaged: one model
    assert first["writes"] and not second["writes"]  # rank 0 wrote; rank 1 changed nothing
    record = json.loads((out / "plmkit.json").read_text())
    assert record["distributed"]["world_size"] == 2
    assert record["distributed"]["global_batch_size"] == 8


def test_two_processes_on_one_machine(tiny_model, data, tmp_path):
    out = tmp_path / "run"
    process = torchrun(
        ["--standalone", "--nproc_per_node=2"],
        finetune_args(tiny_model, data, out, "--epochs", "1"),
        worker_env(tmp_path, out),
    )
    code, output = finish(process)
    assert code == 0, output
    assert "2 process(es) on 1 node(s) (gloo)" in output
    assert "global batch 8 = 4 per process x 2 x 1 accumulation" in output
    check_two_ranks(traces(tmp_path), out)


def test_two_nodes_of_one_process_through_c10d(tiny_model, data, tmp_path):
    """The multi-machine path on one machine: 2 torchrun agents meet at a c10d rendezvous."""
    out = tmp_path / "run"
    endpoint = f"127.0.0.1:{free_port()}"
    args = finetune_args(tiny_model, data, out, "--epochs", "1")
    env = worker_env(tmp_path, out)
    agents = [
        torchrun(
            [
                "--nnodes=2",
                f"--node_rank={node}",
                "--nproc_per_node=1",
                "--rdzv_backend=c10d",
                f"--rdzv_endpoint={endpoint}",
                "--rdzv_id=plmkit-test",
            ],
            args,
            env,
        )
        for node in (0, 1)
    ]
    results = [finish(agent) for agent in agents]
    for code, output in results:
        assert code == 0, output
    found = traces(tmp_path)
    assert [t["world"]["nodes"] for t in found] == [2, 2]
    check_two_ranks(found, out)


def test_plm_nproc_launches_torchrun(tiny_model, data, tmp_path):
    """`plm finetune --nproc 2` starts torchrun itself; the record says who launched it."""
    out = tmp_path / "run"
    env = worker_env(tmp_path, out)
    del env["OMP_NUM_THREADS"]  # plm gives each process cores / 2 threads
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "plmkit.cli",
            *finetune_args(tiny_model, data, out, "--epochs", "1", "--nproc", "2"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((out / "plmkit.json").read_text())["distributed"]
    assert record["world_size"] == 2 and record["backend"] == "gloo"
    assert record["launcher"] == "plm --nproc 2 (torchrun --standalone)"
    assert record["threads_per_process"] == max(1, len(os.sched_getaffinity(0)) // 2)


def test_killed_two_process_run_resumes_on_one(tiny_model, data, tmp_path):
    """2 processes killed right after the epoch-1 checkpoint, resumed on 1 process, end where
    an uninterrupted 2-process run ends: the same samples make each step (the order depends on
    the seed and the global batch only), so weights agree to float-summation noise."""
    from safetensors.torch import load_file

    # the reference recipe: no per-epoch evaluation, so the final model is the last step's
    extra = ("--recipe", "reference", "--epochs", "2")
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    run = torchrun(
        ["--standalone", "--nproc_per_node=2", "--max_restarts=0"],
        finetune_args(tiny_model, data, killed, *extra),
        worker_env(tmp_path, killed, PLMKIT_TEST_KILL_AFTER_SAVE="1"),
    )
    code, output = finish(run)
    assert code != 0, output
    assert (killed / "checkpoints" / "checkpoint-10").is_dir()
    assert not (killed / "plmkit.json").exists()
    saved = sorted(p.name for p in (killed / "checkpoints" / "checkpoint-10").iterdir())
    assert {"rng_state_0.pth", "rng_state_1.pth", "optimizer.pt"} <= set(saved)

    resumed = subprocess.run(
        [sys.executable, str(WORKER), *finetune_args(tiny_model, data, killed, *extra, "--resume")],
        env=worker_env(tmp_path / "x", killed),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    uninterrupted = torchrun(
        ["--standalone", "--nproc_per_node=2"],
        finetune_args(tiny_model, data, whole, *extra),
        worker_env(tmp_path / "y", whole),
    )
    code, output = finish(uninterrupted)
    assert code == 0, output

    record = json.loads((killed / "plmkit.json").read_text())
    reference = json.loads((whole / "plmkit.json").read_text())
    assert record["distributed"]["world_size"] == 1
    assert record["distributed"]["global_batch_size"] == 8
    assert record["training"]["resumed_from"].endswith("checkpoint-10")
    assert record["training"]["steps"] == reference["training"]["steps"] == 20
    first, second = load_file(killed / "model.safetensors"), load_file(whole / "model.safetensors")
    worst = max(float((first[k] - second[k]).abs().max()) for k in first)
    assert worst < 1e-4, worst  # stated tolerance: 1e-4 on every weight
    for split in ("validation", "test"):
        assert record["metrics"][split]["accuracy"] == reference["metrics"][split]["accuracy"]
