"""`plm generate`: greedy, sampling and beam search, stop strings, chat templates, streaming.

preprocess (chat template, prompt ids, only the flags the chosen strategy uses) -> _forward
(HF `model.generate` on torch backends, with an attention mask and pad = eos for GPT-2-style
models so no warnings fire; the engine's own token stream otherwise; decoded text streamed
through a callback) -> postprocess (the completion, cut at a stop string, and why it ended).
`prompt_ids` is also what the generation benchmark feeds its engines.

The context (prompt and new tokens together) is the backend's `context_size`: the positions
the model was trained on (smollm2: 8,192), or what llama.cpp was opened with (2,048). A
request for more new tokens than the context leaves is *capped*: finish_reason 'length' and
a note (in the result, and logged, so `plm generate` prints it on stderr before generating).
Asking for more than fits is asking for as much as fits, and a client cannot count the
model's tokens to ask for exactly that. OpenAI's API ends a generation that reaches the
context with 'length' too; HF `generate` only warns, then fails on GPT-2's learned positions.
A prompt that leaves no room is refused, naming its token count and the limit, as OpenAI
refuses it: no answer could be right. That is checked against the model's declared context
before `auto` measures backends, and against the chosen backend's after.

Ctrl-C during generation stops it cleanly: `generate` raises GenerationInterrupted, a
KeyboardInterrupt carrying the partial result (finish_reason 'interrupted'). Returning it
instead would let a script's loop over prompts swallow Ctrl-C and go on to the next one;
raising keeps Python's meaning of Ctrl-C, and `plm generate` catches it to print the partial
result, its stats and exit 130.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from plmkit import backends, loading
from plmkit.backends.base import config_context
from plmkit.config import GenerateConfig
from plmkit.errors import InvalidInputError, WrongModelKindError
from plmkit.pipelines.checks import require_kind
from plmkit.pipelines.text_stream import TextStreamer, between_pieces, cut_at_stop
from plmkit.validation import require_messages, require_texts

if TYPE_CHECKING:
    pass

DEFAULT_NEW_TOKENS = 64
log = logging.getLogger("plmkit")


@dataclass
class GenerateResult:
    prompt: str | list[dict]
    text: str
    """The completion only (prompt excluded, stop string cut)."""
    prompt_tokens: int
    new_tokens: int
    finish_reason: str
    """'stop' (eos or a stop string), 'length' or 'interrupted' (Ctrl-C)."""
    seconds: float
    first_token_seconds: float | None
    note: str | None = None
    """Why fewer new tokens than asked were allowed (the context is full), or None."""

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


class GenerationInterrupted(KeyboardInterrupt):
    """Ctrl-C during generation; `result` is what was generated until then."""

    def __init__(self, result: GenerateResult) -> None:
        super().__init__("generation interrupted")
        self.result = result


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
    """HF `generate`'s arguments; max_new_tokens as asked (`fit_context` caps it)."""
    if config.max_length is not None:
        if config.max_length <= prompt_tokens:
            raise InvalidInputError(
                f"max_length {config.max_length} leaves no room after the prompt's "
                f"{prompt_tokens} tokens",
                f"pass max_length above {prompt_tokens}, or use max_new_tokens",
            )
        kwargs: dict = {"max_new_tokens": config.max_length - prompt_tokens}
    else:
        kwargs = {"max_new_tokens": config.max_new_tokens or DEFAULT_NEW_TOKENS}
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
    streamer: TextStreamer,
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
    tokenizer = loading.cached("inference_tokenizer", model)  # no transformers once saved
    ids, kwargs = preprocess(prompt, tokenizer, config)
    declared = model_context(model)
    fit_context(len(ids), 1, declared, model)  # a prompt too long: said before auto measures
    engine = _engine(model, backend, config)
    if "stop_strings" in kwargs and getattr(engine, "model", None) is not None:
        kwargs["tokenizer"] = loading.cached("tokenizer", model)  # HF generate reads its vocab
    shorter = (engine.context_size or 0) < (declared or 0)  # llama.cpp opens 2,048 of 8,192
    kwargs["max_new_tokens"], note = fit_context(
        len(ids),
        kwargs["max_new_tokens"],
        engine.context_size,
        f"{model} on {engine.name}",
        f", or use --backend torch-fp32, which holds the model's {declared:,}" if shorter else "",
    )
    if note:
        log.warning(note)
    streamer = TextStreamer(tokenizer, on_text or (lambda _: None), config.stop)
    start = time.perf_counter()
    try:
        with between_pieces(streamer):
            new_ids = _forward(engine, ids, kwargs, config, streamer)
        interrupted = streamer.interrupt_pending  # during the last piece: it was shown
    except KeyboardInterrupt:  # Ctrl-C: keep what the streamer has seen
        new_ids, interrupted = list(streamer.ids), True
    seconds = time.perf_counter() - start
    text, finish_reason = postprocess(new_ids, tokenizer, config.stop, engine.eos_token_ids)
    if on_text is not None:
        streamer.end()
    first = streamer.first_token_at
    result = GenerateResult(
        prompt=prompt,
        text=text,
        prompt_tokens=len(ids),
        new_tokens=len(new_ids),
        finish_reason="interrupted" if interrupted else finish_reason,
        seconds=seconds,
        first_token_seconds=(first - start) if first else None,
        note=note,
    )
    if interrupted:
        raise GenerationInterrupted(result)
    return result


def model_context(model: str) -> int | None:
    """The context `model`'s config.json declares, read without loading the model."""
    return config_context(loading.config_values(model))


def fit_context(
    prompt_tokens: int,
    max_new_tokens: int,
    context: int | None,
    where: str,
    alternative: str = "",
) -> tuple[int, str | None]:
    """(new tokens the context leaves room for, a note when that is fewer than asked).

    A prompt that leaves no room is an error naming its size and the context's; `where`
    names the context in messages ('smollm2', 'smollm2 on llama-cpp'), `alternative` ends
    the error's fix (', or use ...').
    """
    if context is None:
        return max_new_tokens, None
    room = context - prompt_tokens
    if room <= 0:
        raise InvalidInputError(
            f"the prompt is {prompt_tokens:,} tokens, which leaves no room in the "
            f"{context:,}-token context of {where}",
            f"shorten the prompt to under {context:,} tokens{alternative}",
        )
    if max_new_tokens <= room:
        return max_new_tokens, None
    note = (
        f"generating at most {room:,} new tokens, not {max_new_tokens:,}: the context of "
        f"{where} holds {context:,} tokens, {prompt_tokens:,} of them the prompt"
    )
    return room, note


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
    streamer: TextStreamer,
) -> list[int]:
    """The new token ids (prompt excluded)."""
    lm = getattr(engine, "model", None)  # torch backends run HF generate (beam, stop strings)
    if lm is None:
        return _stream(engine, prompt_ids, kwargs["max_new_tokens"], config, streamer)
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
    completion, stopped = cut_at_stop(completion, stops)
    stopped = stopped or bool(new_ids and new_ids[-1] in eos_token_ids)
    return completion, "stop" if stopped else "length"
