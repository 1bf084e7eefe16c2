"""What the reliability tests share: the app served on a free port, and the records they keep.

Each test_reliability_*.py file checks one concern. Records (each malformed-input case, each
figure) are written only when GANLAB_RELIABILITY_OUT names a folder, as reliability.json in it;
scripts/reliability.py sets it, stores the file as checkpoints/reliability.json and regenerates
docs/reliability.md. A plain test run records nothing and writes no page.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from conftest import free_port  # noqa: E402
from lab_fixtures import tiny_lab  # noqa: E402

from ganlab.checkpoints import atomic_write_json  # noqa: E402

BUNDLED_STUDENT = "bundled student"  # the Compare menu's own student
_RECORDS_LOCK = threading.Lock()


def _update_records(change: Callable[[dict[str, Any]], None]) -> None:
    out = os.environ.get("GANLAB_RELIABILITY_OUT")
    if not out:
        return
    path = Path(out) / "reliability.json"
    with _RECORDS_LOCK:
        records = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"cases": [], "figures": {}}
        change(records)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, records)


def record_case(order: int, surface: str, input: str, message: str) -> None:
    """One malformed-input case as the docs table shows it; `order` is its place in the table."""

    def change(records: dict[str, Any]) -> None:
        records["cases"] = [case for case in records["cases"] if case["order"] != order]
        records["cases"].append({"order": order, "surface": surface, "input": input, "message": message})

    _update_records(change)


def record_figure(name: str, values: dict[str, Any]) -> None:
    """One measured figure (concurrency, stop_restart, divergence, …) for the docs page."""
    _update_records(lambda records: records["figures"].__setitem__(name, values))


def trainer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in ("ganlab-trainer", "ganlab-watchdog")]


# ---- the app, served on a free port (one per test module) ----------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(url, lab): the app on tiny checkpoints and 512 synthetic images."""
    from app import build_app, launch

    lab = tiny_lab(tmp_path_factory.mktemp("reliability-app"), data_source="synthetic", train_images=512)
    demo = build_app(lab)
    port = free_port()
    launch(demo, [str(lab.runs_dir)], server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", lab
    finally:
        lab.slot.shutdown()
        demo.close()


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    return Client(served[0], verbose=False)
