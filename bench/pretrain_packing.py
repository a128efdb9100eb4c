"""Packed blocks vs padded-per-line batches: MLM training tokens/s on movie-snippets.

    .venv/bin/python bench/pretrain_packing.py [--steps 8] [--model minilm] [--out FILE]

Target (issue #5): packed >= 3x the padded-per-line baseline. Both numbers, their ratio, the
dynamic-padding figure and the CPU are printed and written to a JSON file. The measurement
itself is `plmkit.bench.pretrain.measure_packing` (also `plm bench pretrain`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    from transformers.utils import logging as hf_logging

    from plmkit.bench.pretrain import measure_packing
    from plmkit.data import load_texts
    from plmkit.hardware import cpu_info
    from plmkit.training import run_record, write_json_atomic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--out", default="runs/bench/pretrain_packing.json")
    args = parser.parse_args()
    hf_logging.set_verbosity_error()

    texts = load_texts("movie-snippets")
    measured = measure_packing(
        texts,
        args.model,
        block_size=args.block_size,
        batch_size=args.batch_size,
        steps=args.steps,
    )
    cpu = cpu_info()
    print(
        f"MLM training on movie-snippets ({len(texts)} lines), {args.model}, "
        f"batch {args.batch_size}, {measured['dtype']}"
    )
    print(f"CPU: {cpu.model}, {cpu.cores} cores, torch threads {cpu.threads}")
    for arm, result in measured["arms"].items():
        print(
            f"  {arm:16} {result['tokens_per_second']:>9.1f} real tokens/s  "
            f"({result['padding_fraction']:.0%} padding, {result['seconds']} s timed)"
        )
    ratio = measured["packed_vs_padded_per_line"]
    print(
        f"packed / padded per line: {ratio:.2f}x "
        f"(target >= 3x: {'met' if ratio >= 3 else 'NOT met'})"
    )
    print(f"packed / dynamic padding: {measured['packed_vs_dynamic_padding']:.2f}x")
    path = write_json_atomic(
        Path(args.out), run_record(seed=0, benchmark="pretrain_packing", **measured)
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
