"""ONNX Runtime sessions for an exported graph: optimised once and saved (`optimized_session`),
one per thread that runs at once (`SessionPool`).

Why a session per thread: two threads running one session at once share its memory arena,
and on a 2-core Zen 4 that ran MiniLM's onnx-int8 in one of two states, 520-534 texts/s or
830-842, switching between rounds of the same process (1,000 movie snippets, batches of 8, one
per core; 10 rounds each, interleaved). A session per thread ran 804-854 in every round, one
shared session without its arena 775-828, and two processes 820 together. That was the
"slow spell" of earlier sessions' bench runs (onnx-int8's rounds bimodal, 1.3 or 2.0 s).

Why the saved graph keeps its weights in a file beside it: ONNX Runtime maps that file into
memory, so every session shares one copy of the weights (MiniLM int8: each session after the
first adds 12 MiB, its packed int8 matmul weights, where a session with the weights inside
its graph took another 55-60 MiB), and a session starts in 0.02 s instead of 0.08.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WEIGHTS_FILE = "weights"
"""The saved graph's weights, beside it in its folder (ONNX external data)."""


def saved_graph(path: Path) -> Path:
    """Where `optimized_session` keeps the optimised copy of the graph at `path`: a folder per
    ONNX Runtime version (its optimisations and format can change between versions)."""
    import onnxruntime as ort

    return path.with_name(f"{path.stem}.ort-{ort.__version__}") / "model.onnx"


def optimized_session(path: Path):
    """An ONNX Runtime session on one thread for the graph at `path`, whose graph
    optimisations (fusions, constant folding) are applied once and saved beside it
    (ONNX Runtime's offline mode, keyed by its version): later sessions load the saved graph
    with optimisation off. Creating MiniLM's int8-partial session took 0.28-0.32 s, from the
    saved graph 0.15-0.19 s, the same outputs and speed (Zen 3); that is `plm encode`'s cold
    start. EXTENDED, not ALL: ALL adds layout changes tied to this CPU, and nothing here."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    saved = saved_graph(path)
    if saved.exists():
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return ort.InferenceSession(str(saved), options, providers=["CPUExecutionProvider"])
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    # Written into a folder of its own, then renamed into place whole: a reader sees both
    # files or neither (another process may write it too, and the graph names its weights).
    try:
        partial = Path(tempfile.mkdtemp(prefix=f"{saved.parent.name}.", dir=path.parent))
    except OSError:  # a read-only cache: optimised again next time
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    options.optimized_model_filepath = str(partial / saved.name)
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_file_name", WEIGHTS_FILE
    )
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
    )
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except BaseException:  # no half-written graph left beside the export
        shutil.rmtree(partial, ignore_errors=True)
        raise
    try:
        os.rename(partial, saved.parent)
    except OSError:  # another process saved it first
        shutil.rmtree(partial, ignore_errors=True)
    return session


class SessionPool:
    """Sessions for the graph at `path`, lent one per run (`borrow`): at most `size` of them,
    made when a run finds none idle (so one text at a time makes only the first), and a run
    that finds `size` busy waits for one. The graph's weights are shared (see the module
    docstring), each session has its own memory arena."""

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size = path, max(1, size)
        self.sessions = [optimized_session(path)]
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._idle: queue.LifoQueue = queue.LifoQueue()  # the warmest session first
        for session in self.sessions:
            self._idle.put(session)

    @contextmanager
    def borrow(self) -> Iterator:
        if self._pid != os.getpid():  # a fork copies locks that other threads may have held
            self._reset()
        try:
            session = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = len(self.sessions) < self.size
                if grow:
                    session = optimized_session(self.path)
                    self.sessions.append(session)
            if not grow:
                session = self._idle.get()
        try:
            yield session
        finally:
            self._idle.put(session)
