"""`--backend auto`: the fastest installed backend that agrees with fp32, measured once.

For each candidate we time a few built-in sentences (encoders) or tokens (decoders) and
check it against torch fp32 on the same inputs:
- embeddings: the cosine of mean-pooled token states >= EMBED_MIN_COSINE for every text,
  both in length-sorted batches and in batches that mix short and long texts (torch-int8
  and onnx-int8 scale activations per batch: before the ONNX int8 engines had outlier
  channels, a 1-word text batched with a sentence came out at cosine 0.974 on
  onnx-int8-partial, whose mean over sorted batches was 0.993);
- classification: on the classifier's own labelled held-out rows when `plm finetune` left
  them (calibration.jsonl), accuracy within CLASSIFY_MAX_ACCURACY_CHANGE of fp32's; else
  argmax agreement >= CLASSIFY_MIN_AGREEMENT on the built-in sentences;
- generation: greedy chat answers to CHAT_QUESTIONS the same as fp32's on a share >=
  DECODE_MIN_CHAT_AGREEMENT (chat_agreement.py: perplexity alone passed an engine that
  answers "What is the capital of France?" with "L'Étoile, ..."); then perplexity of
  fp32's own greedy text, candidate / fp32 <= DECODE_MAX_PPL_RATIO.
An encoder engine that needs torch wins only when it is STARTUP_MARGIN faster than the
fastest passing engine that does not: it pays for a torch import at every process start.
The winner is cached in `cache_dir()/backends.json`, keyed by model (and its weights'
mtime), task, CPU, thread count and the versions of every engine, so later runs load only
the winner. Candidates that are not installed or fail to load are skipped with a note.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from plmkit.backends import registry
from plmkit.backends.base import CausalLMBackend, EncoderBackend, Sampling, Task
from plmkit.backends.calibration import (
    CALIBRATION_FILE,
    CHAT_QUESTIONS,
    PROMPTS,
    SENTENCES,
    chat_ids,
    labelled_rows,
)
from plmkit.backends.candidates import candidates
from plmkit.backends.chat_agreement import CHAT_TOKENS, allowed_changes, changed_answers
from plmkit.backends.timing import TIMED_BATCH_SIZE, TIMED_BATCHES, outputs_of, timed_in_turns
from plmkit.batching import padded_batches
from plmkit.paths import cache_dir, read_json, remember, weights_stamp
from plmkit.registry import resolve

log = logging.getLogger("plmkit")

EMBED_MIN_COSINE = 0.99
CLASSIFY_MIN_AGREEMENT = 0.97
"""Built-in sentences (no labels): 0.97 of 64 allows no changed label at all."""
CLASSIFY_MAX_ACCURACY_CHANGE = 0.005
"""With labelled held-out rows: accuracy within 0.5 points of fp32's ..."""
LABELLED_MIN_AGREEMENT = 0.98
"""... and at most 2% of labels changed. Flips are the direct measure of the damage: with
2% of 512 labels flipping both ways, the accuracy change alone has a sampling spread of
about 0.6 points, so beyond that the 0.5-point bound cannot be checked on these rows
(measured: int8 MiniLM flipped 2-3.5% and moved accuracy -0.9 to +1.4 points from one
held-out set to the next; bf16 flipped 0.1-0.2%)."""
STARTUP_MARGIN = 1.10
"""How much faster a torch engine must run than the fastest passing one without torch. `plm
encode` on the Zen 3 started in 0.85 s on onnx-fp32 and 6.4 s on torch-fp32 (transformers'
BERT imports torch._dynamo, torch.distributed, generation); auto had picked torch-fp32 at
229.8 texts/s over onnx-fp32's 227.1, and `plm bench coldstart` measured 5.2 s."""
DECODE_MAX_PPL_RATIO = 1.10
DECODE_TOKENS = 32
REFERENCE_TIE_GAP = 0.01
"""Logits: fp32's reference rows decoded in a batch count only where the top two stayed this
far apart (padding moved them 3e-5; `_reference_greedy`)."""
SCHEMA = 11  # bump when a backend or a check changes what it computes (11: onnx int8 v6)


@dataclass
class Choice:
    """The backend picked for a model and task, and the evidence."""

    name: str
    notes: list[str] = field(default_factory=list)
    measured: dict[str, dict] = field(default_factory=dict)
    """backend -> {speed, quality, ok} (or {error}); speed in texts/s or tokens/s."""
    batch_name: str | None = None
    """Decoders: the winner for several prompts at once (engines with real batching)."""


def _load_candidate(name: str, loaded: dict, build, measured: dict, notes: list):
    """A candidate backend, or None (with a note) when an optional engine fails to load.

    torch-fp32 is the reference: its error (a wrong model kind...) is the user's to see.
    """
    try:
        backend = loaded.get(name) or build(name)
    except Exception as error:  # noqa: BLE001 - a broken optional engine is skipped
        if name == "torch-fp32":
            raise
        measured[name] = {"error": f"{type(error).__name__}: {error}"[:300]}
        notes.append(f"{name} skipped: failed to load ({type(error).__name__})")
        return None
    loaded[name] = backend
    return backend


ENGINES = ("torch", "transformers", "onnxruntime", "ctranslate2", "llama_cpp_python")
"""Distributions whose versions are part of every decision's key ("-" when absent)."""


def _key(model: str, task: str, candidates: list[str]) -> str:
    from plmkit import loading
    from plmkit.hardware import cpu_info

    spec = resolve(model)
    identity = f"{spec.name}@{spec.revision}"
    if spec.source != "embedded":
        directory = loading.model_dir(spec)
        identity = f"{directory}|{weights_stamp(directory)}"
    info, versions = cpu_info(), {dist: registry.engine_version(dist) for dist in ENGINES}
    parts = [SCHEMA, identity, task, info.signature, info.threads, candidates, versions]
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _cache_path() -> Path:
    return cache_dir() / "backends.json"


def _read_cache() -> dict:
    return read_json(_cache_path())


def _write_cache(key: str, choice: Choice) -> None:
    remember(_cache_path(), key, asdict(choice))


# --- encoders ---------------------------------------------------------------------------


def _cosines(ref: list, out: list, batches: list[dict]) -> np.ndarray:
    """Each text's cosine between the mean-pooled token states of `ref` and `out`."""
    cosines = []
    for r, o, b in zip(ref, out, batches, strict=True):
        mask = b["attention_mask"][..., None].astype(np.float32)  # (B, T, 1)
        r_mean, o_mean = (r * mask).sum(1), (o * mask).sum(1)  # (B, H)
        dot = (r_mean * o_mean).sum(-1)
        norms = np.linalg.norm(r_mean, axis=-1) * np.linalg.norm(o_mean, axis=-1)
        cosines.append(dot / np.maximum(norms, 1e-12))
    return np.concatenate(cosines)


def _encoder_quality(task: Task, ref: list, out: list, batches: list[dict]) -> float:
    """Classification: the share of argmax labels equal to fp32's; embeddings: the lowest
    cosine of any text."""
    if task == "classify":
        agree = [np.argmax(r, -1) == np.argmax(o, -1) for r, o in zip(ref, out, strict=True)]
        return float(np.concatenate(agree).mean())
    return float(_cosines(ref, out, batches).min())


def mixed_batches(tokenizer: Any, ids: list[list[int]], size: int = 4) -> list[dict]:
    """The texts in their own order, `size` to a batch, padded: short texts share a batch
    with long ones (as in a server's dynamic batch or a short list passed to `encode`)."""
    batches = []
    for start in range(0, len(ids), size):
        padded = tokenizer.pad({"input_ids": ids[start : start + size]}, return_tensors="np")
        batches.append(
            {
                "input_ids": padded["input_ids"].astype(np.int64),
                "attention_mask": padded["attention_mask"].astype(np.int64),
            }
        )
    return batches


def _encoder_passes(task: Task, quality: float) -> bool:
    limit = CLASSIFY_MIN_AGREEMENT if task == "classify" else EMBED_MIN_COSINE
    return quality >= limit


def choose_encoder(model: str, task: Task, build: Any, loaded: dict[str, EncoderBackend]) -> Choice:
    """Measure the candidates (built with `build(name)`, kept in `loaded`) and pick one."""
    from plmkit import loading

    names, notes = candidates("encoder")
    key = _key(model, task, names)
    if (hit := _read_cache().get(key)) is not None:
        return Choice(**hit)
    if names == ["torch-fp32"]:
        choice = Choice("torch-fp32", notes)
        _write_cache(key, choice)
        return choice
    log.info("choosing a backend for %s (%s) once: measuring %s", model, task, ", ".join(names))
    tokenizer = loading.cached("tokenizer", model)
    labelled = labelled_rows(loading.model_dir(model)) if task == "classify" else None
    texts, labels = labelled if labelled else (list(SENTENCES) * 2, None)
    ids = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    padded = list(padded_batches(tokenizer, ids, TIMED_BATCH_SIZE))  # the same for every candidate
    batches = [{"input_ids": x, "attention_mask": mask} for _, x, mask in padded]
    gold = np.array([labels[i] for order, _, _ in padded for i in order]) if labels else None
    if gold is not None:
        notes.append(f"judged on {len(texts)} labelled held-out rows ({CALIBRATION_FILE})")
    mixed = mixed_batches(tokenizer, [list(x) for x in ids]) if task == "embed" else []
    measured: dict[str, dict] = {}
    reference: list = []
    mixed_reference: list = []
    timed: dict[str, EncoderBackend] = {}
    for name in names:
        backend = _load_candidate(name, loaded, build, measured, notes)
        if backend is None:
            continue
        outputs = outputs_of(backend, batches)
        timed[name] = backend
        if name == "torch-fp32":
            reference = outputs
        quality = _encoder_quality(task, reference, outputs, batches)
        if mixed:
            mixed_out = [backend.forward(b["input_ids"], b["attention_mask"]) for b in mixed]
            if name == "torch-fp32":
                mixed_reference = mixed_out
            quality = min(quality, float(_cosines(mixed_reference, mixed_out, mixed).min()))
        measured[name] = {"quality": round(quality, 4)}
        if gold is not None:
            accuracy = float((np.concatenate([o.argmax(-1) for o in outputs]) == gold).mean())
            measured[name]["accuracy"] = round(accuracy, 4)
            delta = accuracy - measured["torch-fp32"]["accuracy"]
            measured[name]["ok"] = (
                abs(delta) <= CLASSIFY_MAX_ACCURACY_CHANGE and quality >= LABELLED_MIN_AGREEMENT
            )
            if not measured[name]["ok"]:
                notes.append(
                    f"{name} rejected: accuracy {delta * 100:+.2f} points vs fp32, "
                    f"same label {quality:.1%}"
                )
            continue
        measured[name]["ok"] = _encoder_passes(task, quality)
        if not measured[name]["ok"]:
            notes.append(f"{name} rejected: agreement with fp32 {quality:.4f} too low")
    # timed on a quarter of the labelled rows' batches, spread over the lengths (all 512
    # rows, three rounds of five engines, took 30 s of a bench's classify scenario)
    picked = padded[:: max(1, len(padded) // TIMED_BATCHES)]
    timing = [ids[i] for order, _, _ in picked for i in order]
    for name, seconds in timed_in_turns(timed, tokenizer, timing).items():
        measured[name]["speed"] = round(len(timing) / seconds, 1)
    passing = {n: m["speed"] for n, m in measured.items() if m.get("ok")}
    choice = Choice(fastest_to_start(passing, notes), notes, measured)
    _write_cache(key, choice)
    for note in notes:
        log.info("note: %s", note)
    log.info("backend auto -> %s for %s (%s)", choice.name, model, task)
    return choice


def fastest_to_start(speeds: dict[str, float], notes: list[str]) -> str:
    """The fastest engine, unless it needs torch and one without torch is within
    STARTUP_MARGIN of it."""
    best = max(speeds, key=speeds.get)
    light = {name: speed for name, speed in speeds.items() if not name.startswith("torch-")}
    if best.startswith("torch-") and light:
        other = max(light, key=light.get)
        if speeds[best] < STARTUP_MARGIN * speeds[other]:
            notes.append(
                f"{other} picked over {best} ({speeds[other]:g} vs {speeds[best]:g}/s): "
                "within 10%, and it starts without importing torch"
            )
            return other
    return best


# --- decoders ---------------------------------------------------------------------------


def _has_real_batching(backend: CausalLMBackend) -> bool:
    return backend.batches


def _decoder_speed(backend: CausalLMBackend, prompt: list[int]) -> tuple[float, float]:
    greedy = Sampling()
    list(backend.stream(prompt, 2, greedy))  # warm-up
    start = time.perf_counter()
    count = sum(1 for _ in backend.stream(prompt, DECODE_TOKENS, greedy))
    single = count / (time.perf_counter() - start)
    if not _has_real_batching(backend):
        return single, single
    start = time.perf_counter()
    outs = backend.generate_batch([prompt] * 8, DECODE_TOKENS // 2, greedy)
    return single, sum(len(o) for o in outs) / (time.perf_counter() - start)


def _greedy(backend: CausalLMBackend, prompts: list[list[int]], tokens: int) -> list[list[int]]:
    return [list(backend.stream(p, tokens, Sampling())) for p in prompts]


def _mean_nll(backend: CausalLMBackend, prompts: list[list[int]], texts: list[list[int]]):
    """Per text, the mean negative log-likelihood of the tokens after its prompt."""
    return [
        -float(backend.token_logprobs(t)[len(p) - 1 :].mean())
        for p, t in zip(prompts, texts, strict=True)
    ]


def _reference_greedy(
    backend: CausalLMBackend, prompts: list[list[int]], tokens: int
) -> list[list[int]]:
    """fp32's greedy continuations, decoded together where the engine can say how close
    each row came to a tie (`greedy_batch`); a row whose top two logits ever came within
    REFERENCE_TIE_GAP is decoded again alone. smollm2 on the Zen 3: the 28 chat answers and
    2 prompts in 10 s instead of 30, all 30 the same as alone; one answer had a 5e-5 gap
    (decoded again), padding moved logits by 3e-5."""
    if not hasattr(backend, "greedy_batch"):
        return _greedy(backend, prompts, tokens)
    outputs, gaps = backend.greedy_batch(prompts, tokens)
    return [
        out if gap >= REFERENCE_TIE_GAP else list(backend.stream(prompt, tokens, Sampling()))
        for prompt, out, gap in zip(prompts, outputs, gaps, strict=True)
    ]


def _reference(backend: CausalLMBackend, prompts: list, questions: list) -> dict[str, list]:
    """fp32's greedy texts for PROMPTS (and their NLL), and its chat answers."""
    continuations = _reference_greedy(backend, prompts, DECODE_TOKENS)
    texts = [p + c for p, c in zip(prompts, continuations, strict=True)]
    return {
        "texts": texts,
        "nll": _mean_nll(backend, prompts, texts),
        "answers": _reference_greedy(backend, questions, CHAT_TOKENS),
    }


def choose_decoder(model: str, build: Any, loaded: dict[str, CausalLMBackend]) -> Choice:
    """Measure the decoder candidates (torch-fp32 first, the reference) and pick the
    fastest that passes, for one stream (`name`) and for batches (`batch_name`)."""
    from plmkit import loading

    names, notes = candidates("decoder")
    key = _key(model, "generate", names)
    if (hit := _read_cache().get(key)) is not None:
        return Choice(**hit)
    if names == ["torch-fp32"]:
        choice = Choice("torch-fp32", notes, batch_name="torch-fp32")
        _write_cache(key, choice)
        return choice
    log.info(
        "choosing a backend for %s once (a minute or two, cached after): measuring %s",
        model,
        ", ".join(names),
    )
    tokenizer = loading.cached("tokenizer", model)
    prompts = [tokenizer(p)["input_ids"] for p in PROMPTS]
    questions = [chat_ids(tokenizer, question) for question, _ in CHAT_QUESTIONS]
    measured: dict[str, dict] = {}
    reference: dict[str, list] = {}
    for name in names:
        backend = _load_candidate(name, loaded, build, measured, notes)
        if backend is None:
            continue
        if name == "torch-fp32":
            reference = _reference(backend, prompts, questions)
            changed, asked = [], len(questions)
        else:
            changed, asked = changed_answers(backend, tokenizer, questions, reference["answers"])
        measured[name] = {"chat_changed": len(changed), "chat_asked": asked, "ok": False}
        if len(changed) > allowed_changes(len(questions)):  # rejected: no need to time it
            question, answer = changed[0]
            notes.append(
                f"{name} rejected: {len(changed)} of {asked} chat answers asked differ from "
                f"fp32's (first: {question!r} -> {answer!r})"
            )
            continue
        nll = _mean_nll(backend, prompts, reference["texts"])
        ratio = float(np.exp(np.mean(nll) - np.mean(reference["nll"])))
        single, batched = _decoder_speed(backend, prompts[0])
        measured[name].update(
            speed=round(single, 1),
            batch_speed=round(batched, 1),
            quality=round(ratio, 4),
            ok=ratio <= DECODE_MAX_PPL_RATIO,
        )
        if not measured[name]["ok"]:
            notes.append(f"{name} rejected: perplexity {ratio:.3f}x fp32's")
    passing = [n for n, m in measured.items() if m.get("ok")]
    choice = Choice(
        max(passing, key=lambda n: measured[n]["speed"]),
        notes,
        measured,
        batch_name=max(passing, key=lambda n: measured[n]["batch_speed"]),
    )
    _write_cache(key, choice)
    for note in notes:
        log.info("note: %s", note)
    log.info("backend auto -> %s (batches: %s) for %s", choice.name, choice.batch_name, model)
    return choice


def cached_decoder_choice(model: str) -> Choice | None:
    """The decision `auto` has cached for this decoder here, or None; never measures."""
    names, _ = candidates("decoder")
    hit = _read_cache().get(_key(model, "generate", names))
    return Choice(**hit) if hit is not None else None
