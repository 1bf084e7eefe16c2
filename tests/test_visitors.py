"""Many visitors in one process (issue #12: 2, 3, 4, 9): run folders, served files, request bounds.

Everything runs on loopback against an in-process app on tiny models; each concurrent test is
bounded in calls and in time.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from conftest import REPO, free_port, wait_for  # noqa: E402
from lab_fixtures import tiny_lab  # noqa: E402

from ganlab.errors import GanlabError  # noqa: E402
from ganlab.lab import files, serving  # noqa: E402

# a refusal a visitor may meet while others race: a message, not a defect
EXPECTED = ("already training", "nothing to stop", "yet: finish a run", "has not ended yet", "another visitor")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(url, lab, demo): the app on a free localhost port, closed after the module."""
    from app import build_app, launch

    lab = tiny_lab(tmp_path_factory.mktemp("visitors"), run_cap_s=60)
    demo = build_app(lab)
    port = free_port()
    launch(demo, [str(lab.runs_dir)], server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", lab, demo
    finally:
        lab.slot.shutdown()
        demo.close()


def client_for(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, httpx_kwargs={"timeout": 60})  # a loaded 2-core machine answers in seconds, not the 5 s default


# ---- 2. races between visitors -------------------------------------------------------------------
def test_racing_starts_stops_and_generates_meet_no_missing_file(served):
    """4 visitors start and stop short runs while 2 generate from the last run's student: 0 errors."""
    url, lab, _ = served
    rounds, deadline = 10, time.monotonic() + 240  # 120 calls: 4 x 10 start/stop pairs, 2 x 20 generates
    calls: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def record(name: str, result=None, error: Exception | None = None) -> None:
        message = str(error) if error is not None else str(result[-1] if result else "")
        bad = error is not None or (message.startswith("⚠️") and not any(text in message for text in EXPECTED))
        with lock:
            calls.append(name)
            if bad:
                errors.append(f"{name}: {message[:200]}")

    def trainer_visitor() -> None:
        client = client_for(url)
        for _ in range(rounds):
            if time.monotonic() > deadline:
                return
            for name, kwargs in (("/start_run", {"steps": 12, "batch_size": 8, "time_budget_s": 20}), ("/stop_run", {})):
                try:
                    result = client.predict(api_name=name, **kwargs)
                    if name == "/stop_run" and isinstance(result[-3], str):
                        assert Path(result[-3]).stat().st_size > 0  # the download (before the status JSON and the message) arrived whole
                    record(name, result)
                except Exception as error:  # "Could not postprocess", a lost file: the defect
                    record(name, error=error)

    def compare_visitor() -> None:
        client = client_for(url)
        for index in range(rounds * 2):
            if time.monotonic() > deadline:
                return
            try:
                record("/generate", client.predict(index, 4, "last run's student", api_name="/generate"))
            except Exception as error:
                record("/generate", error=error)

    threads = [threading.Thread(target=trainer_visitor) for _ in range(4)]
    threads += [threading.Thread(target=compare_visitor) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, deadline + 30 - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a visitor hung"
    wait_for(lambda: lab.slot.busy() is None, timeout=30)
    print(f"race: {len(calls)} calls, {len(errors)} errors")
    assert len(calls) >= 100 and not errors, errors[:5]
    # old folders went once nobody held them: the last KEEP_RUNS plus those handed out just now
    kept = [folder for folder in lab.runs_dir.glob("run-*")]
    assert len(kept) <= len(lab.run_folders.folders()) and lab.run_folders.folders()[-1].exists()


def test_an_old_run_folder_stays_while_a_request_holds_it(tmp_path):
    folders = files.RunFolders(tmp_path, keep=1, grace_s=0)
    first = folders.new("a")
    first.mkdir()
    with folders.lease(first):
        folders.new("b").mkdir()
        assert first.is_dir()  # held: the new run leaves it
    folders.new("c")
    assert not first.exists()  # released, older than the last one: deleted


def test_a_run_folder_handed_out_for_download_stays_for_the_grace_period(tmp_path):
    folders = files.RunFolders(tmp_path, keep=1, grace_s=60)
    first = folders.new("a")
    first.mkdir()
    folders.handed_out(first)  # Gradio copies the file after the handler has returned
    folders.new("b")
    assert first.is_dir()


# ---- 3. every process and run in its own folder; only that one is served -------------------------
def test_two_apps_sharing_a_runs_dir_never_touch_each_others_runs(tmp_path):
    shared = tmp_path / "shared-runs"
    first = tiny_lab(tmp_path / "a", runs_dir=str(shared))
    second = tiny_lab(tmp_path / "b", runs_dir=str(shared))
    assert first.runs_dir != second.runs_dir and first.runs_dir.parent == second.runs_dir.parent == shared.resolve()
    first.start_run(steps=4, batch_size=8)
    wait_for(lambda: first.slot.busy() is None, timeout=60)
    kept = list(first.runs_dir.glob("run-*"))
    for _ in range(files.KEEP_RUNS + 1):
        second.start_run(steps=2, batch_size=8)
        wait_for(lambda: second.slot.busy() is None, timeout=60)
    assert kept and all(folder.is_dir() for folder in kept)  # the second app deleted none of the first's runs
    assert len(list(second.runs_dir.glob("run-*"))) == files.KEEP_RUNS  # its own owner's last KEEP_RUNS


def test_the_default_runs_dir_is_this_process_own_under_the_temp_dir(tmp_path):
    import tempfile

    lab = tiny_lab(tmp_path, runs_dir="")
    assert lab.runs_dir.parent == Path(tempfile.gettempdir()).resolve()
    assert lab.runs_dir.name.startswith("ganlab-") and lab.runs_dir.name != "ganlab-runs"


@pytest.mark.parametrize("where", [str(REPO), str(REPO.parent), "/"])
def test_a_runs_dir_that_is_or_contains_the_repo_is_refused(tmp_path, where):
    with pytest.raises(GanlabError, match="GANLAB_RUNS_DIR must not be the repository"):
        tiny_lab(tmp_path, runs_dir=where)


def test_only_the_process_folder_is_served(served):
    import httpx

    url, lab, _ = served
    beside = lab.runs_dir.parent / "beside-the-process-folder.txt"
    beside.write_text("not served")
    for secret in (REPO / ".git" / "config", REPO / "app.py", beside):
        response = httpx.get(f"{url}gradio_api/file={secret}", timeout=10)
        assert response.status_code == 403, secret


# ---- 4. bounded disk and memory -------------------------------------------------------------------
def test_the_launch_bounds_are_set(served):
    _, _, demo = served
    assert demo.delete_cache == serving.DELETE_CACHE
    assert demo.max_file_size == 2**20  # serving.MAX_FILE_SIZE, "1mb"
    assert demo.state_session_capacity == serving.STATE_SESSION_CAPACITY
    assert demo._queue.max_size == serving.QUEUE_MAX_SIZE


def rss_mb() -> float:
    from test_reliability_concurrency import rss_mb as measured

    return measured()


def test_a_20_mb_seed_is_refused_cheaply_and_leaves_no_memory_behind(served):
    import httpx

    url, _, _ = served
    seed = "1" * 20_000_000
    body = json.dumps({"data": [seed, 16, "bundled student"], "fn_index": 0, "session_hash": uuid.uuid4().hex[:10]}).encode()
    with httpx.Client(timeout=30) as http:
        send = lambda: http.post(f"{url}gradio_api/queue/join", content=body, headers={"content-type": "application/json"})  # noqa: E731
        send()  # the connection and its buffers, before measuring
        before = rss_mb()
        start = time.monotonic()
        for _ in range(20):
            response = send()
            assert response.status_code == 413 and "request body over" in response.text
    elapsed = time.monotonic() - start
    grown = rss_mb() - before
    print(f"20 x 20 MB seeds: {elapsed:.2f} s, RSS grew {grown:.1f} MB")
    assert grown < 50 and elapsed < 30


def test_a_chunked_body_without_a_length_is_cut_at_the_bound(served):
    import httpx

    url, _, _ = served

    def chunks():
        for _ in range(40):
            yield b"1" * 65_536

    response = httpx.post(f"{url}gradio_api/queue/join", content=chunks(), headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 413


def test_compare_images_are_one_file_per_content_outside_gradios_cache(served):
    url, lab, _ = served
    client = client_for(url)
    before = set(lab.images.folder.glob("*.png"))
    client.predict(3, 4, "bundled student", api_name="/generate")
    made = set(lab.images.folder.glob("*.png")) - before
    client.predict(3, 4, "bundled student", api_name="/generate")
    assert set(lab.images.folder.glob("*.png")) - before == made and len(made) <= 2  # the same two files again


# ---- 9. identical outputs never rewrite a file a client may be downloading ------------------------
def test_an_identical_image_is_never_written_again(tmp_path):
    images = files.ImageFiles(tmp_path)
    picture = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)
    path = Path(images.png(picture))
    first = path.stat()
    time.sleep(0.02)
    assert images.png(picture.copy()) == str(path)
    again = path.stat()
    assert (again.st_ino, again.st_mtime_ns, again.st_size) == (first.st_ino, first.st_mtime_ns, first.st_size)
    with Image.open(path) as image:
        assert np.array_equal(np.asarray(image), picture)


def test_images_are_bounded_in_count(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "MIN_IMAGE_AGE_S", 0.0)
    images = files.ImageFiles(tmp_path, max_files=5)
    for value in range(12):
        images.png(np.full((4, 4), value, dtype=np.uint8))
    assert len(list(tmp_path.glob("*.png"))) <= 6


def test_thirty_identical_concurrent_compares_all_download_whole(served):
    import httpx

    url, lab, _ = served
    results: list[bytes] = []
    failures: list[str] = []
    lock = threading.Lock()

    # the clients connect one after another (each fetches the app's config, seconds on a loaded
    # machine); the thirty requests then arrive together, which is what this test is about
    clients = [client_for(url) for _ in range(30)]

    def visitor(client) -> None:
        try:
            teacher, _, _ = client.predict(11, 16, "bundled student", api_name="/generate")
            data = Path(teacher).read_bytes()
            Image.open(io.BytesIO(data)).load()  # a truncated PNG fails here
            with lock:
                results.append(data)
        except Exception as error:
            with lock:
                failures.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=visitor, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not failures and len(results) == 30 and len(set(results)) == 1, failures[:3]
    assert httpx.get(url, timeout=10).status_code == 200


# ---- issue #13, 1. a run belongs to whoever started it ----------------------------------------------
def test_only_the_client_that_started_a_run_controls_it(served):
    url, lab, _ = served
    wait_for(lambda: lab.slot.busy() is None, timeout=30)
    owner, stranger = client_for(url), client_for(url)
    started = owner.predict(api_name="/start_run", steps=20_000, batch_size=8, time_budget_s=50)
    assert started[-2].get("state") in ("preparing", "running") and started[-2]["yours"] and "started by you" in started[-1], started[-1]
    wait_for(lambda: lab.slot.busy() is not None and lab.slot.busy().student is not None, timeout=60)
    try:
        for endpoint, action in (("/stop_run", "stop"), ("/pause_run", "pause"), ("/resume_run", "resume")):
            refused = stranger.predict(api_name=endpoint)[-1]
            assert f"belongs to another visitor: only the visitor who started it can {action} it" in refused
            assert "ends within" in refused
            assert lab.slot.busy() is not None and not lab.slot.busy().paused  # the run goes on
        # a made-up token is no better than none
        assert "belongs to another visitor" in stranger.predict("0" * 32, api_name="/stop_run")[-1]
        seen = stranger.predict(api_name="/run_status")
        assert seen[-2]["state"] == "running" and not seen[-2]["yours"] and "another visitor" in seen[-1]
        assert lab.slot.current().owner.split(":")[-1] not in json.dumps(seen[-2])  # the holder's identity stays hidden
        refused = stranger.predict(api_name="/start_run", steps=10, batch_size=8, time_budget_s=10)[-1]
        assert "held by another visitor" in refused and "ends within" in refused
        assert "started by you" in owner.predict(api_name="/pause_run")[-1].replace("Paused", "started by you")
        assert owner.predict(api_name="/resume_run")[-2]["state"] == "running"
        stopped = owner.predict(api_name="/stop_run")[-2]
        assert stopped["state"] == "stopped" and not stopped["threads_alive"]
    finally:
        lab.slot.shutdown()


def test_an_owner_token_lets_the_same_visitor_control_its_run_from_another_client(served):
    import secrets

    url, lab, _ = served
    wait_for(lambda: lab.slot.busy() is None, timeout=30)
    token = secrets.token_hex(16)
    first, second = client_for(url), client_for(url)
    try:
        assert first.predict(api_name="/start_run", steps=20_000, batch_size=8, time_budget_s=50, owner_token=token)[-2]["state"] in ("preparing", "running")
        assert "belongs to another visitor" in second.predict(api_name="/stop_run")[-1]
        stopped = second.predict(token, api_name="/stop_run")[-2]  # a reloaded page: same token, new session
        assert stopped["state"] == "stopped"
    finally:
        lab.slot.shutdown()


# ---- issue #13, 2. what a visitor loads from the Hub is that visitor's ------------------------------
def test_a_hub_load_by_one_client_leaves_another_clients_compare_unchanged(served, monkeypatch):
    import torch

    import ganlab.lab.sources as sources
    from ganlab.lab import LoadedModel
    from ganlab.models import Generator
    from lab_fixtures import TINY_STUDENT

    url, lab, _ = served
    constant = Generator(TINY_STUDENT).eval()
    with torch.no_grad():
        constant.blocks[-1][0].weight.zero_()  # a constant image: nothing like the bundled student's
    monkeypatch.setattr(sources, "load_from_hub", lambda role, repo, revision=None, cache_dir=None, token=None, max_multiply_adds=None: LoadedModel(role, constant, True, f"hub:{repo}"))
    loader, other = client_for(url), client_for(url)
    before = Path(other.predict(5, 4, "bundled student", api_name="/generate")[1]).read_bytes()
    loaded = loader.predict("", "", "user/student", "", 5, 4, "bundled student", api_name="/load_hub")
    assert loaded[-1] == "✅ Loaded student from hub:user/student"
    hub_student = Path(loaded[1]).read_bytes()
    assert hub_student != before  # the loader sees the Hub student ...
    again = loader.predict(5, 4, "bundled student", api_name="/generate")
    assert Path(again[1]).read_bytes() == hub_student  # ... in every later call of its session
    after = other.predict(5, 4, "bundled student", api_name="/generate")
    assert Path(after[1]).read_bytes() == before  # the other one does not

    # a load whose drawing is refused (too many samples) still stands: the next call uses it
    third = client_for(url)
    refused = third.predict("", "", "user/student", "", 5, 10**6, "bundled student", api_name="/load_hub")
    assert refused[-1].startswith("✅ Loaded student from hub:user/student; ⚠️ nothing drawn: number of samples")
    assert Path(third.predict(5, 4, "bundled student", api_name="/generate")[1]).read_bytes() == hub_student


# ---- issue #13, 4. Spaces conventions ---------------------------------------------------------------
@pytest.mark.parametrize("space_id, shown", [("", False), ("someone/ganlab", True)])
def test_the_duplicate_button_shows_on_spaces_only(tmp_path, monkeypatch, space_id, shown):
    import gradio as gr

    from app import build_app

    monkeypatch.setenv("SPACE_ID", space_id)
    demo = build_app(tiny_lab(tmp_path))
    buttons = [block for block in demo.blocks.values() if isinstance(block, gr.DuplicateButton)]
    assert len(buttons) == 1 and bool(buttons[0].visible) is shown


def test_internal_events_are_left_off_the_api_page(served):
    url, _, _ = served
    named = set(client_for(url).view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert not {"/generate_on_load", "/attach", "/apply_recipe", "/owner_token"} & named
    assert {"/generate", "/start_run", "/stop_run", "/run_status", "/load_hub"} <= named


def test_the_space_suggests_cpu_basic():
    front_matter = (REPO / "README.md").read_text().split("---")[1]
    assert "\nsuggested_hardware: cpu-basic\n" in front_matter


def test_other_visitors_starts_never_delete_a_visitors_finished_run(tmp_path):
    """Run folders are kept per owner: however many runs others start, mine stays until it expires by time."""
    folders = files.RunFolders(tmp_path, keep=1, grace_s=0, max_age_s=3600)
    mine = folders.new("mine", "alice")
    mine.mkdir()
    for index in range(10):  # ten other visitors (or one inventing owner tokens) start runs
        folders.new(f"other-{index}", f"owner-{index}").mkdir()
    assert mine.is_dir()
    folders.new("again", "alice")  # my own next run replaces it (keep=1)
    assert not mine.exists()
    expired = files.RunFolders(tmp_path / "aged", keep=4, grace_s=0, max_age_s=0.0)
    old = expired.new("old", "bob")
    old.mkdir(parents=True)
    time.sleep(0.01)
    expired.new("new", "carol")
    assert not old.exists()  # older than max_age_s: gone whoever starts next
