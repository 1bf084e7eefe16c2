"""The launched app driven through gradio_client, as a script or another Space would."""

from __future__ import annotations

import os
import threading
import time

import pytest
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from conftest import free_port  # noqa: E402
from lab_fixtures import tiny_lab  # noqa: E402

REQUIRED_API = {"generate", "new_seed", "start_run", "run_status", "stop_run", "pause_run", "resume_run", "latent_walk"}



@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(client, lab): the app on a free localhost port, closed after the module."""
    from gradio_client import Client

    from app import build_app, launch

    lab = tiny_lab(tmp_path_factory.mktemp("app"))
    demo = build_app(lab)
    port = free_port()
    launch(demo, [str(lab.runs_dir)], server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False), lab
    finally:
        lab.slot.shutdown()
        demo.close()


def status(client) -> dict:
    return client.predict(api_name="/run_status")[-2]


def test_every_documented_endpoint_is_named(served):
    client, _ = served
    names = {name.lstrip("/") for name in client.view_api(return_format="dict")["named_endpoints"]}
    assert REQUIRED_API <= names


def test_generate_returns_two_png_grids_and_a_table(served):
    client, lab = served
    teacher, student, info = client.predict(5, 16, "bundled student", api_name="/generate")
    for path in (teacher, student):
        with Image.open(path) as image:
            assert image.format == "PNG" and image.mode == "L"
            assert image.size[1] >= image.size[0] >= 4 * 30  # a 4x4 grid, upscaled (and a label band under each row, with the classifier)
    assert f"{lab.teacher.parameters:,}" in info and "generation time (16)" in info


@pytest.mark.parametrize(
    "endpoint, args, message",
    [("/generate", (-5, 16, "bundled student"), "seed must be an integer"),
     ("/generate", (0, 10_000, "bundled student"), "number of samples must be an integer in [1, 64]"),
     ("/latent_walk", (0, 1, 500, "bundled student"), "frames must be")],
)  # fmt: skip
def test_bad_input_is_a_status_message_not_an_error(served, endpoint, args, message):
    client, _ = served
    result = client.predict(*args, api_name=endpoint)
    assert message in result[-1] and result[-1].startswith("⚠️")


@pytest.mark.parametrize(
    "settings, message",
    [({"steps": -1}, "steps must be"), ({"lr_generator": 3.0}, "generator learning rate must be"),
     ({"alpha": 2.0}, "α"), ({"seed": -1}, "seed must be"), ({"batch_size": 0}, "batch size must be")],
)  # fmt: skip
def test_bad_run_settings_are_refused_with_a_message(served, settings, message):
    client, lab = served
    result = client.predict(api_name="/start_run", **settings)
    assert message in result[-1]
    assert lab.slot.busy() is None


def test_a_recipe_fills_every_setting_it_names(served):
    from ganlab.lab import FAST, ORIGINAL

    client, _ = served
    assert client.predict(ORIGINAL.label, api_name="/apply_recipe") == (0.5, ["14x14"], 2e-4, 2e-4, 0.0)
    assert client.predict(FAST.label, api_name="/apply_recipe") == (0.9, ["7x7", "14x14", "pixels"], 1e-3, 2e-4, 0.99)


def test_stop_when_nothing_runs_says_so(served):
    client, _ = served
    assert "nothing to stop" in client.predict(api_name="/stop_run")[-1]


def test_a_run_starts_streams_and_stops_and_its_thread_ends(served):
    client, lab = served
    result = client.predict(api_name="/start_run", steps=3000, batch_size=32, baseline=True)
    assert result[-2]["state"] in ("preparing", "running") and result[-2]["settings"]["alpha"] == 0.9  # the fast default recipe
    assert result[-2]["settings"]["layers"] == ["7x7", "14x14", "pixels"] and result[-2]["settings"]["ema_decay"] == 0.99
    deadline = time.monotonic() + 30
    while (current := status(client))["step"] < 3:
        assert time.monotonic() < deadline, current
        time.sleep(0.3)
    assert current["latest_losses"]["distillation"] > 0 and current["baseline_step"] >= 1

    refused = client.predict(api_name="/start_run")[-1]
    assert "your run is already training: press Stop first" in refused  # the same session: it is told the run is its own

    stopped = client.predict(api_name="/stop_run")
    assert stopped[-2]["state"] == "stopped" and not stopped[-2]["threads_alive"]
    assert not [t for t in threading.enumerate() if t.name == "ganlab-trainer"]
    download = stopped[-3]  # before the status JSON and the message (button and Column updates are not outputs a client sees)
    assert download is not None and download.endswith(".safetensors")
    teacher, student, info = client.predict(0, 4, "last run's student", api_name="/generate")
    assert "784,640" in info  # the run's (original-width) student now serves Compare


def test_the_benchmark_script_measures_both_phases(tmp_path):
    import json
    import signal
    import subprocess
    import sys

    from lab_fixtures import tiny_checkpoints

    teacher, student = tiny_checkpoints(tmp_path)
    output = tmp_path / "bench.json"
    env = {**os.environ, "GANLAB_TEACHER": str(teacher), "GANLAB_STUDENT": str(student)}
    # its own process group: a benchmark cut by the timeout takes the app server it started with it
    # (subprocess.run's timeout kills only the benchmark, and an orphaned server loads the rest of the suite)
    bench = subprocess.Popen(
        [sys.executable, "scripts/bench_app.py", str(output), "--quick", "--n", "16"],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )
    try:
        stdout, stderr = bench.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(bench.pid, signal.SIGKILL)
        stdout, stderr = bench.communicate()
        pytest.fail(f"bench_app.py did not finish in 180 s: {stderr[-2000:]}")
    result = subprocess.CompletedProcess(bench.args, bench.returncode, stdout, stderr)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(output.read_text())
    for phase in ("idle", "while_training", "idle_http"):
        assert data[phase]["requests"] == 5 and 0 < data[phase]["median_ms"] <= data[phase]["p95_ms"]
    assert data["run_stopped"] is True and "median ms" in result.stdout


def test_the_upload_route_is_closed(served):
    import urllib.error
    import urllib.request

    client, _ = served
    request = urllib.request.Request(client.src.rstrip("/") + "/gradio_api/upload", data=b"x" * 100, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


def test_a_session_has_one_draw_in_the_queue_and_others_are_not_held(served):
    """A second draw from the same session is refused at once; another session's draw goes through."""
    import asyncio
    from types import SimpleNamespace

    from ganlab.lab import serving

    draw, status_fn = SimpleNamespace(api_name="generate", concurrency_id="draw"), SimpleNamespace(api_name="run_status", concurrency_id="1")
    pushed = []

    async def push(body, request, username):
        pushed.append(body.fn_index)
        return True, "event", "success"

    redraw = SimpleNamespace(api_name=None, concurrency_id="draw")  # a redraw-on-change trigger, joined by index
    queue = SimpleNamespace(blocks=SimpleNamespace(fns={1: draw, 2: status_fn, 3: redraw}), push=push,
                            pending_event_ids_session={"alice": {"e1"}}, event_ids_to_events={"e1": SimpleNamespace(fn=draw)})  # fmt: skip
    serving.one_draw_per_session(queue)
    join = lambda session, fn: asyncio.run(queue.push(SimpleNamespace(session_hash=session, fn_index=fn), None, None))  # noqa: E731
    assert join("alice", 1) == (False, serving.BUSY_MESSAGE, "error")  # alice's draw is still pending
    assert join("alice", 3) == (False, serving.BUSY_MESSAGE, "error")
    assert join("alice", 2)[0] and join("bob", 1)[0]  # the run controls, and another visitor, go through
    assert pushed == [2, 1]
    # the launched app's queue is wrapped the same way
    client, _ = served
    assert client.predict(0, 1, "bundled student", api_name="/generate")[-1]


def test_every_endpoint_names_its_parameters_and_keyword_calls_work(served):
    client, _ = served
    api = client.view_api(return_format="dict")["named_endpoints"]
    names = {endpoint: [parameter["parameter_name"] for parameter in spec["parameters"]] for endpoint, spec in api.items()}
    assert not [endpoint for endpoint, parameters in names.items() if any(name.startswith("param_") for name in parameters)], names
    assert names["/generate"][:4] == ["seed", "n", "student", "digit"]
    assert names["/latent_walk"][:4] == ["seed_a", "seed_b", "frames", "student"]
    teacher, student, info = client.predict(seed=3, n=4, student="bundled student", api_name="/generate")
    assert "generation time (4)" in info
