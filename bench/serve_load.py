"""Load test of `plm serve` on loopback (`plmkit.serve.load_test`; `plm bench serve` runs the
same): steady mixed traffic, a burst past capacity, and the two throughput ratios of issue
#11, written as JSON under bench/results/.

    .venv/bin/python bench/serve_load.py [--rate 50] [--seconds 30] [--classifier runs/x]
        [--chat-backends torch-fp32,llama-cpp] [--out bench/results/serve_load_CPU.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> None:
    from plmkit.serve.load_test import LoadOptions, run_load_test

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--generator", default="smollm2")
    parser.add_argument("--classifier", default=None)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--chat-backends", default="", help="comma-separated")
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-concurrency", type=int, default=8)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    options = LoadOptions(
        encoder=args.encoder,
        generator=args.generator,
        classifier=args.classifier,
        backend=args.backend,
        chat_backends=[b for b in args.chat_backends.split(",") if b],
        rate=args.rate,
        seconds=args.seconds,
        max_concurrency=args.max_concurrency,
    )
    report = run_load_test(options, progress=lambda m: print(m, file=sys.stderr, flush=True))
    out = Path(args.out or Path(__file__).parent / "results" / "serve_load.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
