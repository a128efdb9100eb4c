"""training/arguments.py: the fast CPU defaults and the step count warmup is computed from."""

from __future__ import annotations

from plmkit.training import total_steps, training_arguments


def test_training_arguments_fast_defaults(tmp_path):
    args = training_arguments(tmp_path, train_size=1000, batch_size=32, epochs=3)
    assert args.optim == "adamw_torch_fused"
    assert args.train_sampling_strategy == "group_by_length"
    assert args.warmup_steps == round(0.06 * 32 * 3)  # 32 steps an epoch
    assert args.lr_scheduler_type == "linear" and args.report_to == []
    assert args.eval_strategy == "epoch" and args.save_strategy == "epoch"
    by_steps = training_arguments(
        tmp_path, train_size=100, save_steps=10, fused_adamw=False, group_by_length=False
    )
    assert by_steps.save_strategy == "steps" and by_steps.eval_steps == 10
    assert by_steps.optim == "adamw_torch" and by_steps.train_sampling_strategy == "random"


def test_max_steps_caps_warmup_and_overrides_win(tmp_path):
    args = training_arguments(
        tmp_path, train_size=1000, batch_size=10, epochs=1, max_steps=50, warmup_ratio=0.1
    )
    assert args.max_steps == 50 and args.warmup_steps == 5  # 10% of 50, not of 100
    assert training_arguments(tmp_path, train_size=10, seed=3, data_seed=9).data_seed == 9


def test_total_steps_counts_the_last_partial_batch():
    assert total_steps(100, 32, 1) == 4
    assert total_steps(100, 32, 2.5) == 10
    assert total_steps(100, 32, 1, accumulation=2) == 2
    assert total_steps(1, 32, 0.1) == 1
