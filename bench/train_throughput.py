"""Fine-tuning throughput: the default recipe vs the reference recipe, samples/s, same run.

    flock /tmp/plmkit-cpu.lock .venv/bin/python bench/train_throughput.py [--model minilm]

Targets (issue #4): default >= 40x reference on an AVX2-only CPU, >= 60x with native bf16.
Both numbers, their ratio, the fp32 and frozen-embedding variants and the CPU are printed and
written to a JSON file. The measurement is `plmkit.bench.train.measure_training` (also
`plm bench train`).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    from transformers.utils import logging as hf_logging

    from plmkit.bench.train import ARMS, measure_training
    from plmkit.hardware import cpu_info
    from plmkit.training import run_record, write_json_atomic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--data", default="movie-snippets")
    parser.add_argument("--reference-steps", type=int, default=8)
    parser.add_argument("--steps", type=int, default=32, help="timed steps of the other arms")
    parser.add_argument("--out", default="runs/bench/train_throughput.json")
    args = parser.parse_args()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    steps = {name: args.steps for name in ARMS} | {"reference": args.reference_steps}
    measured = measure_training(
        args.model,
        args.data,
        steps=steps,
        on_progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    info = cpu_info()
    print(
        f"cpu: {info.model}, {info.cores} cores, native bf16 {'yes' if info.native_bf16 else 'no'}"
        f", avx2 {'yes' if info.flags.get('avx2') else 'no'}"
    )
    print(f"{'arm':34} {'samples/s':>10} {'x ref':>7} {'mean x':>7}  dtype")
    for name, entry in measured["arms"].items():
        print(
            f"{name:34} {entry['samples_per_second']:10.2f} {entry.get('ratio', 0):7.1f} "
            f"{entry.get('mean_ratio', 0):7.1f}  {entry['dtype']}"
        )
    load = measured["load_average"]
    print(
        f"load average (1 min) before / after: {load['before']} / {load['after']} on "
        f"{info.cores} cores (above {info.cores}: other processes shared the CPU)"
    )
    default, reference = measured["arms"]["default"], measured["arms"]["reference"]
    target = 60 if info.native_bf16 else 40
    print(
        f"default / reference = {default['samples_per_second']:.2f} / "
        f"{reference['samples_per_second']:.2f} = {default['ratio']:.1f}x "
        f"(target >= {target}x on this CPU)"
    )
    write_json_atomic(args.out, run_record(seed=42, benchmark="train_throughput", **measured))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
