"""plmkit.paths: the cache, atomic JSON, the offline decision, versions, weight stamps."""

from __future__ import annotations

import os

import pytest

from plmkit import paths


def test_cache_dir_follows_plmkit_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "c"))
    assert paths.cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()
    assert paths.cache_subdir("corpora") == tmp_path / "c" / "corpora"
    assert (tmp_path / "c" / "corpora").is_dir()


def test_json_round_trip_and_unreadable_is_empty(tmp_path):
    target = tmp_path / "a" / "b.json"
    paths.write_json_atomic(target, {"x": [1, 2], "é": "ü"})
    assert paths.read_json(target) == {"x": [1, 2], "é": "ü"}
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]
    target.write_text("{half")
    assert paths.read_json(target) == {} and paths.read_json(tmp_path / "none.json") == {}
    paths.remember(target, "k", 3)
    paths.remember(target, "j", 4)
    assert paths.read_json(target) == {"k": 3, "j": 4}


def test_a_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "r.json"
    paths.write_json_atomic(target, {"ok": 1})
    with pytest.raises(TypeError):
        paths.write_json_atomic(target, {1j: 2})  # a key JSON cannot hold
    assert paths.read_json(target) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.mark.parametrize(
    ("env", "offline"),
    [
        ({}, True),  # never set: plmkit stays offline (a Python API user too)
        ({"HF_HUB_OFFLINE": "1"}, True),
        ({"HF_HUB_OFFLINE": "ON"}, True),
        ({"HF_HUB_OFFLINE": "0"}, False),
        ({"HF_HUB_OFFLINE": "false"}, False),
        ({"HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "1"}, True),
        ({"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "yes"}, True),
    ],
)
def test_hub_offline(monkeypatch, env, offline):
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert paths.hub_offline() is offline


def test_package_version():
    assert paths.package_version("torch") and paths.package_version("torch")[0].isdigit()
    assert paths.package_version("no-such-distribution-xyz", "-") == "-"
    assert paths.package_version("no-such-distribution-xyz") is None


def test_weights_stamp_changes_when_weights_are_rewritten(tmp_path):
    assert paths.weights_stamp(tmp_path) == 0
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"a")
    os.utime(weights, ns=(1_000_000_000, 1_000_000_000))
    first = paths.weights_stamp(tmp_path)
    os.utime(weights, ns=(2_000_000_000, 2_000_000_000))
    assert first == 1_000_000_000 and paths.weights_stamp(tmp_path) == 2_000_000_000


@pytest.mark.parametrize("rank, written", [(None, True), ("0", True), ("1", False)])
def test_remember_writes_on_rank_0_only(monkeypatch, tmp_path, rank, written):
    """Under torchrun the other ranks write nothing, measurement caches (cpu.json) included."""
    if rank is None:
        monkeypatch.delenv("RANK", raising=False)
    else:
        monkeypatch.setenv("RANK", rank)
    paths.remember(tmp_path / "cache.json", "key", 1)
    assert (tmp_path / "cache.json").exists() is written
    if written:
        assert paths.read_json(tmp_path / "cache.json") == {"key": 1}
