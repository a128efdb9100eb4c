"""Load test of `plm serve` on loopback: steady mixed traffic, a burst past capacity, and the
two throughput ratios of issue #11, written as JSON under bench/results/.

    .venv/bin/python bench/serve_load.py [--rate 50] [--seconds 30] [--classifier runs/x]

It starts the server itself (uvicorn in a thread, 127.0.0.1, a free port), so nothing but
loopback is touched, and it stops by itself: every phase is bounded in requests and time.
Phases: `alone` (each distinct request once, one at a time: the reference answers), `steady`
(`--rate` requests/s for `--seconds` of embeddings / classify / short greedy chat), `burst`
(4 x --max-concurrency requests at once), `embeddings` (16 concurrent clients vs one at a
time) and `chat` (8 concurrent streams vs one). Checks: no 5xx, no lost or truncated answer,
only 429 beyond capacity, every answer identical to the same request sent alone (embeddings
within 1e-4), RSS before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

HARD_LIMIT_S = 600
TEXTS = [
    "The cat sat on the mat.",
    "A gorgeous, moving film about a king.",
    "The plot was a tedious mess and the acting was worse.",
    "Someone plays an instrument.",
    "The stock market fell sharply today.",
    "Once upon a time there was a queen who loved music.",
]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentiles(seconds: list[float]) -> dict:
    if not seconds:
        return {}
    ordered = sorted(seconds)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99), "n": len(ordered)}


def requests_for(args) -> list[tuple[str, dict]]:
    mix = [("/v1/embeddings", {"model": args.encoder, "input": text}) for text in TEXTS]
    if args.classifier:
        mix += [("/v1/classify", {"model": args.classifier, "input": t}) for t in TEXTS[:3]]
    chat = {"model": args.generator, "max_tokens": 8, "temperature": 0}
    mix += [
        ("/v1/chat/completions", {**chat, "messages": [{"role": "user", "content": t}]})
        for t in TEXTS[:2]
    ]
    return mix


def same(path: str, got: dict, want: dict) -> bool:
    if path == "/v1/embeddings":
        a, b = got["data"][0]["embedding"], want["data"][0]["embedding"]
        return len(a) == len(b) and bool(np.allclose(a, b, atol=1e-4))
    if path == "/v1/classify":
        return got["data"][0]["label"] == want["data"][0]["label"]
    return got["choices"][0]["message"]["content"] == want["choices"][0]["message"]["content"]


async def send(client, path: str, body: dict) -> tuple[int, dict | None, float]:
    start = time.perf_counter()
    response = await client.post(path, json=body)
    seconds = time.perf_counter() - start
    try:
        data = response.json()
    except ValueError:
        data = None  # a truncated body
    return response.status_code, data, seconds


def tally(results, mix, reference) -> dict:
    statuses: dict[str, int] = {}
    lost = mismatched = 0
    for index, (status, data, _) in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 200 and data is None:
            lost += 1
        elif status == 200 and not same(mix[index][0], data, reference[index]):
            mismatched += 1
    seconds = [s for _, (status, _, s) in results if status == 200]
    return {
        "statuses": statuses,
        "lost_or_truncated": lost,
        "differ_from_alone": mismatched,
        "latency": percentiles(seconds),
    }


async def run(args, base: str) -> dict:
    mix = requests_for(args)
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        reference = []
        for path, body in mix:
            status, data, _ = await send(client, path, body)
            assert status == 200, (path, status, data)
            reference.append(data)
        report: dict = {"rss_mb_before": round(rss_mb(), 1)}

        tasks, start = [], time.perf_counter()
        total = int(args.rate * args.seconds)
        for n in range(total):
            delay = start + n / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            index = n % len(mix)
            task = asyncio.create_task(send(client, *mix[index]))
            tasks.append((index, task))
        steady = [(i, await t) for i, t in tasks]
        report["steady"] = {
            "rate": args.rate,
            "seconds": args.seconds,
            "requests": total,
            "wall_s": round(time.perf_counter() - start, 2),
            **tally(steady, mix, reference),
        }

        burst_n = 4 * args.max_concurrency
        picks = [n % len(mix) for n in range(burst_n)]
        burst = await asyncio.gather(*(send(client, *mix[i]) for i in picks))
        report["burst"] = {
            "requests": burst_n,
            **tally(list(zip(picks, burst, strict=True)), mix, reference),
        }

        embed = [mix[i % len(TEXTS)] for i in range(64)]
        start = time.perf_counter()
        for path, body in embed:
            await send(client, path, body)
        one_at_a_time = len(embed) / (time.perf_counter() - start)
        queue = list(embed)
        latencies: list[float] = []

        async def worker() -> None:
            while queue:
                path, body = queue.pop()
                latencies.append((await send(client, path, body))[2])

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(16)))
        concurrent = len(embed) / (time.perf_counter() - start)
        report["embeddings"] = {
            "requests_per_s_alone": round(one_at_a_time, 1),
            "requests_per_s_16_clients": round(concurrent, 1),
            "ratio": round(concurrent / one_at_a_time, 2),
            "latency_16_clients": percentiles(latencies),
        }
        report["chat"] = await chat_streams(client, args)
        report["rss_mb_after"] = round(rss_mb(), 1)
    return report


async def chat_streams(client, args) -> dict:
    body = {
        "model": args.generator,
        "max_tokens": 32,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "Write a sentence about a cat."}],
    }

    async def one() -> tuple[float, int, float]:
        start, first, tokens = time.perf_counter(), None, 0
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    event = json.loads(line[6:])
                    first = first or time.perf_counter() - start
                    if event.get("usage"):
                        tokens = event["usage"]["completion_tokens"]
        return first or 0.0, tokens, time.perf_counter() - start

    start = time.perf_counter()
    alone = [await one() for _ in range(2)]
    alone_rate = sum(t for _, t, _ in alone) / (time.perf_counter() - start)
    start = time.perf_counter()
    together = await asyncio.gather(*(one() for _ in range(8)))
    together_rate = sum(t for _, t, _ in together) / (time.perf_counter() - start)
    return {
        "tokens_per_s_one_stream": round(alone_rate, 1),
        "tokens_per_s_8_streams": round(together_rate, 1),
        "ratio": round(together_rate / alone_rate, 2) if alone_rate else None,
        "ttft": percentiles([f for f, _, _ in together]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--generator", default="smollm2")
    parser.add_argument("--classifier", default=None)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-concurrency", type=int, default=8)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import uvicorn

    from plmkit.serve import ServeSettings, create_app, served_models

    models = served_models(
        [args.encoder], [args.generator], [args.classifier] * bool(args.classifier)
    )
    settings = ServeSettings(backend=args.backend, max_concurrency=args.max_concurrency)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(models, settings), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            sys.exit("the server did not become ready in 300 s")
        time.sleep(0.5)
    try:
        report = asyncio.run(asyncio.wait_for(run(args, base), HARD_LIMIT_S))
    finally:
        server.should_exit = True
    report.update(
        models={
            "encoder": args.encoder,
            "generator": args.generator,
            "classifier": args.classifier,
        },
        backend=args.backend,
        max_concurrency=args.max_concurrency,
        machine=platform.machine(),
        python=platform.python_version(),
        cpus=len(os.sched_getaffinity(0)),
    )
    report["ok"] = all(
        not any(s.startswith("5") for s in report[phase]["statuses"])
        and report[phase]["lost_or_truncated"] == 0
        and report[phase]["differ_from_alone"] == 0
        and set(report[phase]["statuses"]) <= {"200", "429"}
        for phase in ("steady", "burst")
    )
    out = Path(args.out or Path(__file__).parent / "results" / "serve_load.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
