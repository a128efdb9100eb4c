"""Fixtures of the training tests: a tiny BERT classifier and an `AtomicTrainer` factory."""

from __future__ import annotations

import pytest
import torch

from plmkit import training

TEXTS = [
    "a good film",
    "the best movie ever , funny and moving",
    "bad acting",
    "a bad , tedious mess of a plot",
    "great music and a great story",
    "the plot was bad and the film was bad",
] * 4


def _classifier(model_dir):
    from transformers import AutoTokenizer, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(
        model_dir, num_labels=2, dtype=torch.float32
    )
    return model, tokenizer


@pytest.fixture
def tiny_classifier(tiny_bert_dir):
    """A seeded 2-label BertForSequenceClassification over tiny_bert_dir, and its tokenizer."""
    return _classifier(tiny_bert_dir)


@pytest.fixture
def make_trainer(tiny_bert_dir):
    """make_trainer(run_dir, epochs=2, callbacks=(), evaluator=None, **training_arguments): an
    AtomicTrainer over 24 texts in batches of 4 (6 steps an epoch), a fresh seeded model."""
    from transformers import DataCollatorWithPadding

    def make(run_dir, *, epochs=2, callbacks=(), evaluator=None, **kw):
        model, tokenizer = _classifier(tiny_bert_dir)
        rows = [dict(tokenizer(t), labels=int("bad" in t)) for t in TEXTS]
        args = training.training_arguments(
            run_dir, train_size=len(rows), batch_size=4, epochs=epochs, evaluate=False, **kw
        )
        return training.AtomicTrainer(
            model=model,
            args=args,
            train_dataset=rows,
            data_collator=DataCollatorWithPadding(tokenizer),
            callbacks=list(callbacks),
            evaluator=evaluator,
        )

    return make
