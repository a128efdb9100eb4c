"""`plm generate`: greedy, sampling and beam search, stop strings, chat templates, streaming.

preprocess (chat template, prompt ids, only the flags the chosen strategy uses) -> _forward
(HF `model.generate` on torch backends, with an attention mask and pad = eos for GPT-2-style
models so no warnings fire; the engine's own token stream otherwise; decoded text streamed
through a callback) -> postprocess (the completion, cut at a stop string, and why it ended).
`prompt_ids` is also what the generation benchmark feeds its engines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from plmkit import backends, loading
from plmkit.config import GenerateConfig
from plmkit.errors import InvalidInputError, WrongModelKindError
from plmkit.pipelines.checks import require_kind
from plmkit.validation import require_messages, require_texts

if TYPE_CHECKING:
    import torch

DEFAULT_NEW_TOKENS = 64


@dataclass
class GenerateResult:
    prompt: str | list[dict]
    text: str
    """The completion only (prompt excluded, stop string cut)."""
    prompt_tokens: int
    new_tokens: int
    finish_reason: str
    """'stop' (eos or a stop string) or 'length'."""
    seconds: float
    first_token_seconds: float | None

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


def build_prompt(prompt: str | list[dict], tokenizer: Any, config: GenerateConfig) -> str:
    """The text the model sees: the raw prompt, or the chat template applied to it.

    `prompt` may also be a list of chat messages ({"role", "content"}), as the server's
    /v1/chat/completions receives them.
    """
    if isinstance(prompt, str) and not config.chat:
        return prompt
    if not getattr(tokenizer, "chat_template", None):
        raise WrongModelKindError(
            "this model has no chat template, so --chat cannot be used",
            "drop --chat, or use an instruct model such as --model smollm2",
        )
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    if config.system:
        messages.insert(0, {"role": "system", "content": config.system})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def prompt_ids(prompt: str | list[dict], tokenizer: Any, config: GenerateConfig) -> list[int]:
    """The token ids the model sees. A chat template writes its own special tokens, so
    none are added to a templated prompt."""
    text = build_prompt(prompt, tokenizer, config)
    chat = config.chat or not isinstance(prompt, str)
    return tokenizer(text, add_special_tokens=not chat)["input_ids"]


def _generation_kwargs(config: GenerateConfig, prompt_tokens: int) -> dict:
    kwargs: dict = {}
    if config.max_length is not None:
        if config.max_length <= prompt_tokens:
            raise InvalidInputError(
                f"max_length {config.max_length} leaves no room after the prompt's "
                f"{prompt_tokens} tokens",
                f"pass max_length above {prompt_tokens}, or use max_new_tokens",
            )
        kwargs["max_length"] = config.max_length
    else:
        kwargs["max_new_tokens"] = config.max_new_tokens or DEFAULT_NEW_TOKENS
    if config.strategy == "sample":
        kwargs.update(
            do_sample=True, temperature=config.temperature, top_k=config.top_k, top_p=config.top_p
        )
    else:
        kwargs.update(do_sample=False, temperature=None, top_k=None, top_p=None)
    if config.strategy == "beam":
        kwargs.update(num_beams=config.num_beams, early_stopping=True)
    if config.repetition_penalty != 1.0:
        kwargs["repetition_penalty"] = config.repetition_penalty
    return kwargs


class _CallbackStreamer:
    """A transformers streamer that decodes new tokens and hands finished text to `on_text`.

    Text is emitted only up to the last space or newline, so multi-token words and
    multi-byte characters arrive whole; what is held back is flushed at the end.
    """

    def __init__(self, tokenizer, on_text: Callable[[str], None], stops: list[str]) -> None:
        self.tokenizer, self.on_text, self.stops = tokenizer, on_text, stops
        self.hold = max((len(s) for s in stops), default=1) - 1  # a stop may be half-made
        self.prompt_pending = True  # HF generate's first put() carries the prompt
        self.ids: list[int] = []
        self.emitted = 0
        self.stopped = False
        self.first_token_at: float | None = None

    def put(self, value: torch.Tensor) -> None:
        """transformers' streamer call: the prompt first, then each new token."""
        if self.prompt_pending:
            self.prompt_pending = False
            return
        self.add(value.flatten().tolist())

    def add(self, ids: list[int]) -> None:
        """New token ids (engines without HF generate call this directly)."""
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        if self.stopped:
            return
        self.ids.extend(ids)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        text, self.stopped = _cut_at_stop(text, self.stops)
        cut = len(text) if self.stopped else max(text.rfind(" "), text.rfind("\n"))
        cut = cut if self.stopped else min(cut, len(text) - self.hold)
        if cut > self.emitted and not text[:cut].endswith("\ufffd"):
            self.on_text(text[self.emitted : cut])
            self.emitted = cut

    def end(self) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        text, _ = _cut_at_stop(text, self.stops)
        if len(text) > self.emitted:
            self.on_text(text[self.emitted :])
        self.emitted = len(text)


def _cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    hits = [text.find(s) for s in stops if s in text]
    return (text[: min(hits)], True) if hits else (text, False)


def _engine(model: str, backend: str, config: GenerateConfig) -> backends.CausalLMBackend:
    """The decoder backend; beam search needs HF generate, so it runs on torch."""
    if config.strategy != "beam":
        return backends.load_causal_lm_backend(model, backend)
    if backend == "auto":
        backend = "torch-fp32"
    engine = backends.load_causal_lm_backend(model, backend)
    if getattr(engine, "model", None) is None:
        raise InvalidInputError(
            f"beam search is not available on backend '{engine.name}'",
            "use --backend torch-fp32 (or auto) with --strategy beam, or greedy/sample",
        )
    return engine


def _sampling(config: GenerateConfig) -> backends.Sampling:
    return backends.Sampling(
        greedy=config.strategy == "greedy",
        temperature=config.temperature,
        top_k=config.top_k,
        top_p=config.top_p,
        repetition_penalty=config.repetition_penalty,
        seed=config.seed,
    )


def _stream(
    engine: backends.CausalLMBackend,
    prompt_ids: list[int],
    max_new_tokens: int,
    config: GenerateConfig,
    streamer: _CallbackStreamer,
) -> list[int]:
    """New ids from a non-torch engine, fed to `streamer`; stops at a stop string."""
    new_ids: list[int] = []
    for token in engine.stream(prompt_ids, max_new_tokens, _sampling(config)):
        new_ids.append(token)
        streamer.add([token])
        if streamer.stopped:
            break
    return new_ids


def generate(
    prompt: str | list[dict],
    model: str = "smollm2",
    config: GenerateConfig | None = None,
    on_text: Callable[[str], None] | None = None,
    backend: str = "auto",
) -> GenerateResult:
    """Continue `prompt` (a text, or chat messages). `on_text` receives text as it is
    produced (greedy/sample only)."""
    if isinstance(prompt, str):
        (prompt,) = require_texts(prompt, "prompt")
    else:
        prompt = require_messages(prompt)
        config = replace(config or GenerateConfig(), chat=True)
    config = (config or GenerateConfig()).validate()
    if on_text is not None and config.strategy == "beam":
        raise InvalidInputError(
            "streaming is not possible with beam search (beams change until the end)",
            "use --no-stream with --strategy beam, or greedy/sample",
        )
    require_kind(model, "decoder", "generate")  # before auto measures decoder backends
    tokenizer = loading.cached("tokenizer", model)
    engine = _engine(model, backend, config)
    ids, kwargs = preprocess(prompt, tokenizer, config)
    streamer = _CallbackStreamer(tokenizer, on_text or (lambda _: None), config.stop)
    start = time.perf_counter()
    new_ids = _forward(engine, ids, kwargs, config, streamer)
    seconds = time.perf_counter() - start
    text, finish_reason = postprocess(new_ids, tokenizer, config.stop, engine.eos_token_ids)
    if on_text is not None:
        streamer.end()
    first = streamer.first_token_at
    return GenerateResult(
        prompt=prompt,
        text=text,
        prompt_tokens=len(ids),
        new_tokens=len(new_ids),
        finish_reason=finish_reason,
        seconds=seconds,
        first_token_seconds=(first - start) if first else None,
    )


def preprocess(
    prompt: str | list[dict], tokenizer: Any, config: GenerateConfig
) -> tuple[list[int], dict]:
    """The prompt's ids and the HF `generate` keyword arguments for `config`."""
    ids = prompt_ids(prompt, tokenizer, config)
    kwargs = _generation_kwargs(config, len(ids))
    if config.stop:
        kwargs.update(stop_strings=config.stop, tokenizer=tokenizer)
    return ids, kwargs


def _forward(
    engine: backends.CausalLMBackend,
    prompt_ids: list[int],
    kwargs: dict,
    config: GenerateConfig,
    streamer: _CallbackStreamer,
) -> list[int]:
    """The new token ids (prompt excluded)."""
    lm = getattr(engine, "model", None)  # torch backends run HF generate (beam, stop strings)
    if lm is None:
        limit = kwargs.get("max_new_tokens") or kwargs["max_length"] - len(prompt_ids)
        return _stream(engine, prompt_ids, limit, config, streamer)
    import torch  # only here: llama.cpp / CTranslate2 start faster without it

    if config.seed is not None:
        torch.manual_seed(config.seed)
    with torch.inference_mode():
        output = lm.generate(
            input_ids=torch.tensor([prompt_ids]),
            attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
            **kwargs,
            pad_token_id=lm.generation_config.pad_token_id,
            streamer=streamer if config.strategy != "beam" else None,
        )  # (1, P + N)
    return output[0, len(prompt_ids) :].tolist()


def postprocess(
    new_ids: list[int], tokenizer: Any, stops: list[str], eos_token_ids: frozenset[int]
) -> tuple[str, str]:
    """(completion cut at a stop string, finish reason: 'stop' or 'length')."""
    completion = tokenizer.decode(new_ids, skip_special_tokens=True)
    completion, stopped = _cut_at_stop(completion, stops)
    stopped = stopped or bool(new_ids and new_ids[-1] in eos_token_ids)
    return completion, "stop" if stopped else "length"
