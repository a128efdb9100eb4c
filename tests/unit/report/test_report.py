"""plmkit.report and `plm report` on tiny runs: the page a fine-tuning, pre-training and
comparison run writes, its numbers against the results JSON, self-contained, bounded."""

from __future__ import annotations

import json
import random
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import WORDS
from typer.testing import CliRunner

from plmkit.cli import app
from plmkit.config import PretrainConfig
from plmkit.errors import InvalidInputError
from plmkit.recipes.compare import compare_finetuning
from plmkit.recipes.pretrain import pretrain
from plmkit.report import render_report, write_report
from plmkit.training.events import ReportWritten

runner = CliRunner()


class ReportParser(HTMLParser):
    """Collects the tagged numbers (data-key / data-value / text), image sources, links."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[dict] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            if name in attrs and tag != "img":
                self.links.append(attrs[name])
        if "data-key" in attrs:
            self._open = {**attrs, "text": ""}

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag):
        if self._open is not None and tag == "span":
            self.values.append(self._open)
            self._open = None


def parse(path: Path) -> ReportParser:
    parser = ReportParser()
    parser.feed(Path(path).read_text(encoding="utf-8"))
    return parser


def lookup(record, key: str):
    for part in key.split("."):
        record = record[int(part)] if isinstance(record, list) else record[part]
    return record


def check_numbers(parser: ReportParser, records: dict[str, dict]) -> int:
    """Every tagged value equals its results JSON's (by data-source) and reads as it;
    returns how many were checked."""
    for tagged in parser.values:
        record = records[tagged["data-source"]]
        value = lookup(record, tagged["data-key"])
        assert json.loads(tagged["data-value"]) == value, tagged
        if isinstance(value, float) and not isinstance(value, bool):
            shown = tagged["text"]
            digits = shown.rstrip("%")
            scale = 100 if shown.endswith("%") else 1
            # the shown number is the value rounded to the digits shown (half a last digit)
            decimals = len(digits.split(".")[1]) if "." in digits else 0
            last_digit = 0.0 if "e" in digits else 10.0**-decimals / scale
            number = float(digits) / scale
            assert number == pytest.approx(value, rel=5e-3, abs=0.5 * last_digit + 1e-12), tagged
    return len(parser.values)


def check_self_contained(parser: ReportParser) -> None:
    assert parser.images, "no images"
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert not [link for link in parser.links if link.startswith(("http:", "https:", "//"))]
    assert parser.scripts == 0


MAX_BYTES = 1_000_000  # a tiny run's page; the 10k-row movie-snippets run is measured < 5 MB


def _record(run_dir):
    return json.loads((run_dir / "plmkit.json").read_text())


def test_finetune_writes_a_self_contained_report_whose_numbers_are_plmkit_json(
    tiny_classifier_dir,
):
    path = tiny_classifier_dir / "report.html"
    assert path.is_file() and path.stat().st_size < MAX_BYTES
    parser = parse(path)
    checked = check_numbers(parser, {"plmkit.json": _record(tiny_classifier_dir)})
    assert checked > 40
    keys = {v["data-key"] for v in parser.values}
    for key in (
        "metrics.test.accuracy",
        "metrics.test.macro_f1",
        "metrics.test.per_class.positive.f1",
        "data.sizes.train",
        "data_summary.label_counts.train.negative",
        "padding.waste_avoided",
        "training.samples_per_second",
        "seed",
    ):
        assert key in keys
    check_self_contained(parser)
    assert len(parser.images) >= 6  # histogram, loss, validation, lr, 2 confusion, reliability
    html = path.read_text()
    for heading in ("Training curves", "Calibration", "Most confident errors", "Per class"):
        assert heading in html
    predictions = (tiny_classifier_dir / "test_predictions.jsonl").read_text().splitlines()
    assert len(predictions) == _record(tiny_classifier_dir)["metrics"]["test"]["n"]


def test_the_heat_map_comes_from_the_explain_pipeline(tiny_classifier_dir, tmp_path):
    pytest.importorskip("captum")
    pytest.importorskip("plmkit.pipelines.explain")
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_classifier_dir, run)
    rows = [json.loads(line) for line in (run / "test_predictions.jsonl").read_text().splitlines()]
    for row in rows[:3]:  # errors to explain: the true label flipped away from the prediction
        row["label"] = 1 - max(range(2), key=lambda k: row["probabilities"][k])
    (run / "test_predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    html = render_report(run)
    assert "Token attribution for the top errors" in html
    assert html.count('class="tok"') >= 3 and html.count("convergence delta") == 3
    assert rows[0]["text"].split()[0] in html


def test_plm_report_rebuilds_one_run_and_puts_two_side_by_side(tiny_classifier_dir, tmp_path):
    rebuilt = tmp_path / "again.html"
    result = runner.invoke(
        app, ["report", str(tiny_classifier_dir), "--out", str(rebuilt), "--no-attribution"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and rebuilt.is_file()
    check_numbers(parse(rebuilt), {"plmkit.json": _record(tiny_classifier_dir)})

    other = tmp_path / "copy"
    other.mkdir()
    record = _record(tiny_classifier_dir)
    record["metrics"]["test"]["accuracy"] = 0.25  # a different run's figures
    (other / "plmkit.json").write_text(json.dumps(record))
    both = tmp_path / "ab.html"
    result = runner.invoke(
        app, ["report", str(tiny_classifier_dir), str(other), "--out", str(both)]
    )
    assert result.exit_code == 0, result.output
    parser = parse(both)
    sources = {
        str(tiny_classifier_dir / "plmkit.json"): _record(tiny_classifier_dir),
        str(other / "plmkit.json"): record,
    }
    check_numbers(parser, sources)
    accuracies = [v for v in parser.values if v["data-key"] == "metrics.test.accuracy"]
    assert {json.loads(v["data-value"]) for v in accuracies} >= {0.25}
    assert len({v["data-source"] for v in accuracies}) == 2
    check_self_contained(parser)


def test_plm_report_on_a_directory_without_a_run_is_one_line(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "plm finetune" in result.output
    with pytest.raises(InvalidInputError):
        render_report(tmp_path / "missing")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(0)
    lines = [" ".join(rng.choices(WORDS, k=rng.randint(4, 12))) + " ." for _ in range(200)]
    path = tmp_path_factory.mktemp("corpus") / "reviews.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_pretrain_report_shows_before_after_masking_and_probes(
    tiny_bert_dir, corpus, tmp_path, monkeypatch
):
    monkeypatch.setenv("PLMKIT_CACHE", str(tmp_path / "cache"))
    sent = []
    config = PretrainConfig(
        data=str(corpus),
        out=str(tmp_path / "mlm"),
        model=str(tiny_bert_dir),
        block_size=32,
        batch_size=8,
        max_steps=4,
        eval_blocks=8,
        pseudo_perplexity_texts=0,
        bf16=False,
        show_progress=False,
    )
    result = pretrain(config, "mlm", on_event=sent.append)
    assert isinstance(sent[-1], ReportWritten) and sent[-1].error is None
    path = result.out / "report.html"
    parser = parse(path)
    keys = {v["data-key"] for v in parser.values}
    assert {"before.loss", "after.loss", "masking_during_training.picked_fraction"} <= keys
    check_numbers(parser, {"plmkit.json": _record(result.out)})
    check_self_contained(parser)
    html = path.read_text()
    probe = result.results["probes"][0]
    assert "Probes before and after" in html and probe["top"][0] in html
    assert probe["top_before"]  # the starting model's fill-mask, before any step


def test_compare_report_puts_the_arms_side_by_side(
    tiny_bert_dir, tiny_bert_mlm_dir, sentiment_csv, tmp_path
):
    comparison = compare_finetuning(
        [str(tiny_bert_dir), str(tiny_bert_mlm_dir)],
        data=str(sentiment_csv),
        out=tmp_path / "cmp",
        max_steps=2,
        batch_size=16,
        bf16=False,
        early_stopping_patience=0,
    )
    path = tmp_path / "cmp" / "report.html"
    parser = parse(path)
    check_numbers(parser, {"compare.json": json.loads(comparison.path.read_text())})
    keys = {v["data-key"] for v in parser.values}
    assert {"arms.0.test.accuracy", "arms.1.test.accuracy"} <= keys
    check_self_contained(parser)
    for arm in comparison.arms:
        assert (arm.out / "report.html").is_file()


def test_write_report_replaces_the_page_atomically(tiny_classifier_dir, tmp_path):
    out = write_report(tiny_classifier_dir, tmp_path / "r.html", explain=False)
    assert out.read_text().startswith("<!doctype html>")
    assert not list(tmp_path.glob(".tmp-report-*"))
