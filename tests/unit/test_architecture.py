"""The layering written in pyproject.toml ([tool.importlinter]) holds, and the check is real:
a lower layer importing a higher one makes it fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(source_root: Path, cache_dir: Path) -> subprocess.CompletedProcess:
    if not LINT.exists():
        pytest.skip("import-linter is not installed (make setup installs it)")
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [str(LINT), str(ROOT / "pyproject.toml"), "--cache-dir", str(cache_dir), "--no-logo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=source_root,
        timeout=120,
    )


def test_layers_contract_holds(tmp_path):
    result = _lint(ROOT / "src", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "plmkit layers KEPT" in result.stdout


def test_a_lower_layer_importing_a_higher_one_fails(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "plmkit", copy / "plmkit", ignore=shutil.ignore_patterns("*.pyc")
    )
    errors = copy / "plmkit" / "errors.py"
    errors.write_text(errors.read_text() + "\n\ndef _sneak():\n    from plmkit.cli import app\n")
    result = _lint(copy, tmp_path / "cache")
    assert result.returncode != 0
    assert "plmkit layers BROKEN" in result.stdout
    assert "plmkit.errors -> plmkit.cli" in result.stdout


MAX_MODULE_LINES = 400


def test_no_module_is_over_400_lines():
    """A module fits in a head (issue #10): split one that grows past the limit."""
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in (ROOT / "src" / "plmkit").rglob("*.py")
    }
    assert sizes and not {p: n for p, n in sizes.items() if n > MAX_MODULE_LINES}
