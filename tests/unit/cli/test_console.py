"""cli/console.py's event printers: the lines `plm finetune` / `pretrain` / `compare` print."""

from __future__ import annotations

import pytest

from plmkit.cli import console
from plmkit.training import events

PADDING = {
    "padding_share": 0.125,
    "padded_tokens": 4096,
    "fixed_length": 512,
    "fixed_length_padding_share": 0.9,
    "waste_avoided": 0.875,
}
LOG = events.TrainLog(
    step=10, max_steps=40, epoch=0.25, loss=0.69314, learning_rate=5e-05, samples_per_second=12.5
)
END = events.TrainEnd(
    step=40, seconds=3.2, wall_seconds=4.1, samples_per_second=50.0, tokens_per_second=812.4
)


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            events.DataSplits(sizes={"train": 76, "validation": 10, "test": 10}, labels=["n", "p"]),
            "data: train 76, validation 10, test 10; labels ['n', 'p']",
        ),
        (
            events.Setup(
                model="minilm",
                recipe="default",
                dtype="fp32 (asked for)",
                max_length=64,
                padding=PADDING,
                settings={},
            ),
            "minilm, recipe default: fp32 (asked for); max_length 64; padding 12.5% of 4096 "
            "tokens (padding all to 512: 90.0%; waste avoided 87.5%)",
        ),
        (LOG, "  step 10/40  epoch 0.25  loss 0.6931  12.5 samples/s"),
        (
            events.Evaluation(step=10, epoch=1.0, metrics={"accuracy": 0.9, "macro_f1": 0.85}),
            "  validation @ epoch 1.00: accuracy 0.9000  macro-F1 0.8500",
        ),
        (events.Evaluation(step=10, epoch=1.0, metrics={"loss": 0.3}), None),
        (END, "  trained 40 steps in 4.1 s: 50.0 samples/s"),
        (events.CheckpointSaved(step=10, checkpoint="runs/x/checkpoint-10"), None),
        (events.ModelSaved(out="runs/x"), None),
    ],
)
def test_finetune_event_lines(capsys, event, line):
    console.finetune_event(event)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("" if line is None else line + "\n")


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (events.Stage("reading the corpus"), "[reading the corpus]"),
        (
            events.ScoresBefore({"loss": 5.12345, "accuracy": 0.01234, "masking": {}}),
            "  held-out loss 5.123, held-out accuracy 0.01234",
        ),
        (
            events.ScoresAfter({"loss": 3.5, "perplexity": 33.1155}),
            "  held-out loss 3.5, held-out perplexity 33.12",
        ),
        (LOG, "  step 10/40  loss 0.6931  lr 5.00e-05  12.5 blocks/s"),
        (
            events.TrainLog(
                step=1, max_steps=2, epoch=0.5, loss=1.0, learning_rate=None, samples_per_second=1
            ),
            "  step 1/2  loss 1.0000  lr 0.00e+00  1 blocks/s",
        ),
        (
            events.CheckpointSaved(step=10, checkpoint="runs/x/checkpoint-10"),
            "  checkpoint runs/x/checkpoint-10",
        ),
        (END, "  trained 40 steps, 812.4 tokens/s"),
        (events.TrainStart(max_steps=40, epochs=1.0, step=0), None),
    ],
)
def test_pretrain_event_lines(capsys, event, line):
    console.pretrain_event(event)
    assert capsys.readouterr().err == ("" if line is None else line + "\n")


def test_compare_event_heads_each_arm_then_prints_fine_tuning(capsys):
    console.compare_event(events.CompareArm(model="runs/mlm", index=2, of=3))
    console.compare_event(END)
    assert capsys.readouterr().err.splitlines() == [
        "[2/3] fine-tuning runs/mlm",
        "  trained 40 steps in 4.1 s: 50.0 samples/s",
    ]
