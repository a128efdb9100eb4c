"""`report.html`: one self-contained page per run (`plm finetune`, `plm pretrain`,
`plm compare`), made from the run directory's files alone, so `plm report RUN_DIR` rebuilds it.

    write_report("runs/sentiment")                        # -> runs/sentiment/report.html
    write_side_by_side(["runs/a", "runs/b"], "ab.html")   # two runs on one page

What a run leaves for it: `plmkit.json` (every number shown, tagged with its key), the Trainer's
log history inside it (curves, learning rate), `test_predictions.jsonl` for fine-tuning
(confusion, calibration, errors), and the saved model (attribution heat maps). A comparison
(`compare.json`) gets its arms side by side. Figures are matplotlib PNGs embedded as data:
URIs; the page has no script and loads nothing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from plmkit.errors import InvalidInputError
from plmkit.paths import RESULTS_FILE, read_json
from plmkit.report.page import Page
from plmkit.report.paradigms import PARADIGMS_FILE

REPORT_FILE = "report.html"
COMPARE_FILE = "compare.json"

__all__ = ["REPORT_FILE", "render_report", "write_report", "write_side_by_side"]


def _kind(run_dir: Path) -> tuple[str, dict[str, Any]]:
    """("finetune" | "pretrain" | "compare", the run's results JSON)."""
    if (run_dir / RESULTS_FILE).is_file():
        record = read_json(run_dir / RESULTS_FILE)
        task = str(record.get("task", ""))
        if task == "text-classification":
            return "finetune", record
        if task.startswith("pretrain-"):
            return "pretrain", record
    if (run_dir / COMPARE_FILE).is_file():
        return "compare", read_json(run_dir / COMPARE_FILE)
    if (run_dir / PARADIGMS_FILE).is_file():
        return "paradigms", read_json(run_dir / PARADIGMS_FILE)
    if not run_dir.is_dir():
        raise InvalidInputError(
            f"{run_dir} is not a directory", "pass a run directory (plm finetune's --out)"
        )
    raise InvalidInputError(
        f"{run_dir} holds no {RESULTS_FILE} of a fine-tuning or pre-training run and no "
        f"{COMPARE_FILE}",
        "pass the --out directory of plm finetune, plm pretrain or plm compare",
    )


def render_report(run_dir: str | Path, explain: bool = True) -> str:
    """The report page of one run directory, as HTML text."""
    from plmkit.report import compare, finetune, paradigms, pretrain

    run_dir = Path(run_dir)
    kind, record = _kind(run_dir)
    if kind == "paradigms":
        page = Page(f"Paradigms on {record['data']['source']}", str(run_dir))
        paradigms.build(page, run_dir, record)
    elif kind == "compare":
        page = Page(f"Comparison: {len(record.get('arms', []))} starting models", str(run_dir))
        compare.build(page, run_dir, record)
    elif kind == "finetune":
        page = Page(f"Fine-tuning: {record.get('model', {}).get('name', '?')}", str(run_dir))
        finetune.build(page, run_dir, record, explain=explain)
    else:
        page = Page(f"Pre-training ({record['task']}): {record['model']['name']}", str(run_dir))
        pretrain.build(page, run_dir, record)
    return page.render()


def _write_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=".tmp-report-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return path


def write_report(run_dir: str | Path, out: str | Path | None = None, explain: bool = True) -> Path:
    """Write `run_dir/report.html` (or `out`) from the run's files; returns its path."""
    html = render_report(run_dir, explain=explain)
    return _write_atomic(Path(out) if out else Path(run_dir) / REPORT_FILE, html)


def write_side_by_side(run_dirs: Sequence[str | Path], out: str | Path) -> Path:
    """Two (or more) runs on one page: their key figures in one table, then each run's
    report one after the other."""
    from plmkit.report import compare

    dirs = [Path(d) for d in run_dirs]
    if len(dirs) < 2:
        raise InvalidInputError("side by side needs two run directories", "pass RUN_A RUN_B")
    runs = [(d, *_kind(d)) for d in dirs]
    page = Page("Runs side by side", " vs ".join(str(d) for d in dirs))
    compare.side_by_side(page, runs)
    return _write_atomic(Path(out), page.render())
