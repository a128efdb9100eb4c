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
4. With --pack-limit-mib L (root, cgroup v1 memory controller): pack_files on a corpus of
   --pack-mib bytes (10 L or more) inside a memory cgroup limited to L MiB, so the run cannot
   keep more than L in memory (page cache included: the kernel reclaims it at the limit, and
   kills the job if what it cannot reclaim passes L), and pack_corpus on a tenth of that corpus
   under the same limit. Reported: exit status, the cgroup's peak usage and its anonymous
   (non-file) memory sampled every 0.5 s, how often the limit was hit, OOM kills.
Peak RSS is the child's ru_maxrss from wait4 (its waited-for children included: the largest
single process, not their sum). The machine is shared with other work: /proc/loadavg is
recorded before and after every run.

Memory figures only:
    .venv/bin/python bench/scale_out.py --skip-finetune --encode-lines 100000 \
        --pack-lines 200000 --pack-limit-mib 400 --pack-mib 4096 --out FILE
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
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


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += children.get(found[-1], [])
    return found


def _anon_mib(pid: int) -> float:
    """Anonymous resident memory (RssAnon) of `pid` and its descendants, summed."""
    total = 0
    for member in _tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def run(command: list[str], env: dict | None = None, *, check: bool = True) -> dict:
    """Run `command`; its wall time, peak RSS (MiB: ru_maxrss, which counts the file pages it
    maps, e.g. Arrow files, and the largest single process), peak anonymous memory of its whole
    process tree (sampled every 0.2 s: what it keeps in memory), exit code and load."""
    before = loadavg()
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        peak_anon = [0.0]

        def sample() -> None:
            while process.returncode is None:
                peak_anon[0] = max(peak_anon[0], _anon_mib(process.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler.join()
        stderr.seek(0)
        tail = stderr.read()[-3000:].decode(errors="replace")
    if process.returncode and check:
        raise SystemExit(f"{' '.join(command)} failed:\n{tail}")
    found = {
        "wall_seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "peak_anon_mib_sampled": round(peak_anon[0], 1),
        "loadavg_before": before,
        "loadavg_after": loadavg(),
    }
    if process.returncode:
        found.update(exit_code=process.returncode, stderr_tail=tail[-600:])
    return found


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
    workers = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    blocks = pack_files([sys.argv[3]], tokenizer, 128, cache_dir=sys.argv[4], num_proc=workers)
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


CGROUP_ROOT = Path("/sys/fs/cgroup/memory")  # cgroup v1's memory controller


def write_corpus(path: Path, mib: int, seed: int = 2) -> Path:
    """`mib` MiB of random lines: 8 MiB of them, written over and over (packing does not
    care that lines repeat; generating them all would take longer than packing)."""
    chunk = io.StringIO()
    rng = random.Random(seed)
    while chunk.tell() < 8 << 20:
        chunk.write(" ".join(rng.choices(WORDS, k=rng.randint(4, 14))) + "\n")
    block = chunk.getvalue().encode()
    with path.open("wb") as handle:
        while handle.tell() < mib << 20:
            handle.write(block)
    return path


def run_limited(command: list[str], limit_mib: int, env: dict) -> dict:
    """`run(command)` inside a fresh memory cgroup of `limit_mib` MiB; the cgroup's figures."""
    group = CGROUP_ROOT / f"plmkit-bench-{os.getpid()}-{time.monotonic_ns()}"
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(limit_mib << 20))
        stop, peaks = threading.Event(), {"anon": 0, "cache": 0}

        def sample() -> None:
            while not stop.wait(0.5):
                stat = dict(
                    line.split() for line in (group / "memory.stat").read_text().splitlines()
                )
                peaks["anon"] = max(peaks["anon"], int(stat["total_rss"]))
                peaks["cache"] = max(peaks["cache"], int(stat["total_cache"]))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        enter = f'echo $$ > {group}/cgroup.procs && exec "$@"'
        measured = run(["sh", "-c", enter, "sh", *command], env, check=False)
        stop.set()
        sampler.join()
        # a killed job can leave its tokenizing workers behind: they are this run's, stop them
        for pid in (group / "cgroup.procs").read_text().split():
            os.kill(int(pid), signal.SIGKILL)
        while (group / "cgroup.procs").read_text().strip():
            time.sleep(0.1)
        oom = (group / "memory.oom_control").read_text().split()
        measured.update(
            limit_mib=limit_mib,
            cgroup_peak_usage_mib=round(
                int((group / "memory.max_usage_in_bytes").read_text()) / 2**20, 1
            ),
            cgroup_peak_anon_mib_sampled=round(peaks["anon"] / 2**20, 1),
            cgroup_peak_page_cache_mib_sampled=round(peaks["cache"] / 2**20, 1),
            times_limit_hit=int((group / "memory.failcnt").read_text()),
            oom_kills=int(oom[oom.index("oom_kill") + 1]) if "oom_kill" in oom else None,
            completed=measured.get("exit_code") is None,
        )
        return measured
    finally:
        group.rmdir()


def packing_limited(work: Path, limit_mib: int, corpus_mib: int, workers: int) -> dict:
    """pack_files on `corpus_mib` MiB under a `limit_mib` cgroup; pack_corpus on a tenth."""
    if not (CGROUP_ROOT / "cgroup.procs").exists() or os.geteuid() != 0:
        return {"skipped": "needs root and cgroup v1's memory controller"}
    model = work / "tiny-bert"
    found = {}
    for kind, mib in (("stream", corpus_mib), ("in memory", max(1, corpus_mib // 10))):
        source = write_corpus(work / f"limited-{mib}.txt", mib)
        cache = work / f"arrow-limited-{mib}"
        mode = "stream" if kind == "stream" else "memory"
        command = [PYTHON, "-c", PACK_SCRIPT, mode, str(model), str(source), str(cache)]
        command.append(str(workers))
        measured = run_limited(command, limit_mib, {"HF_HUB_OFFLINE": "1"})
        measured["corpus_mib"] = round(source.stat().st_size / 2**20, 1)
        measured["corpus_over_limit"] = round(measured["corpus_mib"] / limit_mib, 2)
        if cache.exists():
            size = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
            measured["arrow_cache_mib"] = round(size / 2**20, 1)
            shutil.rmtree(cache)
        found[f"{kind}, {measured['corpus_mib']} MiB under a {limit_mib} MiB cgroup"] = measured
        source.unlink()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--encode-lines", type=int, default=100_000)
    parser.add_argument("--pack-lines", type=int, default=200_000)
    parser.add_argument("--skip-finetune", action="store_true")
    parser.add_argument("--skip-encode", action="store_true")
    parser.add_argument("--pack-limit-mib", type=int, help="cgroup limit for part 4 (root)")
    parser.add_argument("--pack-mib", type=int, default=4096, help="corpus size for part 4")
    parser.add_argument("--pack-workers", type=int, default=2, help="tokenizing processes, 4")
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
            "command": " ".join(["python", *sys.argv]),
        }
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)

        def save(part: str) -> None:  # after every part: a run stopped early keeps the rest
            report["loadavg_end"] = loadavg()
            report["complete"] = part == "all"
            out.write_text(json.dumps(report, indent=1) + "\n")

        tiny_bert(work / "tiny-bert")
        report["packing_peak_rss"] = packing_rss(work, args.pack_lines)
        save("packing")
        if args.pack_limit_mib:
            report["packing_under_a_memory_limit"] = packing_limited(
                work, args.pack_limit_mib, args.pack_mib, args.pack_workers
            )
            save("packing under a limit")
        if not args.skip_encode:
            report["encode_peak_rss"] = encode_rss(work, args.encode_lines)
            save("encode")
        if not args.skip_finetune:
            report["finetune_throughput"] = finetune(work, args.max_steps, args.repeats)
        save("all")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
