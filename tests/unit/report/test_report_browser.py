"""A fine-tuning run's report.html in a real headless Chromium (Debian's, installed by `make
browser`, driven by Playwright's Python package): opened from disk with no server and no
network, every plot decodes to an image with pixels, and the headline numbers are on screen.
The time it takes to open is measured by bench/report_open.py, not asserted here.
"""

from __future__ import annotations

from conftest import ARTIFACTS, require_chromium

CHROMIUM, sync_api = require_chromium()

IMAGES = """() => Array.from(document.images).map(
    (img) => ({complete: img.complete, width: img.naturalWidth, height: img.naturalHeight}))"""


def test_every_plot_of_a_finetune_report_renders_in_chromium(tiny_classifier_dir):
    page_path = tiny_classifier_dir / "report.html"
    with sync_api.sync_playwright() as play:
        browser = play.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(page_path.as_uri(), wait_until="load")
            images = page.evaluate(IMAGES)
            assert len(images) >= 6
            broken = [i for i, img in enumerate(images) if not img["complete"] or not img["width"]]
            assert not broken, f"images {broken} did not decode"
            assert all(img["width"] >= 100 and img["height"] >= 100 for img in images)
            # nothing but the page itself (and its inline data: images) was fetched
            assert [url for url in requests if not url.startswith("data:")] == [page_path.as_uri()]
            accuracy = page.locator('span[data-key="metrics.test.accuracy"]').first
            assert accuracy.is_visible() and accuracy.inner_text().strip()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report-tiny.png"), full_page=True)
        finally:
            browser.close()
