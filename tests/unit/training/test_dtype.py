"""training/dtype.py: an explicit request wins; auto follows the measured CPU."""

from __future__ import annotations

from plmkit.training import decide_bf16


def test_decide_bf16_respects_request(monkeypatch):
    assert decide_bf16(False) == (False, "fp32 (asked for)")
    monkeypatch.setenv("PLMKIT_DTYPE", "fp32")
    assert decide_bf16(None)[0] is False
    use, reason = decide_bf16(True)
    assert use is True and reason.startswith("bf16 autocast (asked for")
