"""The playground at / in a real headless Chromium (Debian's, installed by `make browser`),
driven by Playwright's Python package, against a real uvicorn server on tiny models started
with an API key: enter the key, type a sentence, see its tokens, its masking, a label with
an attribution heat map, an attention grid, and streamed text with its tokens/s.

Screenshots go to tests/artifacts/ (git-ignored; PLMKIT_ARTIFACTS moves them). Without a
browser on the machine the module is one skipped line.
"""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS, require_chromium

CHROMIUM, sync_api = require_chromium()
sync_api.expect.set_options(timeout=60_000)  # waits for answers on a busy machine, not a speed test

KEY = "play-key"
SENTENCE = "a gorgeous moving film"


@pytest.fixture(scope="module")
def site(models, real_server_with):
    """(base URL, browser): the server with an API key, and a headless Chromium."""
    with real_server_with(models, api_key=KEY) as (base, _), sync_api.sync_playwright() as play:
        browser = play.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield base, browser
        finally:
            browser.close()


def open_page(site):
    base, browser = site
    tab = browser.new_page(viewport={"width": 1100, "height": 900})
    tab.set_default_timeout(60_000)
    tab.goto(base + "/")
    return tab


@pytest.fixture(scope="module")
def page(site):
    """The playground with the key entered."""
    tab = open_page(site)
    tab.fill("#api-key", KEY)
    tab.click("#key-go")
    sync_api.expect(tab.locator("#key-out")).to_contain_text("serving:")
    return tab


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_without_the_key_the_page_says_so_then_the_key_lists_the_models(site, models):
    expect = sync_api.expect
    tab = open_page(site)
    expect(tab.locator("#key-out")).to_contain_text("needs an API key")
    tab.fill("#api-key", KEY)
    tab.click("#key-go")
    expect(tab.locator("#key-out")).to_contain_text("serving:")
    for model in models["classifiers"]:
        assert tab.locator("#cls-model option", has_text=model).count() == 1
    tab.close()


def test_a_sentence_shows_tokens_masking_a_label_a_heat_map_and_attention(page):
    expect = sync_api.expect
    page.fill("#text", SENTENCE)
    page.click("#look")
    tokens = page.locator("#tokens .tok")
    expect(tokens.first).to_contain_text("[CLS]")
    expect(page.locator("#tokens .tok.special")).to_have_count(2)
    assert "gorgeous" in page.inner_text("#tokens")
    expect(page.locator("#masked .tok")).to_have_count(tokens.count())
    expect(page.locator("#cls-result .label")).to_contain_text("label: ")
    expect(page.locator("#cls-out")).to_contain_text("convergence delta")
    heat = page.locator("#heat .tok:not(.special)")
    expect(heat).to_have_count(tokens.count() - 2)
    colours = {heat.nth(i).evaluate("n => n.style.background") for i in range(heat.count())}
    assert all(c.startswith("rgba(") for c in colours) and len(colours) > 1  # a real heat map
    canvas = page.locator("#att-canvas")
    expect(canvas).to_have_attribute("data-tokens", str(tokens.count()))
    assert canvas.evaluate("c => c.width") > 110  # a grid beside the 110-pixel labels
    painted = canvas.evaluate(
        "c => c.getContext('2d').getImageData(115, 115, 1, 1).data[2]"  # first cell: blue
    )
    assert painted == 255
    expect(page.locator("#att-layer option")).to_have_count(2)
    expect(page.locator("#att-head option")).to_have_count(3)  # mean + 2 heads
    page.select_option("#att-layer", "1")
    page.select_option("#att-head", "1")
    page.click("#att-go")
    expect(page.locator("#att-out")).to_contain_text("layer 1 of 2, head 1 of 2")
    screenshot(page, "playground-look.png")


def test_generation_streams_text_with_its_rate(page):
    expect = sync_api.expect
    page.fill("#gen-max", "12")
    page.fill("#gen-temp", "1")
    page.fill("#gen-seed", "3")
    page.uncheck("#gen-chat")
    page.fill("#gen-text", "the movie")
    page.click("#gen-go")
    expect(page.locator("#gen-stats")).to_contain_text("tokens/s")
    expect(page.locator("#gen-stats")).to_contain_text("finish:")
    assert len(page.inner_text("#gen-out")) > len("the movie")
    screenshot(page, "playground-generate.png")


def test_fill_mask_top_k(page):
    expect = sync_api.expect
    page.fill("#fm-text", "the movie was [MASK] .")
    page.fill("#fm-k", "3")
    page.click("#fm-go")
    expect(page.locator("#fm-out")).to_have_text("")  # no error shown
    expect(page.locator("#fm-table tr")).to_have_count(3)
