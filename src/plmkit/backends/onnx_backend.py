"""ONNX Runtime encoders: the exported graph in fp32, or dynamically quantised to int8.

onnxruntime is optional (`pip install plmkit[fast]`); this module is imported only when an
`onnx-*` backend is asked for, so a missing package costs nothing until then.
"""

from __future__ import annotations

import numpy as np

from plmkit import loading
from plmkit.backends.base import EncoderBackend, Task
from plmkit.hardware import cpu_info


class OnnxEncoder(EncoderBackend):
    def __init__(self, model: str, task: Task, quantization: str = "int8") -> None:
        import onnxruntime as ort

        self.name, self.task = f"onnx-{quantization}", task
        self.config = loading.config_values(model)  # no torch import on this path
        path = loading.onnx_encoder_file(model, task, quantization)
        options = ort.SessionOptions()
        options.intra_op_num_threads = cpu_info().threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle worker threads sleep instead of spinning. Spinning bought nothing measurable in
        # bulk encoding (558 vs 560 texts/s, MiniLM, Zen 3), and in `plm serve` the spinning
        # threads took the cores the event loop needed: 16 embedding clients got 182 req/s
        # with it, 222 without.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds = {
            "input_ids": np.ascontiguousarray(input_ids, dtype=np.int64),
            "attention_mask": np.ascontiguousarray(attention_mask, dtype=np.int64),
        }
        return self.session.run(None, feeds)[0]  # (B, T, H) or (B, C)
