"""training/progress.py: the Trainer's run as typed events, with real-token throughput."""

from __future__ import annotations

from plmkit.training import ProgressCallback
from plmkit.training.events import CheckpointSaved, Evaluation, TrainEnd, TrainLog, TrainStart


def test_a_run_sends_start_logs_saves_and_end(make_trainer, tmp_path):
    events = []
    progress = ProgressCallback(events.append)
    make_trainer(tmp_path, epochs=2, callbacks=[progress], logging_steps=2).train()
    assert isinstance(events[0], TrainStart) and events[0].max_steps == 12
    assert events[0].step == 0 and events[0].epochs == 2
    logs = [e for e in events if isinstance(e, TrainLog)]
    assert [e.step for e in logs] == [2, 4, 6, 8, 10, 12]
    assert all(e.loss > 0 and e.learning_rate is not None for e in logs)
    saves = [e for e in events if isinstance(e, CheckpointSaved)]
    assert [e.checkpoint for e in saves] == [
        str(tmp_path / "checkpoint-6"),
        str(tmp_path / "checkpoint-12"),
    ]
    end = events[-1]
    assert isinstance(end, TrainEnd) and end.step == 12
    assert end.samples_per_second > 0 and end.tokens_per_second > 0
    assert end.wall_seconds >= end.seconds > 0
    # the 24 texts twice, and their real tokens: padding is not counted
    assert progress.samples == 48 and 0 < progress.tokens < progress.padded_tokens


def test_evaluation_metrics_lose_hf_s_prefix(make_trainer, tmp_path):
    events = []
    trainer = make_trainer(
        tmp_path,
        epochs=1,
        callbacks=[ProgressCallback(events.append)],
        evaluator=lambda model: {"accuracy": 0.5, "macro_f1": 0.25},
    )
    trainer.evaluate()
    (evaluation,) = [e for e in events if isinstance(e, Evaluation)]
    assert evaluation.metrics["accuracy"] == 0.5 and evaluation.metrics["macro_f1"] == 0.25
    assert "eval_accuracy" not in evaluation.metrics and "runtime" in evaluation.metrics
