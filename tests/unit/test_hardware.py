import os

from plmkit import hardware


def test_busy_cores_is_a_share_of_this_machine():
    busy = hardware.busy_cores(0.05)
    if not os.path.exists("/proc/stat"):
        assert busy is None
        return
    assert busy is not None and 0.0 <= busy <= (os.cpu_count() or 1)


def test_contention_advice(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert hardware.contention_advice(None) is None
    assert hardware.contention_advice(0.2) is None
    advice = hardware.contention_advice(1.3)
    assert "1.3 cores" in advice and "OMP_WAIT_POLICY=PASSIVE" in advice
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert "is set" in hardware.contention_advice(1.3)


def test_cpu_info_names_the_instruction_sets():
    info = hardware.cpu_info()
    assert info.cores >= 1 and info.threads >= 1
    assert set(info.flags) == set(hardware.FLAGS_OF_INTEREST)


def test_amd_generation_from_family_and_model():
    amd = {"vendor_id": "AuthenticAMD"}
    assert hardware._generation({**amd, "cpu family": "26", "model": "2"}) == "Zen 5"
    assert hardware._generation({**amd, "cpu family": "25", "model": "17"}) == "Zen 4"
    assert hardware._generation({**amd, "cpu family": "25", "model": "1"}) == "Zen 3"
    assert hardware._generation({"vendor_id": "GenuineIntel", "cpu family": "6"}) == ""
    assert hardware._generation({**amd}) == ""


def test_a_cpu_window_takes_this_process_work_off(monkeypatch):
    """Over a window in which the whole machine (2 CPUs) was busy 1.2 of 2 s-of-CPU, 0.5 s of
    it this process's own (loading a model), others kept 0.7 cores busy, not 1.2."""
    jiffies = iter([(1000, 5000), (1120, 5200)])  # (busy, total) at start and end: 100 ticks/s
    own = iter([3.0, 3.5])
    monkeypatch.setattr(hardware, "_cpu_jiffies", lambda: next(jiffies))
    monkeypatch.setattr(hardware, "_own_cpu_seconds", lambda: next(own))
    monkeypatch.setattr(hardware.os, "sysconf", lambda name: 100)
    monkeypatch.setattr(hardware.os, "cpu_count", lambda: 2)
    window = hardware.CpuWindow()
    assert window.busy_cores() == 0.7


def test_bf16_speedup_is_written_to_each_cache_it_is_asked_in(tmp_path, monkeypatch):
    """A process that moves to another cache directory measures there and writes it down, so
    that the next process reading that cache needs no torch (it used to keep one answer for
    the whole process and write only the first cache)."""
    import json

    seconds = iter([2.0, 1.0, 3.0, 1.0])  # fp32, bf16 in the first cache, then the second
    monkeypatch.setattr(hardware, "_matmul_seconds", lambda dtype: next(seconds))
    monkeypatch.setattr(hardware, "_SPEEDUPS", {})
    first, second = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("PLMKIT_CACHE", str(first))
    assert hardware.bf16_speedup() == 2.0
    monkeypatch.setenv("PLMKIT_CACHE", str(second))
    assert hardware.bf16_speedup() == 3.0
    assert list(json.loads((second / "hardware.json").read_text()).values()) == [3.0]
    monkeypatch.setenv("PLMKIT_CACHE", str(first))
    assert hardware.bf16_speedup() == 2.0  # known: nothing measured (the iterator is spent)
