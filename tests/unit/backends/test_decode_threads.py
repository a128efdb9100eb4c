"""llama.cpp decode threads: chosen from measured speeds (a fake timing function here),
cached per file and load class, overridable; and measured for real on the tiny GGUF."""

from __future__ import annotations

import pytest

from plmkit import backends
from plmkit.backends import decode_threads
from plmkit.backends.decode_threads import candidate_counts, pick, stream_threads


@pytest.fixture
def gguf(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    return path


@pytest.fixture
def two_cpus(monkeypatch):
    monkeypatch.setattr(decode_threads, "_available", lambda: 2)
    monkeypatch.delenv("PLMKIT_LLAMA_THREADS", raising=False)


class FakeSpeed:
    """tok/s by thread count, counting the calls (each is a measurement)."""

    def __init__(self, speeds: dict[int, float]) -> None:
        self.speeds, self.calls = speeds, []

    def __call__(self, threads: int) -> float:
        self.calls.append(threads)
        return self.speeds[threads]


def test_candidate_counts():
    assert candidate_counts(1) == [1]
    assert candidate_counts(2) == [1, 2]
    assert candidate_counts(6) == [1, 2, 4, 6]
    assert candidate_counts(64) == [1, 2, 4, 8]


def test_pick_wants_a_real_gain_for_more_threads():
    assert pick({1: 44.0, 2: 67.0}) == 2  # the Zen 3: a third more on 2
    assert pick({1: 148.0, 2: 152.0}) == 1  # under MIN_GAIN: one thread, no waiting
    assert pick({1: 50.0, 2: 2.0}) == 1  # 2 spinning threads on a shared core
    assert pick({1: 40.0, 2: 60.0, 4: 61.0}) == 2


def test_measured_once_then_cached(gguf, two_cpus):
    speed = FakeSpeed({1: 44.0, 2: 67.0})
    assert stream_threads(gguf, speed, busy=lambda: 0.0) == 2
    assert speed.calls == [1, 2]
    assert stream_threads(gguf, speed, busy=lambda: 0.0) == 2
    assert speed.calls == [1, 2]  # from the cache
    cached = next(iter(decode_threads.cached_choices().values()))
    assert cached["quiet"] == {"threads": 2, "tokens_per_s": {"1": 44.0, "2": 67.0}}


def test_a_busy_machine_is_measured_apart(gguf, two_cpus):
    assert stream_threads(gguf, FakeSpeed({1: 44.0, 2: 67.0}), busy=lambda: 0.1) == 2
    busy = FakeSpeed({1: 40.0, 2: 3.0})
    assert stream_threads(gguf, busy, busy=lambda: 1.2) == 1
    assert busy.calls == [1, 2]
    assert stream_threads(gguf, busy, busy=lambda: 1.2) == 1
    assert stream_threads(gguf, busy, busy=lambda: 0.0) == 2  # quiet again: its own answer
    assert busy.calls == [1, 2]


def test_one_quiet_thread_skips_the_load_probe(gguf, two_cpus):
    stream_threads(gguf, FakeSpeed({1: 148.0, 2: 150.0}), busy=lambda: 0.0)

    def no_probe() -> float:
        raise AssertionError("the load was probed")

    assert stream_threads(gguf, FakeSpeed({}), busy=no_probe) == 1


def test_another_file_is_measured_again(gguf, two_cpus, tmp_path):
    stream_threads(gguf, FakeSpeed({1: 44.0, 2: 67.0}), busy=lambda: 0.0)
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF2")
    speed = FakeSpeed({1: 100.0, 2: 90.0})
    assert stream_threads(other, speed, busy=lambda: 0.0) == 1
    assert speed.calls == [1, 2]


def test_the_environment_overrides(gguf, two_cpus, monkeypatch):
    monkeypatch.setenv("PLMKIT_LLAMA_THREADS", "3")
    assert stream_threads(gguf, FakeSpeed({}), busy=lambda: 0.0) == 3


def test_the_backend_measures_its_threads(tiny_llama_gguf_dir, monkeypatch):
    """On the tiny GGUF: real speeds for each count, the choice applied and cached."""
    monkeypatch.delenv("PLMKIT_LLAMA_THREADS", raising=False)
    llama = backends.load_causal_lm_backend(str(tiny_llama_gguf_dir), "llama-cpp")
    assert llama.threads in candidate_counts(decode_threads._available())
    (entry,) = decode_threads.cached_choices().values()
    (measured,) = entry.values()
    assert measured["threads"] == llama.threads
    assert all(speed > 0 for speed in measured["tokens_per_s"].values())
    assert llama._tokens_per_second(1) > 0  # and decoding still works after the probe
