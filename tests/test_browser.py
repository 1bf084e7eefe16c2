"""A real browser (Debian's chromium via Playwright): generate, start a run, watch the plot, stop."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from conftest import free_port  # noqa: E402
from lab_fixtures import tiny_lab  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) or shutil.which("chromium")), reason="Debian's chromium is not installed"
)


@pytest.fixture
def app_url(tmp_path):
    from app import build_app, launch

    lab = tiny_lab(tmp_path)
    demo = build_app(lab)
    port = free_port()
    launch(demo, [str(lab.runs_dir)], server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        lab.slot.shutdown()
        demo.close()


@pytest.fixture
def page():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            browser.close()


PLOT_POINTS = "() => { const gd = document.querySelector('#loss-plot .js-plotly-plot'); return gd && gd.data && gd.data.length ? gd.data[0].x.length : 0; }"


def test_generate_then_run_watch_and_stop(app_url, page):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)

    # Compare: the page load shows both grids; a new seed replaces them
    teacher, student = page.locator("#teacher-image img"), page.locator("#student-image img")
    teacher.wait_for()
    first_src = teacher.get_attribute("src")
    page.locator("#seed input").fill("123")
    page.locator("#generate").click()
    page.wait_for_function(
        "old => { const img = document.querySelector('#teacher-image img'); return img && img.src !== old; }",
        arg=first_src,
    )
    assert teacher.is_visible() and student.is_visible()
    assert page.locator("#compare-info").inner_text().count("generation time") == 1

    # Distill: start, see the loss plot grow, stop
    page.get_by_role("tab", name="Distill from scratch").click()
    page.locator("#start").click()
    page.wait_for_function(f"({PLOT_POINTS})() >= 2")
    seen = page.evaluate(f"({PLOT_POINTS})()")
    page.wait_for_function(f"({PLOT_POINTS})() > {seen}")  # the timer keeps redrawing it
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser_run.png"), full_page=True)

    # a refreshed page re-attaches: the run's plot is back and still growing, without pressing Start
    page.reload()
    page.get_by_role("tab", name="Distill from scratch").click()
    page.wait_for_function(f"({PLOT_POINTS})() >= 2")
    seen = page.evaluate(f"({PLOT_POINTS})()")
    page.wait_for_function(f"({PLOT_POINTS})() > {seen}")
    assert len([t for t in threading.enumerate() if t.name == "ganlab-trainer"]) == 1  # the same run, not a second
    page.locator("#stop").click()
    page.wait_for_function("() => document.querySelector('#run-message').innerText.includes('Done')")
    assert "stopped by" in page.locator("#run-message").inner_text()
    assert not [t for t in threading.enumerate() if t.name == "ganlab-trainer"]
    assert not errors, errors


def test_a_run_belongs_to_the_browser_that_started_it_even_after_a_reload(app_url):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or CHROMIUM, args=BROWSER_ARGS)
        try:
            owner, stranger = (browser.new_context(viewport={"width": 1280, "height": 1400}).new_page() for _ in range(2))
            message = "() => document.querySelector('#run-message').innerText"
            for page in (owner, stranger):
                page.set_default_timeout(30_000)
                page.goto(app_url)
                page.get_by_role("tab", name="Distill from scratch").click()
            owner.locator("#start").click()
            owner.wait_for_function(f"({message})().includes('started by you')")

            # the other browser watches read-only: its Stop and Pause are refused, the run goes on
            stranger.reload()
            stranger.get_by_role("tab", name="Distill from scratch").click()
            stranger.wait_for_function(f"({message})().includes('started by another visitor')")
            for button in ("#stop", "#pause"):
                stranger.locator(button).click()
                # the refusal: a toast, and the status line until the next poll redraws it
                stranger.wait_for_function("() => document.body.innerText.includes('belongs to another visitor')")
                stranger.wait_for_function(f"({message})().includes('started by another visitor')")  # the next poll
            assert "Training" in owner.evaluate(message)

            # a reload keeps the owner the owner, and its Stop works
            owner.reload()
            owner.get_by_role("tab", name="Distill from scratch").click()
            owner.wait_for_function(f"({message})().includes('started by you')")
            owner.locator("#stop").click()
            owner.wait_for_function(f"({message})().includes('stopped by the visitor who started it')")
            assert not [t for t in threading.enumerate() if t.name == "ganlab-trainer"]
        finally:
            browser.close()
