"""The serve load test on loopback (`plm bench serve`, `bench/serve_load.py`): steady mixed
traffic, a burst past capacity, and issue #11's two throughput ratios, as one JSON report.

It starts the server itself (a `plm serve` process on 127.0.0.1 and a free port, as it
would run in production), so nothing but loopback is touched, and it stops by itself:
every phase is bounded in requests and time.
Phases: `alone` (each distinct request once, one at a time: the reference answers), `steady`
(`rate` requests/s for `seconds` of embeddings / classify / short greedy chat), `burst`
(4 x max_concurrency requests at once), `embeddings` (16 concurrent clients vs the same
requests one at a time) and `chat` (8 concurrent streams vs one stream, per generator
backend: a server of its own for each extra backend). Checks: no 5xx, no lost or truncated
answer, only 429 beyond capacity, every answer identical to the same request sent alone
(embeddings within 1e-4, or cosine >= 0.99 on the int8 engines, whose activation scales
depend on the batch), the server's RSS before and after; the machine's load average beside it all,
since on a shared machine only ratios from the same run mean much.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from plmkit.errors import PlmError
from plmkit.serve.process import rss_mb, running_server

HARD_LIMIT_S = 900
TEXTS = [
    "The cat sat on the mat.",
    "A gorgeous, moving film about a king.",
    "The plot was a tedious mess and the acting was worse.",
    "Someone plays an instrument.",
    "The stock market fell sharply today.",
    "Once upon a time there was a queen who loved music.",
]
TARGETS = {"embeddings_ratio": 3.0, "chat_ratio": 2.0}
"""Issue #11: 16 embedding clients >= 3x one at a time; 8 chat streams >= 2x one stream."""


@dataclass
class LoadOptions:
    encoder: str = "minilm"
    generator: str = "smollm2"
    classifier: str | None = None
    backend: str = "auto"
    """The engine of the main server (every model)."""
    chat_backends: list[str] = field(default_factory=list)
    """More generator engines whose chat streams are measured, each on a server of its own."""
    rate: float = 50
    seconds: float = 30
    max_concurrency: int = 8
    chat_tokens: int = 32
    embedding_requests: int = 480
    """Sent one at a time, then by 16 clients (96 left the 16-client figure to a few batches)."""


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def percentiles(seconds: list[float]) -> dict:
    if not seconds:
        return {}
    ordered = sorted(seconds)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99), "n": len(ordered)}


def requests_for(options: LoadOptions) -> list[tuple[str, dict]]:
    mix = [("/v1/embeddings", {"model": options.encoder, "input": text}) for text in TEXTS]
    if options.classifier:
        mix += [("/v1/classify", {"model": options.classifier, "input": t}) for t in TEXTS[:3]]
    chat = {"model": options.generator, "max_tokens": 8, "temperature": 0}
    mix += [
        ("/v1/chat/completions", {**chat, "messages": [{"role": "user", "content": t}]})
        for t in TEXTS[:2]
    ]
    return mix


INT8_EMBEDDING_COSINE = 0.99
"""The int8 engines quantise activations per batch, so a text's embedding moves with its
neighbours (README: cosine 0.990 alone vs batched on onnx-int8): their stated tolerance.
Every other engine must match alone within 1e-4."""


def same(path: str, got: dict, want: dict, engine: str = "") -> bool:
    import numpy as np

    if path == "/v1/embeddings":
        a, b = (np.asarray(x["data"][0]["embedding"], dtype=np.float64) for x in (got, want))
        if a.shape != b.shape:
            return False
        if "int8" in engine:
            cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0))
            return cosine >= INT8_EMBEDDING_COSINE
        return bool(np.allclose(a, b, atol=1e-4))
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


def tally(results, mix, reference, engines: dict[str, str] | None = None) -> dict:
    """Status counts, lost answers and answers that differ from alone (by route), latency.
    `engines`: model id -> the engine serving it, for its stated tolerance."""
    engines = engines or {}
    statuses: dict[str, int] = {}
    lost = 0
    differ: dict[str, int] = {}
    for index, (status, data, _) in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        path, body = mix[index]
        if status == 200 and data is None:
            lost += 1
        elif status == 200 and not same(
            path, data, reference[index], engines.get(body["model"], "")
        ):
            differ[path] = differ.get(path, 0) + 1
    seconds = [s for _, (status, _, s) in results if status == 200]
    return {
        "statuses": statuses,
        "lost_or_truncated": lost,
        "differ_from_alone": sum(differ.values()),
        "differ_by_route": differ,
        "latency": percentiles(seconds),
    }


def _client(base: str):
    import httpx

    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    return httpx.AsyncClient(base_url=base, timeout=300, limits=limits)


async def mixed(
    options: LoadOptions, base: str, progress: Callable[[str], None], pid: int | str = "self"
) -> dict:
    mix = requests_for(options)
    async with _client(base) as client:
        reference = []
        for path, body in mix:
            status, data, _ = await send(client, path, body)
            if status != 200:
                raise PlmError(f"{path} answered {status} alone: {data}", "see the server log")
            reference.append(data)
        listed = (await client.get("/v1/models")).json()["data"]
        engines = {m["id"]: m.get("backend", "") for m in listed}
        report: dict = {"engines": engines, "rss_mb_before": round(rss_mb(pid), 1)}

        progress(f"steady: {options.rate:g} requests/s for {options.seconds:g} s")
        tasks, start = [], time.perf_counter()
        total = int(options.rate * options.seconds)
        for n in range(total):
            delay = start + n / options.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            index = n % len(mix)
            tasks.append((index, asyncio.create_task(send(client, *mix[index]))))
        steady = [(i, await t) for i, t in tasks]
        report["steady"] = {
            "rate": options.rate,
            "seconds": options.seconds,
            "requests": total,
            "wall_s": round(time.perf_counter() - start, 2),
            **tally(steady, mix, reference, engines),
        }

        burst_n = 4 * options.max_concurrency
        progress(f"burst: {burst_n} requests at once")
        picks = [n % len(mix) for n in range(burst_n)]
        burst = await asyncio.gather(*(send(client, *mix[i]) for i in picks))
        report["burst"] = {
            "requests": burst_n,
            **tally(list(zip(picks, burst, strict=True)), mix, reference, engines),
        }
        progress("embeddings: one at a time, then 16 clients")
        report["embeddings"] = await embeddings(client, mix, options.embedding_requests)
        report["rss_mb_after"] = round(rss_mb(pid), 1)
    return report


async def embeddings(client, mix: list[tuple[str, dict]], requests: int) -> dict:
    embed = [mix[i % len(TEXTS)] for i in range(requests)]
    latencies_alone: list[float] = []
    start = time.perf_counter()
    for path, body in embed:
        latencies_alone.append((await send(client, path, body))[2])
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
    return {
        "requests": len(embed),
        "requests_per_s_alone": round(one_at_a_time, 1),
        "requests_per_s_16_clients": round(concurrent, 1),
        "ratio": round(concurrent / one_at_a_time, 2),
        "latency_alone": percentiles(latencies_alone),
        "latency_16_clients": percentiles(latencies),
    }


async def chat_streams(base: str, options: LoadOptions) -> dict:
    body = {
        "model": options.generator,
        "max_tokens": options.chat_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "Write a sentence about a cat."}],
    }

    statuses: dict[str, int] = {}
    errors: list[str] = []

    async def one(client) -> tuple[float, int, float, str]:
        start, first, tokens, text = time.perf_counter(), None, 0, []
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
            if response.status_code != 200:  # say why, instead of a stream of nothing
                errors.append((await response.aread()).decode("utf-8", "replace")[:300])
            async for line in response.aiter_lines():
                if line.startswith("data: {"):
                    event = json.loads(line[6:])
                    first = first or time.perf_counter() - start
                    if event.get("usage"):
                        tokens = event["usage"]["completion_tokens"]
                    for choice in event.get("choices", []):
                        text.append(choice.get("delta", {}).get("content") or "")
        return first or 0.0, tokens, time.perf_counter() - start, "".join(text)

    async with _client(base) as client:
        await one(client)  # warm: the first stream pays for nothing the others do not
        start = time.perf_counter()
        alone = [await one(client) for _ in range(3)]
        alone_rate = sum(t for _, t, _, _ in alone) / (time.perf_counter() - start)
        start = time.perf_counter()
        together = await asyncio.gather(*(one(client) for _ in range(8)))
        together_rate = sum(t for _, t, _, _ in together) / (time.perf_counter() - start)
    return {
        "tokens_per_stream": options.chat_tokens,
        "tokens_per_s_one_stream": round(alone_rate, 1),
        "tokens_per_s_8_streams": round(together_rate, 1),
        "ratio": round(together_rate / alone_rate, 2) if alone_rate else None,
        "ttft_one_stream": percentiles([f for f, _, _, _ in alone]),
        "ttft_8_streams": percentiles([f for f, _, _, _ in together]),
        "streams_equal_alone": len({t for *_, t in [*alone, *together]}) == 1,
        "statuses": statuses,
        "errors": errors[:3],
    }


def run_load_test(options: LoadOptions, progress: Callable[[str], None] = lambda _: None) -> dict:
    """The whole load test; its report (JSON-ready), `ok` and `targets` included."""
    from plmkit.hardware import cpu_info
    from plmkit.serve.models import served_models

    report: dict = {"options": asdict(options), "loadavg_before": loadavg()}
    served_models(  # checked here first: a bad model is one line, not a server's log
        [options.encoder], [options.generator], [options.classifier] * bool(options.classifier)
    )
    models = {"encoder": [options.encoder], "generator": [options.generator]}
    if options.classifier:
        models["classifier"] = [options.classifier]
    names = ", ".join(name for names in models.values() for name in names)
    progress(f"starting `plm serve` ({names} on {options.backend})")
    with running_server(models, options.backend, options.max_concurrency) as (base, pid):
        work = mixed(options, base, progress, pid)
        report.update(asyncio.run(asyncio.wait_for(work, HARD_LIMIT_S)))
        progress(f"chat: one stream, then 8 streams ({options.backend})")
        chat = {options.backend: asyncio.run(chat_streams(base, options))}
    for backend in options.chat_backends:
        if backend in chat:
            continue
        progress(f"chat: one stream, then 8 streams ({backend}, a server of its own)")
        generator = {"generator": [options.generator]}
        with running_server(generator, backend, options.max_concurrency) as (base, _):
            chat[backend] = asyncio.run(chat_streams(base, options))
    report["chat"] = chat
    report["loadavg_after"] = loadavg()
    cpu = cpu_info()
    report["machine"] = {
        "cpu": cpu.model,
        "cpus": len(os.sched_getaffinity(0)),
        "torch_threads": cpu.threads,
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    report["ok"] = all(
        not any(s.startswith("5") for s in report[phase]["statuses"])
        and report[phase]["lost_or_truncated"] == 0
        and report[phase]["differ_from_alone"] == 0
        and set(report[phase]["statuses"]) <= {"200", "429"}
        for phase in ("steady", "burst")
    ) and all(set(c["statuses"]) == {"200"} for c in chat.values())
    report["targets"] = {
        "embeddings_ratio": {"want": TARGETS["embeddings_ratio"],
                             "got": report["embeddings"]["ratio"]},
        "chat_ratio": {"want": TARGETS["chat_ratio"],
                       "got": {name: c["ratio"] for name, c in chat.items()}},
    }  # fmt: skip
    return report


def quick_options(options: LoadOptions) -> LoadOptions:
    """Small counts for a smoke run (`plm bench serve --quick`): numbers are then only
    indicative."""
    return replace(options, rate=10, seconds=3, chat_tokens=8, embedding_requests=96)


def format_load_report(report: dict) -> str:
    """A few lines for a terminal: the checks, the two ratios and their latencies."""
    embeddings = report["embeddings"]
    lines = [
        f"load test {'ok' if report['ok'] else 'FAILED'}: steady {report['steady']['statuses']}"
        f", burst {report['burst']['statuses']}, load {report['loadavg_before']} -> "
        f"{report['loadavg_after']} ({report['machine']['cpu']})",
        f"embeddings: {embeddings['requests_per_s_alone']} req/s one at a time, "
        f"{embeddings['requests_per_s_16_clients']} with 16 clients ({embeddings['ratio']}x, "
        f"target {TARGETS['embeddings_ratio']:g}x); "
        f"p95 {embeddings['latency_16_clients']['p95_ms']} ms",
    ]
    for backend, chat in report["chat"].items():
        lines.append(
            f"chat on {backend}: {chat['tokens_per_s_one_stream']} tok/s one stream, "
            f"{chat['tokens_per_s_8_streams']} with 8 ({chat['ratio']}x, target "
            f"{TARGETS['chat_ratio']:g}x); TTFT p50/p95 {chat['ttft_8_streams']['p50_ms']}/"
            f"{chat['ttft_8_streams']['p95_ms']} ms"
            + (f"; answers {chat['statuses']}: {chat['errors'][0][:120]}" if chat["errors"] else "")
        )
    return "\n".join(lines)
