"""A real browser (Debian's chromium via Playwright): every tab, a first run from the MNIST download
to step-by-step and its history, and who may control a run (re-attaching after a reload).

Screenshots of each tab land in tests/artifacts/ (not committed)."""

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


def served(lab):
    """The app on `lab`, on a free localhost port: yields its URL, then stops the run and the server."""
    from app import build_app, launch

    demo = build_app(lab)
    port = free_port()
    launch(demo, [str(lab.runs_dir)], server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        lab.slot.shutdown()
        demo.close()


@pytest.fixture
def app_url(tmp_path):
    yield from served(tiny_lab(tmp_path))


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
QUALITY_POINTS = "() => { const gd = document.querySelector('#quality-plot .js-plotly-plot'); return gd && gd.data && gd.data.length ? gd.data[0].x.length : 0; }"
PHASE = "() => document.querySelector('#run-phase').innerText"
MESSAGE = "() => document.querySelector('#run-message').innerText"
PROGRESS = "() => document.querySelector('#run-progress').innerText"


BUTTONS = ("start", "pause", "resume", "step", "stop")


def wait_value(page, selector: str, value: str, timeout_ms: int = 30_000) -> None:
    """Wait until the input at `selector` holds `value`; a timeout says what it held instead."""
    try:
        page.wait_for_function(f"() => document.querySelector({selector!r})?.value === {value!r}", timeout=timeout_ms)
    except Exception:
        held = page.evaluate(f"() => document.querySelector({selector!r})?.value")
        raise AssertionError(f"{selector} holds {held!r}, not {value!r}") from None


def enabled(page) -> dict[str, bool]:
    return {name: page.locator(f"#{name}").is_enabled() for name in BUTTONS}


IDLE = {"start": True, "pause": False, "resume": False, "step": False, "stop": False}


def wait_enabled(page, expected: dict[str, bool], timeout_ms: int = 10_000) -> None:
    """Wait until the five buttons read `expected`: a poll answered just before a click may land just
    after it and show the previous state for up to one poll (1 s)."""
    script = "want => Object.entries(want).every(([id, on]) => { const b = document.querySelector('#' + id); return b && b.disabled === !on; })"
    try:
        page.wait_for_function(script, arg=expected, timeout=timeout_ms)
    except Exception:
        shown = f"{page.evaluate(PHASE)!r}, {page.evaluate(MESSAGE)!r}"
        raise AssertionError(f"buttons {enabled(page)}, expected {expected}; the page shows {shown}") from None


@pytest.fixture
def mnist_mirror(tmp_path, monkeypatch):
    """No MNIST under the data root: the first Start fetches it, from a local mirror of the real files
    that copies them in slow chunks (about 3 s), so the phase line can be watched while it downloads."""
    import time

    from ganlab import data

    present = data.raw_dir()
    if not data.mnist_present():
        pytest.skip("needs the real MNIST files (python scripts/fetch_mnist.py) to mirror")

    def mirror(root):
        folder = data.raw_dir(root)
        folder.mkdir(parents=True, exist_ok=True)
        for name in data.SHA256:
            with open(present / name, "rb") as source, open(folder / f"{name}.part", "wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
                    out.flush()
                    time.sleep(0.05)
            (folder / f"{name}.part").replace(folder / name)

    monkeypatch.setenv(data.ROOT_ENV, str(tmp_path / "fresh-data"))
    monkeypatch.setitem(data.SOURCE_OVERRIDES, "mnist", [("local mirror", mirror)])


@pytest.fixture
def lab_url(tmp_path, mnist_mirror):
    yield from served(tiny_lab(tmp_path, classifier=True, probe_every_s=1.0, train_images=2_000))


def test_every_tab_and_a_first_run_from_download_to_step_by_step(lab_url, page):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(lab_url)
    ARTIFACTS.mkdir(exist_ok=True)

    # Compare and Latent walk both show images on load, captions above the grids (no badge over them)
    teacher = page.locator("#teacher-image img")
    teacher.wait_for()
    first_src = teacher.get_attribute("src")
    page.locator("#seed input").fill("123")
    page.locator("#generate").click()
    page.wait_for_function(
        "old => { const img = document.querySelector('#teacher-image img'); return img && img.src !== old; }", arg=first_src
    )
    assert page.locator("#compare-info").inner_text().count("generation time") == 1
    # the samples zip appears in view, under its button (it once landed ~1,250 px below it)
    page.locator("#download-pngs").click()
    page.locator("#compare-zip").wait_for()
    button, panel = page.locator("#download-pngs").bounding_box(), page.locator("#compare-zip").bounding_box()
    assert 0 <= panel["y"] - (button["y"] + button["height"]) < 200, (button, panel)
    page.screenshot(path=str(ARTIFACTS / "tab_compare.png"), full_page=True)
    page.get_by_role("tab", name="Latent walk").click()
    page.locator("#walk-teacher img").wait_for()
    shown = page.evaluate("() => { const img = document.querySelector('#walk-teacher img'); return img.getBoundingClientRect().width / img.naturalWidth; }")
    assert 84 * shown >= 56  # rows of up to 8 frames drawn 84 px wide, shown at least 56 px wide
    assert not page.locator("#walk-gif").is_visible()  # no empty file panel before there is a file
    page.screenshot(path=str(ARTIFACTS / "tab_latent_walk.png"), full_page=True)
    page.get_by_role("tab", name="About").click()
    page.screenshot(path=str(ARTIFACTS / "tab_about.png"), full_page=True)

    # Distill, idle: only Start acts; the baseline and download panels are hidden
    page.get_by_role("tab", name="Distill from scratch").click()
    page.wait_for_function(f"({PHASE})().includes('idle')")
    wait_enabled(page, IDLE)
    assert not page.locator("#run-baseline-image").is_visible() and not page.locator("#run-download").is_visible()

    # the first Start downloads MNIST: the phase line says so, with the bytes so far
    page.locator("#start").click()
    page.wait_for_function(f"({PHASE})().includes('downloading MNIST')")
    assert "MB so far" in page.evaluate(PHASE)
    page.wait_for_function(f"({PHASE})().includes('training')", timeout=60_000)
    page.wait_for_function(f"(() => {{ const b = document.querySelector('#pause'); return b && !b.disabled; }})()")
    wait_enabled(page, {"start": False, "pause": True, "resume": False, "step": False, "stop": True})
    assert "budget" in page.evaluate(PROGRESS)  # 120 s budget, 5,000 steps: the budget ends it, and the bar says so

    # the quality curve appears and grows; real digits sit beside the live samples
    page.wait_for_function(f"({QUALITY_POINTS})() >= 1")
    seen = page.evaluate(f"({QUALITY_POINTS})()")
    page.wait_for_function(f"({QUALITY_POINTS})() > {seen}")
    page.locator("#real-image img").wait_for()
    # the FID panel's log axis spans the data's decades (reference lines once stretched it to 10^67)
    fid_axis = page.evaluate("""() => { const gd = document.querySelector('#quality-plot .js-plotly-plot');
        const ys = gd.data.filter(t => t.yaxis === 'y2').flatMap(t => t.y).filter(y => y > 0);
        return {range: gd._fullLayout.yaxis2.range, low: Math.min(...ys), high: Math.max(...ys)}; }""")
    low, high = fid_axis["range"]
    assert 10**low <= fid_axis["low"] and 10**high >= fid_axis["high"] and high - low < 3, fid_axis

    # pause: no rate or time left; Step runs exactly N steps and pauses again
    page.locator("#pause").click()
    page.wait_for_function(f"({PHASE})().includes('paused at step')")
    page.wait_for_function("(() => { const b = document.querySelector('#step'); return b && !b.disabled; })()")
    wait_enabled(page, {"start": False, "pause": False, "resume": True, "step": True, "stop": True})
    assert "steps/s" not in page.evaluate(PROGRESS) and "left" not in page.evaluate(PROGRESS)
    page.wait_for_timeout(1_500)  # the step in flight when Pause arrived has landed, and a poll has shown it
    paused_at = int(page.evaluate(PHASE).rsplit("step", 1)[1].strip().replace(",", ""))
    page.locator("#step-count input").fill("3")
    page.locator("#step-count input").blur()
    page.locator("#step").click()
    try:
        page.wait_for_function(f"({PHASE})().includes('paused at step {paused_at + 3}')")
    except Exception:
        raise AssertionError(f"after Step 3 from {paused_at}: {page.evaluate(PHASE)!r}, {page.evaluate(MESSAGE)!r}") from None

    # the history slider scrubs back to the first snapshot
    for position, caption in ((50, "(snapshot "), (0, "student at step 0 (snapshot 1 of")):
        page.locator("#history input[type=number]").fill(str(position))
        page.locator("#history input[type=number]").press("Enter")
        try:
            page.wait_for_function(f"() => document.querySelector('#history-caption').innerText.includes('{caption}')", timeout=8000)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "debug.png"), full_page=True)
            raise AssertionError(page.evaluate("() => document.querySelector('#history').innerText + ' | ' + document.querySelector('#history input[type=number]').value + ' | ' + document.querySelector('#history-caption').innerText"))
    page.locator("#history-image img").wait_for()

    page.locator("#resume").click()
    page.wait_for_function(f"({PHASE})() === 'Phase: training'")
    page.screenshot(path=str(ARTIFACTS / "tab_distill.png"), full_page=True)
    page.locator("#stop").click()
    page.wait_for_function(f"({MESSAGE})().includes('Stopped at step')")
    assert "by you" in page.evaluate(MESSAGE)
    try:
        wait_enabled(page, IDLE, timeout_ms=60_000)  # the step in flight and the final save end first
    except AssertionError:
        page.screenshot(path=str(ARTIFACTS / "debug-after-stop.png"), full_page=True)
        raise
    page.locator("#run-download").wait_for()
    assert not [t for t in threading.enumerate() if t.name == "ganlab-trainer"]
    assert not errors, errors


def test_a_run_belongs_to_the_browser_that_started_it_even_after_a_reload(app_url):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or CHROMIUM, args=BROWSER_ARGS)
        try:
            owner, stranger = (browser.new_context(viewport={"width": 1280, "height": 1400}).new_page() for _ in range(2))
            for page in (owner, stranger):
                page.set_default_timeout(30_000)
                page.goto(app_url)
            owner.get_by_role("tab", name="Distill from scratch").click()
            wait_enabled(owner, IDLE)  # the page's load has filled the form and enabled Start
            owner.locator("#advanced").get_by_text("Advanced", exact=True).click()  # the form's less used half
            for _ in range(3):  # a late page answer can put the stored value back over a fresh fill (see the note in ganlab/ui/distill.py)
                owner.locator("#steps input").fill("4321")
                owner.wait_for_timeout(1000)
                if owner.locator("#steps input").input_value() == "4321":
                    break
            wait_value(owner, "#steps input", "4321")
            owner.locator("#start").click()
            owner.wait_for_function(f"({MESSAGE})().includes('started by you')")

            # the other browser watches read-only: its Start, Pause, Step and Stop do not act, the run goes on
            stranger.reload()
            stranger.get_by_role("tab", name="Distill from scratch").click()
            stranger.wait_for_function(f"({MESSAGE})().includes('started by another visitor')")
            wait_enabled(stranger, {"start": False, "pause": False, "resume": False, "step": False, "stop": False})
            # (its form is filled with the run's settings by the same answer; not asserted here: a value sent to a
            # field inside the closed Advanced accordion is sometimes lost by the page, 1 time in 3 in this test)
            message = owner.evaluate(MESSAGE)  # read once: the run may go from preparing to training between two reads
            assert "Training" in message or "Preparing" in message, message

            # a reload keeps the owner the owner and re-attaches to the same run: its plot is back and
            # still growing without pressing Start; then its Stop works
            owner.reload()
            owner.get_by_role("tab", name="Distill from scratch").click()
            owner.wait_for_function(f"({MESSAGE})().includes('started by you')")
            owner.wait_for_function(f"({PLOT_POINTS})() >= 2")
            seen = owner.evaluate(f"({PLOT_POINTS})()")
            owner.wait_for_function(f"({PLOT_POINTS})() > {seen}")
            assert len([t for t in threading.enumerate() if t.name == "ganlab-trainer"]) == 1  # the same run, not a second
            owner.wait_for_function("(() => { const b = document.querySelector('#stop'); return b && !b.disabled; })()")
            owner.locator("#stop").click()
            owner.wait_for_function(f"({MESSAGE})().includes('Stopped at step')")
            assert not [t for t in threading.enumerate() if t.name == "ganlab-trainer"]
        finally:
            browser.close()


@pytest.fixture
def fashion_url(tmp_path):
    from ganlab.data import dataset_present

    if not dataset_present("fashion-mnist"):
        pytest.skip("needs Fashion-MNIST (python scripts/fetch_mnist.py --dataset fashion-mnist)")
    yield from served(tiny_lab(tmp_path, classifier=True, train_images=512, probe_every_s=2.0))


def test_fashion_mnist_from_the_dataset_choice_to_a_run_on_it(fashion_url, page):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(fashion_url)
    page.locator("#teacher-image img").wait_for()
    info = "() => document.querySelector('#compare-info').innerText"

    # the choice redraws Compare with the Fashion teacher and student, classes named under the grids
    page.locator("#dataset").get_by_text("Fashion-MNIST", exact=True).click()
    page.wait_for_function(f"({info})().includes('0 T-shirt/top')")
    assert "same predicted garment" in page.evaluate(info)
    page.locator("#digit input").click()
    page.get_by_role("option", name="Sandal", exact=True).click()
    page.wait_for_function(f"({info})().includes('garment Sandal:')")
    assert page.locator("#teacher-image img").is_visible() and page.locator("#student-image img").is_visible()

    # a run started now trains on Fashion-MNIST against its teacher, and says so
    page.get_by_role("tab", name="Distill from scratch").click()
    page.locator("#start").click()
    page.wait_for_function(f"({MESSAGE})().includes('started by you')")
    page.wait_for_function(f"({PROGRESS})().includes('Fashion-MNIST') && /step [1-9]/.test(({PROGRESS})())", timeout=120_000)
    page.locator("#stop").click()
    page.wait_for_function(f"({MESSAGE})().includes('Stopped at step')")
    wait_enabled(page, IDLE, timeout_ms=60_000)

    # back to MNIST: digits again, the Hub-free choice per visitor
    page.get_by_role("tab", name="Compare").click()
    page.locator("#dataset").get_by_text("MNIST", exact=True).click()
    page.wait_for_function(f"!({info})().includes('T-shirt') && ({info})().includes('same predicted digit')")
    assert not errors, errors
