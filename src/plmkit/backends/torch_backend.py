"""Plain PyTorch backends: fp32, bf16 weights, and dynamic int8 (Linear layers).

bf16 means bf16 *weights* (`dtype=torch.bfloat16`), not autocast: on Zen4 autocast ran a
MiniLM classifier at 120 sentences/s against 670 for bf16 weights, because autocast casts
every weight on every call. Where bf16 is not native (AVX2) both are many times slower
than fp32, which is why `select.py` only offers bf16 where `hardware.native_bf16` holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
import torch

from plmkit import loading
from plmkit.backends.base import (
    CausalLMBackend,
    EncoderBackend,
    OnToken,
    Sampling,
    Task,
    config_context,
)
from plmkit.backends.sampling import pick_token

_GREEDY = {"do_sample": False, "temperature": None, "top_k": None, "top_p": None}
"""HF `generate` arguments for greedy decoding (None drops the model's sampling defaults)."""
Precision = Literal["fp32", "bf16", "int8"]
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "int8": None}  # None: shares loading.cached fp32


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8: Linear weights int8 with per-channel scales, activations per batch."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice, once per model
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig})


class TorchEncoder(EncoderBackend):
    def __init__(self, model: str, task: Task, precision: Precision = "fp32") -> None:
        self.name, self.task = f"torch-{precision}", task
        if task == "embed":
            network = loading.cached("encoder", model, _DTYPES[precision])
        else:
            network = loading.load_classifier(model, _DTYPES[precision])
        self.model = quantize_int8(network) if precision == "int8" else network
        self.config = network.config

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = self.model(
                input_ids=torch.from_numpy(np.ascontiguousarray(input_ids, dtype=np.int64)),
                attention_mask=torch.from_numpy(
                    np.ascontiguousarray(attention_mask, dtype=np.int64)
                ),
            )
        values = out.last_hidden_state if self.task == "embed" else out.logits
        return values.float().numpy()  # (B, T, H) or (B, C)


class TorchCausalLM(CausalLMBackend):
    def __init__(self, model: str, precision: Precision = "fp32") -> None:
        self.name = f"torch-{precision}"
        self.model = loading.cached("causal_lm", model, _DTYPES[precision])
        if precision == "int8":
            self.model = quantize_int8(self.model)
        eos = self.model.generation_config.eos_token_id
        self.eos_token_ids = frozenset(eos if isinstance(eos, list) else [eos])
        self.pad_token_id = self.model.generation_config.pad_token_id

    @property
    def context_size(self) -> int | None:
        """The positions the model was trained on (GPT-2's learned ones end there)."""
        return config_context(self.model.config)

    def stream(
        self, prompt_ids: Sequence[int], max_new_tokens: int, sampling: Sampling
    ) -> Iterator[int]:
        from transformers import DynamicCache

        generator = torch.Generator().manual_seed(sampling.seed or 0)
        history = list(prompt_ids)
        cache = DynamicCache()
        step_ids = torch.tensor([history])  # (1, T)
        with torch.inference_mode():  # one step at a time, reusing the KV cache
            for _ in range(self.room(len(history), max_new_tokens)):
                out = self.model(input_ids=step_ids, cache=cache, use_cache=True, logits_to_keep=1)
                token = pick_token(out.logits[0, -1], sampling, history, generator)
                yield token
                if token in self.eos_token_ids:
                    return
                history.append(token)
                step_ids = torch.tensor([[token]])  # (1, 1)

    batches = True

    def decode_batch(
        self,
        prompts: Sequence[Sequence[int]],
        limits: Sequence[int],
        sampling: Sampling,
        on_token: OnToken,
    ) -> None:
        """HF `generate` on left-padded prompts: one forward per step for all of them. A
        stopping criterion hands each step's tokens to `on_token` and stops rows per row."""
        from transformers import StoppingCriteria, StoppingCriteriaList

        width = max(len(p) for p in prompts)
        limits = [self.room(width, limit) for limit in limits]
        if max(limits) == 0:
            return
        ids, mask = self._left_padded(prompts, width)
        done = [limit == 0 for limit in limits]
        made = [0] * len(prompts)
        eos = self.eos_token_ids

        class Rows(StoppingCriteria):
            def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
                for row, token in enumerate(input_ids[:, -1].tolist()):  # (B,) the new tokens
                    if done[row]:
                        continue
                    made[row] += 1
                    stop = on_token(row, token)
                    done[row] = stop or token in eos or made[row] >= limits[row]
                return torch.tensor(done)

        kwargs = dict(_GREEDY)
        if not sampling.greedy:
            torch.manual_seed(sampling.seed or 0)
            kwargs = {
                "do_sample": True,
                "temperature": sampling.temperature,
                "top_k": sampling.top_k,
                "top_p": sampling.top_p,
            }
        if sampling.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = sampling.repetition_penalty
        with torch.inference_mode():
            self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max(limits),
                pad_token_id=self.pad_token_id,
                stopping_criteria=StoppingCriteriaList([Rows()]),
                **kwargs,
            )

    def greedy_batch(
        self, prompts: Sequence[Sequence[int]], max_new_tokens: int
    ) -> tuple[list[list[int]], list[float]]:
        """Greedy continuations of the prompts, decoded together (left-padded, one forward a
        step), and for each row the smallest gap between its top two logits on the way.
        Padding moves fp32 logits a little, so a row whose gap stayed wide is the
        continuation batch 1 gives (`auto` decodes its fp32 reference this way)."""
        width = max(len(p) for p in prompts)
        steps = self.room(width, max_new_tokens)
        if steps == 0:
            return [[] for _ in prompts], [float("inf")] * len(prompts)
        ids, mask = self._left_padded(prompts, width)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=steps,
                min_new_tokens=0,
                **_GREEDY,
                pad_token_id=self.pad_token_id,
                output_logits=True,
                return_dict_in_generate=True,
            )
        top2 = torch.stack(out.logits, 1).float().topk(2, -1).values  # (B, steps, 2)
        gaps = (top2[..., 0] - top2[..., 1]).tolist()
        outputs, smallest = [], []
        for row, new in enumerate(out.sequences[:, width:].tolist()):
            length = next((i + 1 for i, t in enumerate(new) if t in self.eos_token_ids), None)
            new = new[: length or len(new)]
            outputs.append(new)
            smallest.append(min(gaps[row][: len(new)], default=float("inf")))
        return outputs, smallest

    def _left_padded(
        self, prompts: Sequence[Sequence[int]], width: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, width) ids and attention mask of the prompts, padded on the left."""
        ids = torch.tensor([[self.pad_token_id] * (width - len(p)) + list(p) for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        return ids, mask

    def token_logprobs(self, ids: Sequence[int]) -> np.ndarray:
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([list(ids)])).logits[0, :-1].float()
        picked = logits.log_softmax(-1).gather(1, torch.tensor(ids[1:]).unsqueeze(1))
        return picked.squeeze(1).numpy()
