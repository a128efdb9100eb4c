"""training.py: atomic checkpoints, a crash mid-save, resume == uninterrupted, reports."""

from __future__ import annotations

import json

import pytest
import torch

from plmkit import training
from plmkit.errors import CheckpointError

TEXTS = [
    "a good film",
    "the best movie ever , funny and moving",
    "bad acting",
    "a bad , tedious mess of a plot",
    "great music and a great story",
    "the plot was bad and the film was bad",
] * 4


def _tiny_classifier(tiny_bert_dir):
    from transformers import AutoTokenizer, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(
        tiny_bert_dir, num_labels=2, dtype=torch.float32
    )
    return model, tokenizer


def _trainer(tiny_bert_dir, run_dir, *, epochs=2, callbacks=(), **kw):
    from transformers import DataCollatorWithPadding

    model, tokenizer = _tiny_classifier(tiny_bert_dir)
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
    )


def test_training_arguments_fast_defaults(tmp_path):
    args = training.training_arguments(tmp_path, train_size=1000, batch_size=32, epochs=3)
    assert args.optim == "adamw_torch_fused"
    assert args.train_sampling_strategy == "group_by_length"
    assert args.warmup_steps == round(0.06 * 32 * 3)  # 32 steps an epoch
    assert args.lr_scheduler_type == "linear" and args.report_to == []
    assert args.eval_strategy == "epoch" and args.save_strategy == "epoch"
    by_steps = training.training_arguments(
        tmp_path, train_size=100, save_steps=10, fused_adamw=False, group_by_length=False
    )
    assert by_steps.save_strategy == "steps" and by_steps.eval_steps == 10
    assert by_steps.optim == "adamw_torch" and by_steps.train_sampling_strategy == "random"


def test_decide_bf16_respects_request(monkeypatch):
    assert training.decide_bf16(False) == (False, "fp32 (asked for)")
    monkeypatch.setenv("PLMKIT_DTYPE", "fp32")
    assert training.decide_bf16(None)[0] is False
    assert training.decide_bf16(True)[0] is True


def test_checkpoints_are_complete_and_rotated(tiny_bert_dir, tmp_path):
    events = []
    trainer = _trainer(
        tiny_bert_dir, tmp_path, epochs=3, callbacks=[training.ProgressCallback(events.append)]
    )
    trainer.train()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["checkpoint-12", "checkpoint-18"]  # save_total_limit=2, no temp dirs left
    assert training.last_complete_checkpoint(tmp_path).name == "checkpoint-18"
    kinds = {e["event"] for e in events}
    assert {"start", "log", "save", "end"} <= kinds
    end = events[-1]
    assert end["event"] == "end" and end["samples_per_second"] > 0 and end["tokens_per_second"] > 0


def test_kill_during_save_leaves_previous_checkpoint_usable(tiny_bert_dir, tmp_path, monkeypatch):
    """The weight writer dies half way through the second save: checkpoint-6 stays the last
    complete one, the half-written files are only in a hidden temp dir, and resume uses it."""
    import transformers.modeling_utils as modeling_utils

    trainer = _trainer(tiny_bert_dir, tmp_path, epochs=2)
    real_save = modeling_utils.safe_save_file
    calls = {"n": 0}

    def dying_save(tensors, filename, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            with open(filename, "wb") as handle:
                handle.write(b"\x00" * 100)  # a partial file, then the process "dies"
            raise KeyboardInterrupt("killed mid-save")
        return real_save(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(modeling_utils, "safe_save_file", dying_save)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    monkeypatch.setattr(modeling_utils, "safe_save_file", real_save)

    # a SIGKILL would skip the cleanup that ran here: leave a half-written temp dir behind
    leftover = tmp_path / f"{training.STAGING_PREFIX}12-x" / "checkpoint-12"
    leftover.mkdir(parents=True)
    (leftover / "model.safetensors").write_bytes(b"\x00" * 100)
    complete = training.checkpoints(tmp_path)
    assert [p.name for p in complete] == ["checkpoint-6"]
    assert not (tmp_path / "checkpoint-12").exists()
    from transformers import BertForSequenceClassification

    BertForSequenceClassification.from_pretrained(complete[0])  # loads fine
    assert training.resume_checkpoint(tmp_path, True) == str(complete[0])
    assert not any(p.name.startswith(training.STAGING_PREFIX) for p in tmp_path.iterdir())


def test_resume_equals_uninterrupted(tiny_bert_dir, tmp_path):
    from transformers import TrainerCallback

    straight = _trainer(tiny_bert_dir, tmp_path / "a", epochs=2)
    straight.train()

    class Crash(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 6:
                raise RuntimeError("simulated crash after the epoch-1 checkpoint")

    crashed = _trainer(tiny_bert_dir, tmp_path / "b", epochs=2, callbacks=[Crash()])
    with pytest.raises(RuntimeError):
        crashed.train()
    resumed = _trainer(tiny_bert_dir, tmp_path / "b", epochs=2)
    resumed.train(resume_from_checkpoint=training.resume_checkpoint(tmp_path / "b", True))
    for (name, a), (_, b) in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6), name


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        training.resume_checkpoint(tmp_path, True)
    with pytest.raises(CheckpointError, match="not a complete checkpoint"):
        training.resume_checkpoint(tmp_path, tmp_path)
    assert training.resume_checkpoint(tmp_path, False) is None


def test_padding_report_counts_waste():
    lengths = [10] * 64 + [50] * 64
    grouped = training.padding_report(lengths, 16, group_by_length=True, pad_to=512)
    plain = training.padding_report(lengths, 16, group_by_length=False, pad_to=512)
    assert grouped["real_tokens"] == 64 * 60
    assert grouped["fixed_length_tokens"] == 128 * 512
    assert grouped["padded_tokens"] <= plain["padded_tokens"]
    assert 0.85 < grouped["waste_avoided"] < 1


def test_run_record_and_atomic_json(tmp_path):
    from plmkit.registry import resolve

    record = training.run_record(seed=3, spec=resolve("minilm"), data_hash="abc", bf16=False)
    assert record["seed"] == 3 and record["model"]["revision"] == "0.1.0"
    assert record["versions"]["transformers"] and record["dtype"] == "fp32"
    path = training.write_json_atomic(tmp_path / "r.json", record)
    assert json.loads(path.read_text())["data_hash"] == "abc"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_save_model_dir_writes_record_last(tiny_bert_dir, tmp_path):
    model, tokenizer = _tiny_classifier(tiny_bert_dir)
    out = training.save_model_dir(model, tokenizer, tmp_path / "out", {"seed": 1})
    assert (out / "model.safetensors").is_file() and (out / "tokenizer_config.json").is_file()
    assert json.loads((out / "plmkit.json").read_text()) == {"seed": 1}
    assert not any(p.name.startswith(".tmp") for p in out.iterdir())
