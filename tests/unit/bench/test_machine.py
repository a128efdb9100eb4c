"""bench/machine.py: versions and the measured limits."""

from __future__ import annotations

import platform

from plmkit.bench import machine


def test_versions_name_every_distribution():
    versions = machine.versions()
    assert list(versions) == ["python", *machine.DISTRIBUTIONS]
    assert versions["python"] == platform.python_version()
    assert versions["torch"] != "not installed"


def test_versions_of_a_missing_distribution(monkeypatch):
    monkeypatch.setattr(machine, "DISTRIBUTIONS", ("torch", "surely-not-installed-plmkit-x"))
    assert machine.versions()["surely-not-installed-plmkit-x"] == "not installed"


def test_quick_limits_are_positive_and_rounded():
    limits = machine.limits(quick=True)
    assert limits["memory_bandwidth_gbs"] > 0 and limits["matmul_fp32_gflops"] > 0
    assert all(round(v, 1) == v for v in limits.values())
