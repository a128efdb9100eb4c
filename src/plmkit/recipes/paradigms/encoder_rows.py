"""The encoder used without fine-tuning it as a classifier: embedding similarity (zero-shot),
frozen embeddings + logistic regression, and SetFit.

SetFit is the algorithm of Tunstall et al. 2022 (the `setfit` library's defaults), written
here in a few lines of torch: the `setfit` package (1.2.0) installs with `--no-deps` and
imports under transformers 5, but in a trial here (minilm, 8 examples per class) it predicted
at chance (0.487 on 300 test texts) at 9 s a step, and its Trainer writes checkpoints we do
not need; the steps are: pairs of training texts, same label -> target 1, different -> 0;
the sentence encoder fine-tuned so the cosine of a pair's mean-pooled embeddings meets its
target (mean squared error: sentence-transformers' CosineSimilarityLoss); then a
logistic-regression head on the tuned embeddings.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from plmkit import loading
from plmkit.batching import map_padded
from plmkit.metrics import ConfusionMatrix
from plmkit.pooling import default_pooling, pool

BATCH = 64
SETFIT_PAIRS_PER_STEP = 16
SETFIT_LEARNING_RATE = 2e-5  # setfit's body learning rate


@dataclass
class Scored:
    """One arm's test predictions, timed."""

    accuracy: float
    macro_f1: float
    train_seconds: float
    examples_per_second: float
    parameters: int
    n_test: int


def scored(
    labels: Sequence[int],
    predictions: Sequence[int],
    num_labels: int,
    *,
    train_seconds: float,
    infer_seconds: float,
    parameters: int,
) -> Scored:
    matrix = ConfusionMatrix(num_labels)
    matrix.update(np.asarray(labels), np.asarray(predictions))
    return Scored(
        accuracy=round(matrix.accuracy(), 4),
        macro_f1=round(matrix.macro_f1(), 4),
        train_seconds=round(train_seconds, 2),
        examples_per_second=round(len(labels) / max(infer_seconds, 1e-9), 1),
        parameters=parameters,
        n_test=len(labels),
    )


class Encoder:
    """A sentence encoder (token states -> the checkpoint's pooling), trainable."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tokenizer = loading.load_tokenizer(name)
        self.model = loading.load_encoder(name)
        self.pooling, self.normalize = default_pooling(loading.model_dir(name))
        self.max_length = min(512, self.model.config.max_position_embeddings)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(N, H) pooled embeddings, in input order."""
        import torch

        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        self.model.eval()

        def forward(batch: list[int], input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                states = self.model(
                    input_ids=torch.from_numpy(input_ids), attention_mask=torch.from_numpy(mask)
                ).last_hidden_state  # (B, T, H)
            return pool(states.float().numpy(), mask, self.pooling, self.normalize)

        return np.stack(map_padded(self.tokenizer, ids["input_ids"], BATCH, forward))

    def _pooled(self, texts: list[str]) -> Any:
        """(B, H) mean-pooled embeddings with gradients."""
        batch = self.tokenizer(
            texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
        )
        states = self.model(**batch).last_hidden_state  # (B, T, H)
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)  # (B, T, 1)
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def contrastive_fit(self, texts: list[str], labels: list[int], steps: int, seed: int) -> None:
        """SetFit's body training: `steps` batches of pairs, cosine regressed on same/other."""
        import torch

        torch.manual_seed(seed)
        pairs = contrastive_pairs(labels, steps * SETFIT_PAIRS_PER_STEP, seed)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=SETFIT_LEARNING_RATE)
        self.model.train()
        for start in range(0, len(pairs), SETFIT_PAIRS_PER_STEP):
            chunk = pairs[start : start + SETFIT_PAIRS_PER_STEP]
            left = self._pooled([texts[a] for a, _, _ in chunk])  # (P, H)
            right = self._pooled([texts[b] for _, b, _ in chunk])  # (P, H)
            target = torch.tensor([same for _, _, same in chunk], dtype=left.dtype)
            cosine = torch.nn.functional.cosine_similarity(left, right)  # (P,)
            loss = torch.nn.functional.mse_loss(cosine, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        self.model.eval()


def contrastive_pairs(labels: list[int], count: int, seed: int) -> list[tuple[int, int, float]]:
    """`count` (row, row, 1.0 same label | 0.0 different) pairs, half of each, seeded: as
    setfit's oversampling, every anchor in turn gets a positive then a negative partner."""
    rng = np.random.default_rng(seed)
    labels_array = np.asarray(labels)
    by_label = {c: np.flatnonzero(labels_array == c) for c in np.unique(labels_array)}
    pairs: list[tuple[int, int, float]] = []
    anchors = rng.permutation(len(labels))
    i = 0
    while len(pairs) < count:
        anchor = int(anchors[i % len(anchors)])
        i += 1
        same = by_label[labels[anchor]]
        other = np.flatnonzero(labels_array != labels[anchor])
        if len(same) > 1:
            partner = anchor
            while partner == anchor:
                partner = int(rng.choice(same))
            pairs.append((anchor, partner, 1.0))
        pairs.append((anchor, int(rng.choice(other)), 0.0))
    return pairs[:count]


def cosine_zero_shot(
    encoder: Encoder, test_embeddings: np.ndarray, label_sentences: list[str]
) -> tuple[list[int], float]:
    """(predictions, seconds to embed the label sentences and compare)."""
    started = time.perf_counter()
    anchors = encoder.embed(label_sentences)  # (K, H)
    anchors = anchors / np.linalg.norm(anchors, axis=1, keepdims=True)
    unit = test_embeddings / np.linalg.norm(test_embeddings, axis=1, keepdims=True)  # (N, H)
    predictions = (unit @ anchors.T).argmax(1).tolist()
    return predictions, time.perf_counter() - started


def fit_linear_head(embeddings: np.ndarray, labels: Sequence[int], seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, random_state=seed).fit(embeddings, labels)


def setfit(
    encoder_name: str,
    texts: list[str],
    labels: list[int],
    test_texts: list[str],
    *,
    steps: int,
    seed: int,
) -> tuple[list[int], float, float, int]:
    """(test predictions, train seconds, test seconds, parameters) of SetFit on the rows."""
    encoder = Encoder(encoder_name)
    started = time.perf_counter()
    encoder.contrastive_fit(texts, labels, steps, seed)
    head = fit_linear_head(encoder.embed(texts), labels, seed)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predictions = head.predict(encoder.embed(test_texts)).tolist()
    head_size = head.coef_.size + head.intercept_.size
    return predictions, train_seconds, time.perf_counter() - started, encoder.parameters + head_size
