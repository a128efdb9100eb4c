"""ONNX Runtime encoders: the exported graph in fp32, or dynamically quantised to int8.

onnxruntime is optional (`pip install plmkit[fast]`); this module is imported only when an
`onnx-*` backend is asked for, so a missing package costs nothing until then.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from plmkit import loading
from plmkit.backends.base import EncoderBackend, Task
from plmkit.backends.onnx_sessions import SessionPool
from plmkit.hardware import cpu_info

RUN_ROWS = 8
"""Rows per ONNX run when many texts come at once: batches of 8 beat 16 and 32 (and 4) on
MiniLM, one per core (Zen 3)."""


class OnnxEncoder(EncoderBackend):
    def __init__(self, model: str, task: Task, quantization: str = "int8") -> None:
        self.name, self.task = f"onnx-{quantization}", task
        self.config = loading.config_values(model)  # no torch import on this path
        path = loading.onnx_encoder_file(model, task, quantization)
        # One thread per run, and a batch's rows split across the cores (`forward`): the parts
        # run on their own, where ONNX Runtime's intra-op threads meet at every small op.
        # MiniLM, batches of 32 (Zen 3): onnx-int8 401 vs 365 texts/s, int8-partial 331 vs
        # 311, fp32 262 vs 255. A lone text runs on one core: 3.4 ms instead of 3.9 at 12
        # tokens, but 61 ms instead of 47 at 256. With no intra-op pool, no idle ORT threads
        # spin either (in `plm serve` spinning ones took the event loop's cores: 182 vs 222
        # req/s for 16 embedding clients).
        self.threads = cpu_info().threads
        # Many texts (`batch_plan`): whole batches of RUN_ROWS, one per core at once, with no
        # wait for the slower half of each batch and the padding and pooling of one batch
        # beside the run of another. MiniLM int8-partial on 1,000 movie snippets (Zen 3, best
        # of 8 alternating, three runs): 256-287 texts/s against 215-236 for halves of 32.
        self.concurrency, self.run_rows = self.threads, RUN_ROWS
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self.sessions = SessionPool(path, self.threads)  # one per run at once (onnx_sessions)
        metadata = self.sessions.sessions[0].get_modelmeta().custom_metadata_map
        self.first_token = metadata.get(loading.FIRST_TOKEN_KEY) == "1"

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        rows = len(input_ids)
        if self.threads < 2 or rows < 2:
            return self._run(input_ids, attention_mask)
        if self._pool is None or self._pool_pid != os.getpid():  # a fork leaves threads behind
            self._pool, self._pool_pid = ThreadPoolExecutor(self.threads), os.getpid()
        parts = np.array_split(np.arange(rows), min(self.threads, rows))
        run = lambda part: self._run(input_ids[part], attention_mask[part])  # noqa: E731
        return np.concatenate(list(self._pool.map(run, parts)))  # (B, T, H) or (B, C)

    def forward_alone(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self._run(input_ids, attention_mask)

    def _run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds = {
            "input_ids": np.ascontiguousarray(input_ids, dtype=np.int64),
            "attention_mask": np.ascontiguousarray(attention_mask, dtype=np.int64),
        }
        with self.sessions.borrow() as session:
            return session.run(None, feeds)[0]
