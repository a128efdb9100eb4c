"""Scale-out benchmark (issue 13): processes vs threads, and memory that stays flat.

    .venv/bin/python bench/scale_out.py --out bench/results/scale_out_epyc_zen3.json

1. Fine-tuning throughput of the default recipe (minilm on movie-snippets, --max-steps), as
   1 process x 2 threads (`plm finetune`, OMP_NUM_THREADS=2) vs 2 processes x 1 thread
   (`plm finetune --nproc 2`: torchrun, gloo), alternated `--repeats` times; samples/s is
   plmkit.json's training.samples_per_second (global samples over training-step time).
2. Peak RSS of `plm encode --file --out .npy --chunk-rows` for N vs 10N lines (a tiny random
   BERT, so the run measures the streaming, not the model).
3. Peak RSS of packing a corpus through lm.streaming.pack_files (memory-mapped Arrow cache) for
   a corpus of S and 10 S bytes, beside pack_corpus (all in memory) on S.
Peak RSS is the child's ru_maxrss from wait4 (its waited-for children included). The machine
is shared with other work: /proc/loadavg is recorded before and after every run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
WORDS = (
    "the a an cat dog sat on mat movie film was is good bad great awful funny boring tedious "
    "gorgeous moving mess story plot actor acting love hate it this that and but not very"
).split()


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(command: list[str], env: dict | None = None) -> dict:
    """Run `command`; its wall time, peak RSS (MiB), exit code and load before / after."""
    before = loadavg()
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr[-3000:]}")
    return {
        "wall_seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "loadavg_before": before,
        "loadavg_after": loadavg(),
    }


def finetune(work: Path, max_steps: int, repeats: int) -> dict:
    arms = {
        "1 process x 2 threads": (["--nproc", "1"], {"OMP_NUM_THREADS": "2"}),
        "2 processes x 1 thread": (["--nproc", "2"], {"OMP_NUM_THREADS": "1"}),
    }
    results: dict = {name: [] for name in arms}
    for repeat in range(repeats):
        for name, (extra, env) in arms.items():
            out = work / f"ft-{repeat}-{extra[1]}"
            command = [PYTHON, "-m", "plmkit.cli", "finetune", "--out", str(out)]
            command += ["--max-steps", str(max_steps), "--fp32", *extra]
            measured = run(command, {**env, "HF_HUB_OFFLINE": "1"})
            record = json.loads((out / "plmkit.json").read_text())
            measured["samples_per_second"] = record["training"]["samples_per_second"]
            measured["train_step_seconds"] = record["training"]["train_step_seconds"]
            measured["distributed"] = record["distributed"]
            results[name].append(measured)
    for name, rows in results.items():
        rates = [r["samples_per_second"] for r in rows]
        results[name] = {"runs": rows, "samples_per_second_median": sorted(rates)[len(rates) // 2]}
    one, two = (results[n]["samples_per_second_median"] for n in arms)
    return {"max_steps": max_steps, "arms": results, "ratio_2proc_over_1proc": round(two / one, 3)}


def tiny_bert(directory: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import _tiny_bert
    from transformers import BertModel

    return _tiny_bert(directory, BertModel)


def write_lines(path: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w") as handle:
        for _ in range(n):
            handle.write(" ".join(rng.choices(WORDS, k=rng.randint(4, 14))) + "\n")
    return path


def encode_rss(work: Path, lines: int) -> dict:
    model = tiny_bert(work / "tiny-bert")
    found = {}
    for n in (lines, lines * 10):
        source = write_lines(work / f"lines-{n}.txt", n)
        out = work / f"emb-{n}.npy"
        command = [PYTHON, "-m", "plmkit.cli", "encode", "--file", str(source), "--out", str(out)]
        command += ["--model", str(model), "--backend", "torch-fp32", "--chunk-rows", "10000"]
        command += ["--batch-size", "256"]
        measured = run(command, {"HF_HUB_OFFLINE": "1"})
        measured["input_mib"] = round(source.stat().st_size / 2**20, 1)
        measured["output_mib"] = round(out.stat().st_size / 2**20, 1)
        found[f"{n} lines"] = measured
        source.unlink()
        out.unlink()
    return found


PACK_SCRIPT = """
import sys
from transformers import AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained(sys.argv[2])
if sys.argv[1] == "stream":
    from plmkit.lm.streaming import pack_files
    blocks = pack_files([sys.argv[3]], tokenizer, 128, cache_dir=sys.argv[4], num_proc=2)
    print(blocks.n_blocks)
else:
    from plmkit.lm.packing import pack_corpus
    texts = open(sys.argv[3]).read().splitlines()
    print(pack_corpus(texts, tokenizer, 128, use_cache=False).n_blocks)
"""


def packing_rss(work: Path, lines: int) -> dict:
    model = work / "tiny-bert"
    found = {}
    for kind, n in (("in memory", lines), ("stream", lines), ("stream", lines * 10)):
        source = write_lines(work / f"corpus-{n}.txt", n, seed=1)
        cache = work / f"arrow-{kind}-{n}"
        mode = "stream" if kind == "stream" else "memory"
        command = [PYTHON, "-c", PACK_SCRIPT, mode, str(model), str(source), str(cache)]
        measured = run(command, {"HF_HUB_OFFLINE": "1"})
        measured["corpus_mib"] = round(source.stat().st_size / 2**20, 1)
        if cache.exists():
            size = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
            measured["arrow_cache_mib"] = round(size / 2**20, 1)
        found[f"{kind}, {n} lines"] = measured
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--encode-lines", type=int, default=100_000)
    parser.add_argument("--pack-lines", type=int, default=200_000)
    parser.add_argument("--skip-finetune", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plmkit-scale-out-") as tmp:
        work = Path(tmp)
        report = {
            "cpu": next(
                (
                    line.split(":", 1)[1].strip()
                    for line in open("/proc/cpuinfo")
                    if line.startswith("model name")
                ),
                platform.machine(),
            ),
            "cores": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "note": "machine shared with other helpers' work: compare arms of the same run",
            "loadavg_start": loadavg(),
        }
        report["encode_peak_rss"] = encode_rss(work, args.encode_lines)
        report["packing_peak_rss"] = packing_rss(work, args.pack_lines)
        if not args.skip_finetune:
            report["finetune_throughput"] = finetune(work, args.max_steps, args.repeats)
        report["loadavg_end"] = loadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
