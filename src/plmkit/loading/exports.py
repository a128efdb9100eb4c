"""Copies of a model in other engines' formats: ONNX, CTranslate2, re-quantised GGUF.

Each is made once, under a file lock, in a temp directory that is renamed into place (so a
crash never leaves half a copy), and cached under `cache_dir()/converted`, keyed by model,
weights' modification time (a retrained directory gets a fresh copy) and quantisation.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plmkit.loading.gguf import GGUF_REQUANT, requantize_gguf
from plmkit.loading.int8_calibration import CALIBRATION_TEXTS, input_statistics
from plmkit.loading.locate import gguf_file, model_dir
from plmkit.loading.models import load_classifier, load_encoder
from plmkit.loading.onnx_int8 import (
    INT8_VERSION,
    matmuls_to_keep,
    quantize_fused,
    quantize_per_token,
)
from plmkit.loading.tokenizer import load_tokenizer
from plmkit.paths import cache_subdir, weights_stamp
from plmkit.registry import ModelSpec, resolve

log = logging.getLogger("plmkit")


def converted_dir(spec: ModelSpec, engine: str, variant: str) -> Path:
    """Where the `engine`/`variant` copy of `spec` is cached (made or not)."""
    source = model_dir(spec)
    if spec.source == "embedded":
        key = f"{spec.name}@{spec.revision}"
    else:
        key = f"{source}|{weights_stamp(source)}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    label = Path(spec.name).name or "model"
    return cache_subdir("converted") / f"{label}-{digest}" / f"{engine}-{variant}"


def convert_once(target: Path, marker: str, write: Callable[[Path], None]) -> Path:
    """Run `write(tmp_dir)` once under a file lock and move the result to `target`.

    `target / marker` existing means the copy is complete; then `write` is not called.
    """
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / marker).exists():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
        try:
            write(tmp)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


ONNX_QUANTIZATIONS = ("fp32", "int8", "int8-partial")
FIRST_TOKEN_KEY = "plmkit.first_token"
"""ONNX metadata of classifier exports: "1" where the last layer runs for position 0 alone
(first_token.py), "0" where the whole network was exported; absent in older exports."""


def onnx_encoder_file(spec: ModelSpec | str, task: str, quantization: str = "int8") -> Path:
    """An ONNX export of the encoder (states or logits): fp32, or int8 with the head and each
    quantised input's outlier channels (found on CALIBRATION_TEXTS) in fp32 (onnx_int8.py):
    one activation scale per tensor in fused kernels (int8), or one per token (int8-partial).

    Made once (a few seconds for MiniLM); later calls only return the cached path.
    """
    if quantization not in ONNX_QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {ONNX_QUANTIZATIONS}")
    spec = resolve(spec) if isinstance(spec, str) else spec
    variant = quantization if quantization == "fp32" else f"{quantization}-v{INT8_VERSION}"
    target = converted_dir(spec, f"onnx-{task}", variant)
    if (target / "model.onnx").exists():
        return target / "model.onnx"

    def write(tmp: Path) -> None:
        plain = tmp / ("fp32.onnx" if quantization != "fp32" else "model.onnx")
        tokenizer = load_tokenizer(spec)  # the probe of a classifier's export, the calibration
        _export_onnx(spec, task, plain, tokenizer)
        if quantization != "fp32":
            rewrite = quantize_per_token if quantization == "int8-partial" else quantize_fused
            maxima, grams = input_statistics(plain, _calibration_feeds(tokenizer))
            rewrite(plain, tmp / "model.onnx", matmuls_to_keep(plain), maxima, grams)
            plain.unlink()

    return convert_once(target, "model.onnx", write) / "model.onnx"


def _calibration_feeds(tokenizer: Any) -> list[dict]:
    """CALIBRATION_TEXTS as ONNX inputs, a text each (no padding: a tokenizer may have no
    pad token), for input_statistics."""
    import numpy as np

    feeds = []
    for text in CALIBRATION_TEXTS:
        ids = np.array([tokenizer(text, truncation=True, max_length=128)["input_ids"]], np.int64)
        feeds.append({"input_ids": ids, "attention_mask": np.ones_like(ids)})
    return feeds


def _probe(tokenizer: Any) -> dict:
    """Two texts of different lengths, padded: first_token_only's check."""
    texts = ["A short one.", "A longer text, so that the first one is padded to its length."]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


def _export_onnx(spec: ModelSpec, task: str, path: Path, tokenizer: Any) -> None:
    """The torch encoder traced to ONNX, its inputs and output dynamic in batch and tokens."""
    import warnings

    import torch

    whole = load_encoder(spec) if task == "embed" else load_classifier(spec)
    output = "states" if task == "embed" else "logits"
    network = whole
    if task == "classify":  # the head reads one token: the last layer computes only that one
        from plmkit.loading.first_token import first_token_only  # imports torch

        network = first_token_only(whole, _probe(tokenizer))

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, input_ids, attention_mask):
            out = self.network(input_ids=input_ids, attention_mask=attention_mask)
            return out.last_hidden_state if task == "embed" else out.logits

    example = (torch.tensor([[1, 2, 3], [1, 2, 0]]), torch.tensor([[1, 1, 1], [1, 1, 0]]))
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    axes[output] = {0: "batch", 1: "tokens"} if task == "embed" else {0: "batch"}
    with warnings.catch_warnings():  # tracer notes about constants; results are checked
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Wrapped().eval(),
            example,
            str(path),
            dynamo=False,  # the TorchScript exporter needs no onnxscript and handles BERT
            input_names=["input_ids", "attention_mask"],
            output_names=[output],
            dynamic_axes=axes,
            opset_version=17,
        )
    import onnx

    model = onnx.load(str(path))  # one load and save for both edits
    drop_softmax_nan_guards(model.graph)
    if task == "classify":  # what the bench's FLOP count needs to know (FIRST_TOKEN_KEY)
        _mark_first_token(model, network is not whole)
    onnx.save(model, str(path))


def drop_softmax_nan_guards(graph) -> int:
    """Remove the exporter's `Where(IsNaN(p), 0, p)` after each attention Softmax from an
    ONNX `graph`, in place (returns how many). The guard covers a row whose every key is
    masked with -inf; transformers masks with the dtype's lowest finite value (such a row
    comes out uniform, not NaN), and a row is all masked only for a text of no tokens at
    all, so the guard never fires: MiniLM's states came out bit-identical without it.
    It cost a pass over every layer's attention weights: onnx-int8 encode 1.036x the texts/s
    without it (Zen 4, 600 movie snippets in sorted batches of 8, median of 6 alternating
    rounds)."""
    made_by = {output: node for node in graph.node for output in node.output}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    outputs = {o.name for o in graph.output}
    guards: dict[str, str] = {}  # the guard's output -> the Softmax output it passes on
    dropped: set[str] = set()  # outputs of the nodes removed
    for node in graph.node:
        isnan = made_by.get(node.input[0]) if node.op_type == "Where" else None
        if isnan is None or isnan.op_type != "IsNaN" or readers[isnan.output[0]] != 1:
            continue
        probs = isnan.input[0]
        softmax = made_by.get(probs)
        if softmax is not None and softmax.op_type == "Softmax" and node.input[2] == probs:
            if node.output[0] not in outputs:
                guards[node.output[0]] = probs
                dropped |= {node.output[0], isnan.output[0]}
    if not guards:
        return 0
    kept = [node for node in graph.node if not dropped & set(node.output)]
    for node in kept:
        for i, name in enumerate(node.input):
            if name in guards:
                node.input[i] = guards[name]
    del graph.node[:]
    graph.node.extend(kept)
    return len(guards)


def _mark_first_token(model, first_token: bool) -> None:
    """Record in the export's metadata whether its last layer runs for the first token alone;
    the int8 copies keep it (the int8 rewrites edit the graph, not the metadata)."""
    import onnx

    onnx.helper.set_model_props(model, {FIRST_TOKEN_KEY: "1" if first_token else "0"})


def ct2_model_dir(spec: ModelSpec | str, quantization: str = "int8") -> Path:
    """A CTranslate2 copy of a Hugging Face model (about 12 s once for smollm2)."""
    spec = resolve(spec) if isinstance(spec, str) else spec
    target = converted_dir(spec, "ct2", quantization)
    if (target / "model.bin").exists():
        return target

    def write(tmp: Path) -> None:
        import ctranslate2

        log.info("converting %s to CTranslate2 %s once -> %s", spec.name, quantization, target)
        converter = ctranslate2.converters.TransformersConverter(str(model_dir(spec)))
        converter.convert(str(tmp), quantization=quantization, force=True)

    return convert_once(target, "model.bin", write)


def gguf_requantized(spec: ModelSpec | str, variant: str) -> Path | None:
    """The model's GGUF rewritten by llama.cpp as `variant` (q8_0 or bf16), once (under a
    second; see `gguf.requantize_gguf` for why); None when the model has no GGUF."""
    if variant not in GGUF_REQUANT:
        raise ValueError(f"variant must be one of {GGUF_REQUANT}")
    spec = resolve(spec) if isinstance(spec, str) else spec
    source = gguf_file(spec)
    if source is None:
        return None
    target = converted_dir(spec, "gguf", variant)
    name = f"{source.stem}.{variant}.gguf"
    if (target / name).exists():
        return target / name

    def write(tmp: Path) -> None:
        log.info("rewriting %s as %s once -> %s", source.name, variant, target)
        requantize_gguf(source, tmp / name, variant)

    return convert_once(target, name, write) / name
