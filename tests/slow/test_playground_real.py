"""The playground on the real embedded models, in headless Chromium (minutes): minilm's
tokens and masking, a minilm classifier's label with its heat map, attention, smollm2's
streamed chat. Its screenshot is the README's (docs/playground.png):

    PLMKIT_CLASSIFIER_RUN=runs/quick-cls pytest -m slow tests/slow/test_playground_real.py
    cp tests/artifacts/playground-real.png docs/playground.png

Without PLMKIT_CLASSIFIER_RUN it fine-tunes one first (plm finetune --max-steps 40).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
CHROMIUM = Path(os.environ.get("PLMKIT_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("PLMKIT_ARTIFACTS", Path(__file__).parents[1] / "artifacts"))
KEY = "K-playground"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> str:
    if os.environ.get("PLMKIT_CLASSIFIER_RUN"):
        return os.environ["PLMKIT_CLASSIFIER_RUN"]
    out = tmp_path_factory.mktemp("quick-cls")
    command = [sys.executable, "-m", "plmkit.cli", "finetune", "--model", "minilm",
               "--data", "movie-snippets", "--max-steps", "40", "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return str(out)


@pytest.fixture(scope="module")
def base(classifier, tmp_path_factory):
    import httpx

    port = _free_port()
    log = (tmp_path_factory.mktemp("serve") / "serve.log").open("w")
    command = [sys.executable, "-m", "plmkit.cli", "serve", "--encoder", "minilm",
               "--generator", "smollm2", "--classifier", classifier, "--api-key", KEY,
               "--backend", "torch-fp32", "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=ENV)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    try:
        while True:
            try:
                if httpx.get(url + "/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(1)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def test_the_playground_on_the_real_models(base):
    if not CHROMIUM.exists():
        pytest.skip(f"no browser at {CHROMIUM}: `make browser` installs Debian's chromium")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=180_000)  # a 32-step explanation and a chat on a shared CPU
    with sync_playwright() as play:
        browser = play.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.set_default_timeout(180_000)
        page.goto(base + "/")
        page.fill("#api-key", KEY)
        page.click("#key-go")
        expect(page.locator("#key-out")).to_contain_text("smollm2 (generator)")
        page.fill("#text", "a gorgeous, moving film with a tedious ending")
        page.select_option("#att-layer", "0")
        page.click("#look")
        expect(page.locator("#cls-out")).to_contain_text("convergence delta")
        expect(page.locator("#att-out")).to_contain_text("encoder, layer")
        page.select_option("#att-layer", "3")
        page.select_option("#att-head", "5")
        page.click("#att-go")
        expect(page.locator("#att-out")).to_contain_text("layer 3 of 6, head 5 of 12")
        assert "gorgeous" in page.inner_text("#tokens")
        page.click("#fm-go")  # minilm has no MLM head: the page shows the API's error and fix
        expect(page.locator("#fm-out")).to_contain_text("no trained MLM head")
        page.fill("#gen-max", "40")
        page.fill("#gen-text", "What is the capital of France? Answer in one sentence.")
        page.click("#gen-go")
        expect(page.locator("#gen-stats")).to_contain_text("finish:")
        assert "Paris" in page.inner_text("#gen-out")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "playground-real.png"), full_page=True)
        browser.close()
