"""llama.cpp decode threads: chosen from measured speeds (a fake timing function here),
cached per file and load class, overridable; and measured for real on the tiny GGUF."""

from __future__ import annotations

import pytest

from plmkit import backends
from plmkit.backends import decode_threads
from plmkit.backends.decode_threads import candidate_counts, measure, pick, stream_threads

PROBED = [1, 2, 2, 1, 1, 2, 2, 1]
"""The calls one probe of 2 counts makes: PROBE_ROUNDS rounds, every other one reversed."""


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


def test_the_probe_takes_medians_of_alternating_rounds():
    """A fast spell of the host during one call favours no count: 1 thread ran once at 100
    tok/s and then at 60, 2 threads at 80 throughout (best-of rounds per count picked 1)."""
    rates = iter([100.0, 80.0, 80.0, 60.0, 60.0, 80.0, 80.0, 60.0])
    calls = []

    def speed(threads: int) -> float:
        calls.append(threads)
        return next(rates)

    assert measure([1, 2], speed) == {1: 60.0, 2: 80.0}
    assert calls == PROBED


def test_measured_once_then_cached(gguf, two_cpus):
    speed = FakeSpeed({1: 44.0, 2: 67.0})
    assert stream_threads(gguf, speed, busy=lambda: 0.0) == 2
    assert speed.calls == PROBED
    assert stream_threads(gguf, speed, busy=lambda: 0.0) == 2
    assert speed.calls == PROBED  # from the cache
    cached = next(iter(decode_threads.cached_choices().values()))
    assert cached["quiet"] == {"threads": 2, "tokens_per_s": {"1": 44.0, "2": 67.0}}


def test_a_busy_machine_is_measured_apart(gguf, two_cpus):
    assert stream_threads(gguf, FakeSpeed({1: 44.0, 2: 67.0}), busy=lambda: 0.1) == 2
    busy = FakeSpeed({1: 40.0, 2: 3.0})
    assert stream_threads(gguf, busy, busy=lambda: 1.2) == 1
    assert busy.calls == PROBED
    assert stream_threads(gguf, busy, busy=lambda: 1.2) == 1
    assert stream_threads(gguf, busy, busy=lambda: 0.0) == 2  # quiet again: its own answer
    assert busy.calls == PROBED


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
    assert speed.calls == PROBED


def test_another_thread_pool_is_measured_again(gguf, two_cpus, monkeypatch):
    """The same llama-cpp-python built with OpenMP or with ggml's own pool: measured apart."""
    monkeypatch.setattr(decode_threads, "thread_pool", lambda: "openmp")
    assert stream_threads(gguf, FakeSpeed({1: 90.0, 2: 60.0}), busy=lambda: 0.0) == 1
    monkeypatch.setattr(decode_threads, "thread_pool", lambda: "ggml")
    speed = FakeSpeed({1: 90.0, 2: 110.0})
    assert stream_threads(gguf, speed, busy=lambda: 0.0) == 2
    assert speed.calls == PROBED


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


def _stream(tuner, seconds_per_token, tokens: int) -> list[int]:
    """Feed `tuner` `tokens` decode steps timed by `seconds_per_token(threads, step)`;
    returns the thread count of each step."""
    used = []
    for step in range(tokens):
        threads = tuner.threads()
        used.append(threads)
        tuner.record(seconds_per_token(threads, step))
    return used


def test_the_tuner_moves_to_a_faster_count_and_checks_ever_more_rarely():
    from plmkit.backends.decode_threads import BLOCK, ThreadTuner

    tuner = ThreadTuner([1, 2], start=1)  # the cache said 1; here 2 threads are faster
    used = _stream(tuner, lambda threads, _: 1 / {1: 60, 2: 80}[threads], 4000)
    assert used[: 2 * BLOCK] == [1] * BLOCK + [2] * BLOCK  # a block each, then the better
    assert tuner.best == 2
    later = used[2 * BLOCK :]
    starts = [i for i in range(1, len(later)) if later[i] == 1 and later[i - 1] == 2]
    assert len(starts) == 5 and later.count(1) == 5 * BLOCK  # 1 is checked again, a block ...
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert gaps == sorted(gaps) and gaps[0] < gaps[-1]  # ... ever more rarely


def test_more_threads_must_be_a_real_gain():
    from plmkit.backends.decode_threads import MIN_GAIN, ThreadTuner

    tuner = ThreadTuner([1, 2], start=1)
    _stream(tuner, lambda threads, _: 1 / {1: 60, 2: 60 * MIN_GAIN * 0.99}[threads], 500)
    assert tuner.best == 1


def test_a_check_that_hurts_stops_at_its_first_slow_token():
    from plmkit.backends.decode_threads import BLOCK, ThreadTuner

    tuner = ThreadTuner([1, 2], start=1)  # another process holds a core: 2 threads crawl
    used = _stream(tuner, lambda threads, _: 1 / {1: 60, 2: 2}[threads], 1000)
    assert used.count(2) <= 4  # one token per check, not a block of BLOCK
    assert used[BLOCK : BLOCK + 2] == [2, 1] and tuner.best == 1


def test_the_tuner_follows_the_machine_when_it_changes():
    from plmkit.backends.decode_threads import BLOCK, MAX_EXPLORE_EVERY, ThreadTuner

    def speed(threads: int, step: int) -> float:  # 1 thread is faster, then 2
        return 1 / ({1: 80, 2: 60} if step < 3000 else {1: 50, 2: 80})[threads]

    tuner = ThreadTuner([1, 2], start=1)
    used = _stream(tuner, speed, 3000 + 2 * MAX_EXPLORE_EVERY * BLOCK)
    assert used[:3000].count(2) < 300 and tuner.best == 2
    assert used[-BLOCK:] == [2] * BLOCK


def test_a_forced_count_is_kept(monkeypatch):
    monkeypatch.setenv("PLMKIT_LLAMA_THREADS", "1")
    tuner = decode_threads.tuner(1)
    assert set(_stream(tuner, lambda threads, _: 1 / {1: 10, 2: 100}.get(threads, 1), 500)) == {1}


def test_switching_threads_mid_stream_changes_no_token(tiny_llama_gguf_dir, monkeypatch):
    """The backend's stream applies the tuner's count before every step, and the tokens are
    those of a stream on one count throughout."""
    monkeypatch.delenv("PLMKIT_LLAMA_THREADS", raising=False)
    llama = backends.load_causal_lm_backend(str(tiny_llama_gguf_dir), "llama-cpp")

    class Alternating:
        def __init__(self, counts):
            self.counts, self.steps, self.seen = counts, 0, []

        def threads(self):
            return self.counts[self.steps % len(self.counts)]

        def record(self, seconds):
            self.seen.append(llama.threads)
            self.steps += 1

    from plmkit.backends.base import Sampling

    prompt = [1, 5, 9, 13]
    llama._tuner = Alternating([1])
    steady = list(llama.stream(prompt, 24, Sampling()))
    llama._tuner = switching = Alternating([1, 2])
    assert list(llama.stream(prompt, 24, Sampling())) == steady
    assert switching.seen[:4] == [1, 2, 1, 2]
