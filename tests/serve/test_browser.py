"""The page in a real headless Chromium (Debian's `chromium`, driven by Playwright): upload a clip,
preview a frame, queue the job, watch it to the end, play the result, and download what the CLI
gives for the same options."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import av
import numpy as np
import pytest

from clips import make_clip
from vsr.cli import main

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                "(apt-get install -y chromium; .ci/run does it)")
# Chromium's own connections (updates, sync, safe browsing) have nowhere to go here, and must not try.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-features=Translate,OptimizationHints,MediaRouter"]


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.fixture
def browser_page():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        yield page, errors
        browser.close()


def _until(page, script: str, timeout: float = 60) -> None:
    """Poll `script` in the page until it is true: the page's Content-Security-Policy forbids the
    string evaluation Playwright's own waiting uses, and the page is tested with it on."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(script):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {script}"
        time.sleep(0.1)


def _queue(page, *, output: str, codec: str | None) -> None:
    page.fill("#output", output)
    if codec:
        page.fill("input[name=codec]", codec)
    page.click("#queue-button")


def test_upload_preview_queue_watch_play_and_download(live, served, browser_page, tmp_path):
    page, errors = browser_page
    src = tmp_path / "street.mp4"
    make_clip(src, frames=150, size=(160, 120), options={"g": "10"}, audio_tracks=1)
    server = live()
    page.goto(server.url)
    page.wait_for_selector("#model option[value=tiny-x4]", state="attached")

    # Upload, and what the page read of the file.
    page.set_input_files("#file", str(src))
    _until(page, "document.getElementById('input-info').textContent.includes('video, 160×120')")
    # The README's screenshot is taken with the built-in model (VSR_SCREENSHOTS=folder); the test
    # alone with the tiny one, which is as good a test of the page and much faster.
    model = "realesr-animevideov3" if os.environ.get("VSR_SCREENSHOTS") else "tiny-x4"
    page.select_option("#model", model)
    page.click("summary")  # the encoding and long-video options
    page.fill("input[name=segment_seconds]", "1")
    page.select_option("#precision", "fp32")

    # Preview: the frame at a moment, before and after at the output size, compared by a slider.
    page.eval_on_selector("#moment", "m => { m.value = 2; m.dispatchEvent(new Event('input')); }")
    page.click("#preview-button")
    page.wait_for_selector("#compare-box:not([hidden])")
    _until(page, "document.getElementById('after').naturalWidth > 0 && "
                           "document.getElementById('before').naturalWidth > 0")
    sizes = page.evaluate("['before', 'after'].map(i => [document.getElementById(i).naturalWidth, "
                          "document.getElementById(i).naturalHeight])")
    assert sizes == [[640, 480], [640, 480]]
    assert "Frame at 2.00 s, 640×480" in page.text_content("#preview-info")
    page.eval_on_selector("#split", "s => { s.value = 30; s.dispatchEvent(new Event('input')); }")
    clip_width = page.evaluate("document.getElementById('before-clip').getBoundingClientRect().width")
    frame_width = page.evaluate("document.getElementById('after').getBoundingClientRect().width")
    assert clip_width == pytest.approx(0.3 * frame_width, abs=2)

    # Queue it as an MP4 (H.264, which Chromium plays), and watch it to the end.
    page.select_option("#format", "mp4")
    _queue(page, output="street-x4.mp4", codec=None)
    job = page.locator(".jobs > li").first
    seen: list[str] = []
    screenshot = tmp_path / "web-app.png"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = job.locator(".job-line").first.text_content() or ""
        seen.append(line)
        if "fps" in line and not screenshot.exists() and "/ 150" in line and not line.startswith("0 /"):
            page.screenshot(path=str(screenshot), full_page=True)
        if job.locator(".state.done").count():
            break
        time.sleep(0.1)
    assert job.locator(".state.done").count(), seen[-5:]
    assert any("/ 150 frames" in s for s in seen), seen[:5]
    assert "150 frames, 160×120 → 640×480" in job.locator(".job-line").first.text_content()
    assert screenshot.exists(), "the page was shot mid-job"
    if os.environ.get("VSR_SCREENSHOTS"):
        shutil.copy(screenshot, Path(os.environ["VSR_SCREENSHOTS"]) / "web-app.png")

    # The result plays in the page.
    _until(page, "(() => { const v = document.querySelector('.jobs video'); "
                           "return v && v.readyState >= 2 && v.videoWidth === 640; })()", timeout=30)
    page.eval_on_selector(".jobs video", "v => { v.muted = true; return v.play(); }")
    _until(page, "document.querySelector('.jobs video').currentTime > 0.2", timeout=30)

    # Again as lossless FFV1 in Matroska: the download is, frame for frame, what the CLI gives.
    page.select_option("#format", "mkv")
    _queue(page, output="street-x4.mkv", codec="ffv1")
    _until(page, "document.querySelectorAll('.jobs .state.done').length === 2", timeout=120)
    ffv1 = page.locator(".jobs > li", has_text="street-x4.mkv")
    with page.expect_download() as download:
        ffv1.locator("a", has_text="Download").click()
    got = tmp_path / "web.mkv"
    download.value.save_as(got)
    cli = tmp_path / "cli.mkv"
    assert main(["upscale", str(src), str(cli), "--model", model, "--codec", "ffv1", "--precision", "fp32",
                 "--segment-seconds", "1", "--quiet"]) == 0
    web_frames, cli_frames = _frames(got), _frames(cli)
    assert len(web_frames) == len(cli_frames) == 150
    assert all(np.array_equal(a, b) for a, b in zip(web_frames, cli_frames, strict=True))
    assert not errors, errors


def test_names_from_the_server_are_shown_as_text_not_markup(live, served, browser_page):
    page, errors = browser_page
    hostile = served["root"] / '<img src=x onerror="window.hit=1">.mp4'
    make_clip(hostile, frames=3)
    server = live()
    page.goto(server.url)
    page.click("#tab-folders")
    page.locator("#folder-list li").first.click()
    page.locator("#folder-list li", has_text="onerror").click()
    _until(page, "document.getElementById('input-info').textContent.includes('video')")
    assert page.evaluate("window.hit") is None
    assert page.locator("#folder-list img").count() == 0
    assert not errors, errors
