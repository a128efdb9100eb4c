"""training/padding.py: the tokens a batching scheme pays for, against fixed-length padding."""

from __future__ import annotations

from plmkit.training import padding_report


def test_padding_report_counts_waste():
    lengths = [10] * 64 + [50] * 64
    grouped = padding_report(lengths, 16, group_by_length=True, pad_to=512)
    plain = padding_report(lengths, 16, group_by_length=False, pad_to=512)
    assert grouped["real_tokens"] == 64 * 60
    assert grouped["fixed_length_tokens"] == 128 * 512
    assert grouped["padded_tokens"] <= plain["padded_tokens"]
    assert 0.85 < grouped["waste_avoided"] < 1


def test_padding_to_a_multiple_rounds_each_batch_up():
    report = padding_report([5, 5, 5, 5], 4, group_by_length=False, pad_to_multiple_of=8)
    assert report["padded_tokens"] == 32 and report["padding_share"] == round(1 - 20 / 32, 4)
    assert report["max_length"] == 5 and report["mean_length"] == 5.0
