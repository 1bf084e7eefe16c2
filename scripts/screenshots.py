"""The README's and docs' pictures of the app: Compare on a desktop and on a phone, the Distill tab.

    python scripts/screenshots.py                 # docs/img/*.png (Debian's chromium, Playwright)

Serves the app in this process with the bundled models, opens it in chromium at 1366 x 900
(desktop) and 390 x 844 (a phone), and saves what a visitor sees first.
"""

from __future__ import annotations

import argparse
import shutil
import socket
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "docs" / "img"), help="folder for the PNGs")
    args = parser.parse_args()
    import runpy

    from playwright.sync_api import sync_playwright

    from ganlab.lab import Lab

    app = runpy.run_path(str(REPO / "app.py"), run_name="ganlab_app")  # app.py is the repo's, not a package module
    build_app, launch = app["build_app"], app["launch"]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lab = Lab()
    demo = build_app(lab)
    port = free_port()
    launch(demo, [str(lab.runs_dir)], server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=["--no-sandbox"])
            for name, viewport, full in (("compare-desktop", {"width": 1366, "height": 900}, False), ("compare-phone", {"width": 390, "height": 844}, False)):
                page = browser.new_page(viewport=viewport, device_scale_factor=1)
                page.goto(f"http://127.0.0.1:{port}/")
                page.locator("#teacher-image img").wait_for(timeout=60_000)
                page.locator("#compare-info table").wait_for(timeout=60_000)
                page.wait_for_timeout(500)
                page.screenshot(path=str(out / f"{name}.png"), full_page=full)
                print(out / f"{name}.png")
            page = browser.new_page(viewport={"width": 1366, "height": 900}, device_scale_factor=1)
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("#teacher-image img").wait_for(timeout=60_000)
            page.locator("#dataset").get_by_text("Fashion-MNIST", exact=True).click()
            page.wait_for_function("() => document.querySelector('#compare-info').innerText.includes('T-shirt/top')", timeout=60_000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(out / "compare-fashion.png"))
            print(out / "compare-fashion.png")
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_role("tab", name="Distill from scratch").click()
            page.locator("#start").wait_for()
            page.wait_for_timeout(500)
            page.screenshot(path=str(out / "distill-form.png"))
            print(out / "distill-form.png")
            browser.close()
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
