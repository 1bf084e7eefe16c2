"""Shared fixtures: tiny models and checkpoints so tests run in seconds on 2 CPU cores."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# gradio_client keeps every file it downloads in GRADIO_TEMP_DIR and leaves an empty folder in the
# temp dir for each one (about 500 folders a suite run, left on the machine for good). Point both,
# and every server the tests start, at one folder per session that goes when the session ends.
# Side by side, as /tmp/gradio and the app's /tmp/ganlab-* are: gradio serves what lies under its folder.
SCRATCH = tempfile.mkdtemp(prefix="ganlab-tests-")
os.environ["GRADIO_TEMP_DIR"] = os.path.join(SCRATCH, "gradio")
os.environ["TMPDIR"] = tempfile.tempdir = os.path.join(SCRATCH, "tmp")
os.makedirs(tempfile.tempdir)
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)
torch.set_num_threads(int(os.environ.get("GANLAB_TEST_THREADS", "2")))
# the allocator every script and the app set at start (run_main), set here once too: the suite's
# process then behaves the same whichever test first runs a script in-process
from ganlab import allocator  # noqa: E402

allocator.tune()

REPO = Path(__file__).resolve().parent.parent
# the scripts a test starts as a user would (`python scripts/x.py`) import this checkout's ganlab,
# not whichever copy `pip install -e` last pointed at
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))


@pytest.fixture
def tiny_student_config():
    from ganlab.config import GeneratorConfig

    return GeneratorConfig.student(width=8)


@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_student_config):
    """A saved width-8 student: a real checkpoint folder of the project's format."""
    from ganlab.checkpoints import save_checkpoint
    from ganlab.models import Generator, init_weights

    model = Generator(tiny_student_config)
    init_weights(model, torch.Generator().manual_seed(0))
    return save_checkpoint(model, tmp_path / "tiny", training={"steps": 0})


def run_in_process(script: str, *args: str, capsys) -> tuple[int, str, str]:
    """Run scripts/<script> in this process, as `python scripts/<script> args` would; (status, stdout, stderr).

    In-process (runpy): a fresh interpreter per call spends more time importing torch than the
    script runs. A script's --threads must not leak into later tests, so torch's count is restored.
    """
    import runpy

    threads = torch.get_num_threads()
    argv = sys.argv
    sys.argv = [str(REPO / "scripts" / script), *args]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    finally:
        sys.argv = argv
        torch.set_num_threads(threads)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_script(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a scripts/ entry point the way a user does, from the repo root."""
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def wait_for(condition, timeout: float = 30.0, interval: float = 0.1):
    """Poll condition() until it returns something truthy; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def free_port() -> int:
    """A localhost port nothing listens on, for a test server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
