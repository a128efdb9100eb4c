"""CTranslate2 int8 decoders: a wheel-only engine with real batched generation.

The Hugging Face directory is converted once (`loading.ct2_model_dir`); CTranslate2 then
takes token *strings*, so ids go through the tokenizer's vocabulary both ways.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from plmkit import loading
from plmkit.backends.base import CausalLMBackend, OnToken, Sampling, config_context
from plmkit.hardware import cpu_info


def _sampling_kwargs(sampling: Sampling) -> dict:
    kwargs: dict = {"repetition_penalty": sampling.repetition_penalty}
    if sampling.greedy:
        kwargs["sampling_topk"] = 1
    else:
        kwargs.update(
            sampling_topk=sampling.top_k,  # 0 = no limit in CTranslate2 too
            sampling_topp=sampling.top_p,
            sampling_temperature=sampling.temperature,
        )
    return kwargs


class CT2CausalLM(CausalLMBackend):
    def __init__(self, model: str, quantization: str = "int8") -> None:
        import ctranslate2

        self.name = f"ct2-{quantization}"
        self.tokenizer = loading.load_tokenizer(model)
        generation = loading.load_config(model)
        self._context = config_context(generation)
        eos = getattr(generation, "eos_token_id", None)
        eos = eos if isinstance(eos, list) else [eos] if eos is not None else []
        if self.tokenizer.eos_token_id is not None:
            eos.append(self.tokenizer.eos_token_id)
        self.eos_token_ids = frozenset(eos)
        self.generator = ctranslate2.Generator(
            str(loading.ct2_model_dir(model, quantization)),
            device="cpu",
            compute_type=quantization,
            intra_threads=cpu_info().threads,
        )
        self._ctranslate2 = ctranslate2

    @property
    def context_size(self) -> int | None:
        """The positions in the model's Hugging Face config (CTranslate2 keeps no limit)."""
        return self._context

    def _tokens(self, ids: Sequence[int]) -> list[str]:
        return self.tokenizer.convert_ids_to_tokens(list(ids))

    def _seed(self, sampling: Sampling) -> None:
        if not sampling.greedy:
            self._ctranslate2.set_random_seed(sampling.seed or 0)

    def stream(
        self, prompt_ids: Sequence[int], max_new_tokens: int, sampling: Sampling
    ) -> Iterator[int]:
        new_tokens = self.room(len(prompt_ids), max_new_tokens)
        if new_tokens == 0:
            return
        self._seed(sampling)
        steps = self.generator.generate_tokens(
            self._tokens(prompt_ids),
            max_length=new_tokens,
            end_token=sorted(self.eos_token_ids),
            **_sampling_kwargs(sampling),
        )
        for step in steps:
            yield step.token_id
            if step.token_id in self.eos_token_ids:
                return

    batches = True

    def decode_batch(
        self,
        prompts: Sequence[Sequence[int]],
        limits: Sequence[int],
        sampling: Sampling,
        on_token: OnToken,
    ) -> None:
        """CTranslate2's batched generation; its per-step callback hands each token on and
        stops a row when it returns True."""
        limits = [self.room(max(len(p) for p in prompts), limit) for limit in limits]
        if max(limits) == 0:
            return
        made = [0] * len(prompts)

        def step(result) -> bool:
            row = result.batch_id
            if made[row] >= limits[row]:
                return True
            made[row] += 1
            stop = on_token(row, result.token_id)
            return stop or result.token_id in self.eos_token_ids or made[row] >= limits[row]

        self._seed(sampling)
        self.generator.generate_batch(
            [self._tokens(p) for p in prompts],
            max_length=max(limits),
            include_prompt_in_result=False,
            end_token=sorted(self.eos_token_ids),
            return_end_token=True,
            callback=step,
            **_sampling_kwargs(sampling),
        )

    def close(self) -> None:
        """Stop CTranslate2's worker threads now: left to interpreter exit they can abort it."""
        self.generator.unload_model()

    def token_logprobs(self, ids: Sequence[int]) -> np.ndarray:
        (result,) = self.generator.score_batch([self._tokens(ids)])
        return np.asarray(result.log_probs, dtype=np.float32)
