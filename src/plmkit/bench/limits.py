"""Each row's ceiling: the machine's measured limits (`machine.limits`) in the row's unit.

An encoder does about 2 x (non-embedding parameters) x tokens FLOPs per text, so
texts/s <= FLOP/s at its dtype / that; decoding one token reads every weight once, so
tokens/s <= memory bandwidth / weight bytes.
"""

from __future__ import annotations

from plmkit import loading
from plmkit.bench.options import BenchOptions


def dtype_of(backend: str) -> str:
    """The matmul dtype a backend name runs at: bf16, int8 or fp32."""
    return "bf16" if "bf16" in backend else "int8" if "int8" in backend else "fp32"


def encoder_flops_per_text(config, mean_tokens: float, first_token: bool = False) -> float:
    """2 x (non-embedding parameters) x tokens, plus attention scores: FLOPs per text.
    `first_token`: the last layer runs keys and values for every token but the rest for
    the first one alone (ONNX classifier exports, loading/first_token.py)."""
    hidden, layers, tokens = config.hidden_size, config.num_hidden_layers, mean_tokens
    per_layer = 4 * hidden * hidden + 2 * hidden * config.intermediate_size
    if not first_token:
        return 2 * layers * (per_layer * tokens + 2 * hidden * tokens**2)
    full = (layers - 1) * (per_layer * tokens + 2 * hidden * tokens**2)
    keys_values = 2 * hidden * hidden * tokens
    last = keys_values + (per_layer - 2 * hidden * hidden) + 2 * hidden * tokens
    return 2 * (full + last)


def encoder_limit_key(backend: str) -> str:
    """The limits entry an encoder backend's ceiling comes from: its dtype's matmul rate."""
    return f"matmul_{dtype_of(backend)}_gflops"


DECODER_LIMIT_KEY = "memory_bandwidth_gbs"
"""A decoded token reads every weight: decoders' ceiling comes from the bandwidth."""


def encoder_limit(
    options: BenchOptions, backend: str, config, mean_tokens: float, first_token: bool = False
) -> float | None:
    """texts/s at the measured matmul rate of the backend's dtype (None: not measured)."""
    gflops = options.limits.get(encoder_limit_key(backend))
    flops = encoder_flops_per_text(config, mean_tokens, first_token)
    return gflops * 1e9 / flops if gflops else None


def decoder_parameters(config) -> int:
    """Parameters of a Llama/GPT-style decoder from its config (no weights loaded)."""
    hidden, layers = config.hidden_size, config.num_hidden_layers
    heads = config.num_attention_heads
    kv = getattr(config, "num_key_value_heads", heads) or heads
    head_dim = hidden // heads
    attention = 2 * hidden * hidden + 2 * hidden * kv * head_dim
    mlp = 3 * hidden * getattr(config, "intermediate_size", 4 * hidden)
    embeddings = config.vocab_size * hidden
    tied = getattr(config, "tie_word_embeddings", True)
    return layers * (attention + mlp) + embeddings * (1 if tied else 2)


def weight_bytes(backend: str, model: str, parameters: int) -> float | None:
    """Bytes of weights one decoded token reads: the GGUF or CT2 file, else the tensors."""
    if backend.startswith("llama-cpp"):
        from plmkit.backends.llama_cpp_backend import gguf_path

        gguf = gguf_path(model, backend)
        return gguf.stat().st_size if gguf is not None else None
    if backend == "ct2-int8":
        return (loading.ct2_model_dir(model, "int8") / "model.bin").stat().st_size
    return parameters * (2 if "bf16" in backend else 4)


def decoder_limit(options: BenchOptions, backend: str, model: str, parameters: int) -> float | None:
    """tokens/s at the measured memory bandwidth (None: not measured or size unknown)."""
    weights = weight_bytes(backend, model, parameters)
    bandwidth = options.limits.get(DECODER_LIMIT_KEY)
    return bandwidth * 1e9 / weights if bandwidth and weights else None


def raise_limits(report: dict, later: list[dict[str, float]]) -> None:
    """Limits measured again during a run (`later`): each becomes the highest of all its
    measurements, and every row's ceiling and share of it follow. A limit is the most the
    machine did, and a shared host's speed drifts: one Zen 3 run measured fp32 matmuls at
    121 GFLOP/s at its start (156-160 in other runs) and then showed onnx-fp32 at 112% of
    it; another at 119 and 110 at its start and end, with ONNX Runtime's own fp32 matmul at
    144-148 minutes later. The report keeps every measurement under `limits_measured`."""
    start = dict(report["limits"])
    best = {k: max([v, *(m.get(k, 0.0) for m in later)]) for k, v in start.items()}
    report["limits"] = best
    report["limits_measured"] = {"start": start, "later": later}
    for scenario in report["scenarios"].values():
        for row in scenario["rows"]:
            key = row.get("limit_from")
            if row.get("limit") and key in best and start[key]:
                row["limit"] = round(row["limit"] * best[key] / start[key], 3)
                row["of_limit"] = round(row["throughput"] / row["limit"], 3)
