"""How a run's report.html fares in a real browser (issue #12): its size, the time Debian's
headless Chromium takes to open it from disk (navigation start to the load event, every
embedded plot decoded), whether every image rendered, and whether every tagged number on the
page equals the value in the run's plmkit.json.

    .venv/bin/python bench/report_open.py runs/movie_full [--rounds 5]
        [--screenshot docs/report.png] [--out bench/results/report_open_CPU.json]

A fresh page per round; the first round (cold: the browser's first page) is reported apart
from the best and median of the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

LOAD_MS = """() => { const nav = performance.getEntriesByType('navigation')[0];
    return {load_ms: nav.loadEventEnd - nav.startTime,
            dom_content_loaded_ms: nav.domContentLoadedEventEnd - nav.startTime}; }"""
IMAGES = """() => Array.from(document.images).map(
    (img) => ({complete: img.complete, width: img.naturalWidth}))"""
TAGGED = """() => Array.from(document.querySelectorAll('span[data-key]')).map(
    (span) => ({source: span.dataset.source, key: span.dataset.key, value: span.dataset.value}))"""


def lookup(record, key: str):
    for part in key.split("."):
        record = record[int(part)] if isinstance(record, list) else record[part]
    return record


def main() -> None:
    from playwright.sync_api import sync_playwright

    from plmkit.hardware import cpu_info

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--chromium", default=os.environ.get("PLMKIT_CHROMIUM", "/usr/bin/chromium")
    )
    parser.add_argument("--screenshot", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    page_path = (args.run / "report.html").resolve()
    if not page_path.is_file():
        sys.exit(f"error: no report.html in {args.run}: run `plm report {args.run}` first")
    record = json.loads((args.run / "plmkit.json").read_text())
    rounds = []
    with sync_playwright() as play:
        browser = play.chromium.launch(
            executable_path=args.chromium, headless=True, args=["--no-sandbox"]
        )
        try:
            for index in range(args.rounds):
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                page.goto(page_path.as_uri(), wait_until="load")
                timing = page.evaluate(LOAD_MS)
                images = page.evaluate(IMAGES)
                timing["images"] = len(images)
                timing["images_rendered"] = sum(1 for i in images if i["complete"] and i["width"])
                rounds.append(timing)
                if index == args.rounds - 1:
                    tagged = page.evaluate(TAGGED)
                    if args.screenshot:
                        top = {"x": 0, "y": 0, "width": 1100, "height": 2000}  # the top
                        page.screenshot(path=args.screenshot, full_page=True, clip=top)
                page.close()
        finally:
            browser.close()
    mismatched = [
        t["key"]
        for t in tagged
        if t["source"] == "plmkit.json" and json.loads(t["value"]) != lookup(record, t["key"])
    ]
    warm = [r["load_ms"] for r in rounds[1:]] or [rounds[0]["load_ms"]]
    report = {
        "run": str(args.run),
        "cpu": {k: cpu_info().to_dict()[k] for k in ("model", "generation", "signature")},
        "train_rows": record.get("data", {}).get("sizes", {}).get("train"),
        "bytes": page_path.stat().st_size,
        "first_load_ms": round(rounds[0]["load_ms"], 1),
        "best_load_ms": round(min(warm), 1),
        "median_load_ms": round(statistics.median(warm), 1),
        "rounds": rounds,
        "images": rounds[-1]["images"],
        "images_rendered": rounds[-1]["images_rendered"],
        "numbers_checked": sum(1 for t in tagged if t["source"] == "plmkit.json"),
        "numbers_mismatched": mismatched,
        "loadavg": list(os.getloadavg()),
    }
    report["ok"] = (
        report["bytes"] < 5_000_000
        and max(r["load_ms"] for r in rounds) < 1000
        and report["images_rendered"] == report["images"] > 0
        and not mismatched
    )
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
