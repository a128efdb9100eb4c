"""A real `plm serve` process on loopback, for the load test (`serve.load_test`): started on
a free port with the models and engine asked for, waited for until /health answers 200,
stopped afterwards, its resident memory readable by pid. A process of its own, as in
production: the load generator does not share its interpreter lock, and a failure to start
ends with the tail of its log.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from plmkit.errors import PlmError

READY_S = 900
"""Seconds a server may take to load its models (auto measures engines on a first run)."""


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of process `pid` (MiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_server(
    models: dict[str, list[str]], backend: str, max_concurrency: int = 8
) -> Iterator[tuple[str, int]]:
    """(base URL, pid) of a real `plm serve` process on loopback, once /health is 200.

    A process of its own, as in production: the load generator's own work (httpx, JSON) does
    not share the server's interpreter lock, and RSS is the server's. `models`: {"encoder":
    [...], "generator": [...], "classifier": [...]}."""
    try:
        import httpx
    except ImportError as error:
        raise PlmError(
            f"the load test needs {error.name}", "pip install 'plmkit[serve,dev]'"
        ) from None
    port = free_port()
    command = [sys.executable, "-m", "plmkit.cli", "serve", "--port", str(port),
               "--backend", backend, "--max-concurrency", str(max_concurrency)]  # fmt: skip
    for kind, names in models.items():
        for name in names:
            command += [f"--{kind}", name]
    log = tempfile.NamedTemporaryFile("w+", prefix="plm-serve-", suffix=".log", delete=False)
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_S

    def failed(why: str) -> PlmError:
        log.flush()
        tail = Path(log.name).read_text(errors="replace")[-2000:]
        return PlmError(f"the server {why}; its log ends:\n{tail}", f"see {log.name}")

    try:
        while True:
            if process.poll() is not None:
                raise failed(f"exited with status {process.returncode}")
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise failed(f"did not become ready in {READY_S} s")
            time.sleep(0.25)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        if process.returncode in (0, -signal.SIGTERM):
            Path(log.name).unlink(missing_ok=True)
