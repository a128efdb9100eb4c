"""The next-token rules shared by the torch and llama.cpp (batched) decoders."""

import torch

from plmkit.backends import Sampling
from plmkit.backends.sampling import pick_token


def test_pick_token_rules():
    logits = torch.tensor([1.0, 3.0, 2.0, -1.0])
    generator = torch.Generator().manual_seed(0)
    assert pick_token(logits.clone(), Sampling(), [], generator) == 1
    top1 = Sampling(greedy=False, top_k=1)
    assert {pick_token(logits.clone(), top1, [], generator) for _ in range(10)} == {1}
    nucleus = Sampling(greedy=False, top_k=0, top_p=0.5)
    assert {pick_token(logits.clone(), nucleus, [], generator) for _ in range(10)} == {1}
    penalised = Sampling(repetition_penalty=10.0)
    assert pick_token(logits.clone(), penalised, [1], generator) == 2


def test_sampling_is_seeded_and_spreads_over_the_top_k():
    logits = torch.tensor([2.0, 2.0, 2.0, -9.0])
    sample = Sampling(greedy=False, top_k=3)

    def draws(seed: int) -> list[int]:
        generator = torch.Generator().manual_seed(seed)
        return [pick_token(logits.clone(), sample, [], generator) for _ in range(30)]

    assert draws(3) == draws(3)
    assert set(draws(3)) == {0, 1, 2}
