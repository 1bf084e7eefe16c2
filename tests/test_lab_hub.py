"""The app's Hub panel and Hub defaults: swap models in only when everything loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lab_fixtures import TINY_STUDENT, tiny_lab

import ganlab.lab.sources as lab_module
from ganlab.errors import GanlabError
from ganlab.lab import LoadedModel, load_model
from ganlab.models import Generator


@pytest.fixture
def lab(tmp_path):
    return tiny_lab(tmp_path)


@pytest.mark.parametrize(
    "repo, message",
    [("", "enter a Hub repo id"), ("../../etc/passwd", "repo"), ("a/b/c", "repo"), ("ünï/cödé", "repo")],
)
def test_bad_repo_ids_are_refused_and_the_models_stay(lab, repo, message):
    teacher, student = lab.teacher, lab.student
    with pytest.raises(GanlabError, match=message):
        lab.load_hub(repo, "", "", "")
    assert lab.teacher is teacher and lab.student is student and not lab.hub_models.keys()


def test_a_failed_download_keeps_both_models(lab, monkeypatch):
    def fake(role, repo, revision=None, cache_dir=None, token=None, max_multiply_adds=None):
        if role == "student":
            raise GanlabError(f"Hub repo {repo} was not found (404)")
        return LoadedModel(role, Generator(TINY_STUDENT), True, f"hub:{repo}")

    monkeypatch.setattr(lab_module, "load_from_hub", fake)
    teacher, student = lab.teacher, lab.student
    with pytest.raises(GanlabError, match="404"):
        lab.load_hub("user/teacher", "", "user/missing", "", models={"student": ["user/earlier", ""]})
    assert lab.teacher is teacher and lab.student is student  # the app's models never change


def test_a_successful_load_swaps_into_compare(lab, monkeypatch):
    replacement = Generator(TINY_STUDENT).eval()
    with torch.no_grad():
        replacement.blocks[-1][0].weight.zero_()  # a constant image: easy to recognise

    monkeypatch.setattr(
        lab_module, "load_from_hub", lambda role, repo, revision=None, cache_dir=None, token=None, max_multiply_adds=None: LoadedModel(role, replacement, True, f"hub:{repo}@{revision}")
    )
    bundled = lab.student
    message, choice = lab.load_hub("", "", "user/student", "v1")
    assert "student from hub:user/student@v1" in message and choice == {"student": ["user/student", "v1"]}
    assert lab.student is bundled  # only the visitor who loaded it sees it
    with lab.visitor(choice):
        assert lab.student.model is replacement
        view = lab.generate(0, 4)
    assert view.student_image is not None and view.details["student"]["source"] == "hub:user/student@v1"
    assert lab.generate(0, 4).details["student"]["source"] == bundled.source


def test_an_unreachable_default_repo_falls_back_to_the_folder(tmp_path, monkeypatch):
    from lab_fixtures import tiny_checkpoints

    _, student_folder = tiny_checkpoints(tmp_path)
    monkeypatch.setitem(lab_module.BUNDLED, "student", student_folder)

    def offline(role, repo, revision=None, cache_dir=None, token=None, max_multiply_adds=None):
        raise GanlabError("cannot reach the Hugging Face Hub (offline?)")

    monkeypatch.setattr(lab_module, "load_from_hub", offline)
    loaded = load_model("student", repo="user/ganlab-student")
    assert loaded.trained and loaded.source == str(student_folder)
    assert "offline" in loaded.note


def test_a_hub_load_in_one_session_leaves_another_sessions_compare_unchanged(lab, monkeypatch):
    """Two visitors: one loads a Hub student; the other's Compare draws exactly what it drew before."""
    replacement = Generator(TINY_STUDENT).eval()
    loads: list[tuple[str, str | None]] = []

    def fake(role, repo, revision=None, cache_dir=None, token=None, max_multiply_adds=None):
        loads.append((repo, revision))
        return LoadedModel(role, replacement, True, f"hub:{repo}")

    monkeypatch.setattr(lab_module, "load_from_hub", fake)
    before = lab.generate(7, 9)  # visitor B, no Hub choice
    _, choice_a = lab.load_hub("", "", "user/student", "")  # visitor A
    with lab.visitor(choice_a):
        seen_by_a = lab.generate(7, 9)
    seen_by_b = lab.generate(7, 9)
    assert seen_by_a.details["student"]["source"] == "hub:user/student"
    assert seen_by_b.details["student"]["source"] == before.details["student"]["source"]
    assert (seen_by_b.student_image == before.student_image).all() and (seen_by_b.teacher_image == before.teacher_image).all()
    # a second visitor loading the same (repo, revision) shares the one copy
    _, choice_c = lab.load_hub("", "", "user/student", "")
    with lab.visitor(choice_c):
        assert lab.student.model is replacement
    assert loads == [("user/student", None)]


def test_the_hub_cache_is_bounded_least_recently_used_out(lab, monkeypatch):
    from ganlab.lab.sources import HUB_CACHE_SIZE

    downloads = []

    def fake(role, repo, revision=None, cache_dir=None, token=None, max_multiply_adds=None):
        assert Path(cache_dir).is_dir()  # a fresh folder for this download...
        (Path(cache_dir) / "model.safetensors").write_bytes(b"weights")
        downloads.append(Path(cache_dir))
        return LoadedModel(role, Generator(TINY_STUDENT).eval(), True, f"hub:{repo}")

    monkeypatch.setattr(lab_module, "load_from_hub", fake)
    for index in range(HUB_CACHE_SIZE + 2):
        lab.load_hub("", "", f"user/student-{index}", "")
    assert len(lab.hub_models.keys()) == HUB_CACHE_SIZE
    # ...removed once the weights are in memory: the disk never keeps what visitors named
    assert len(downloads) == HUB_CACHE_SIZE + 2 and not any(folder.exists() for folder in downloads)
    assert ("user/student-0", "") not in lab.hub_models.keys()
    with lab.visitor({"student": ["user/student-0", ""]}):  # an evicted choice is simply loaded again
        assert lab.student.source == "hub:user/student-0"


def test_visitors_asking_at_once_share_one_download_and_at_most_two_run_together(lab, monkeypatch):
    """Many requests at once cannot multiply downloads: one per repo is in flight, two repos at most,
    and every load is anonymous (the server's token never opens a repo for a visitor)."""
    import threading
    import time

    from ganlab.lab.sources import HUB_LOADS_AT_ONCE

    calls, tokens, running, most = [], set(), [0], [0]
    lock = threading.Lock()

    def slow(role, repo, revision=None, cache_dir=None, token=None, max_multiply_adds=None):
        with lock:
            calls.append(repo)
            tokens.add(token)
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(1.0)  # long enough that every request arrives while this load is in flight
        with lock:
            running[0] -= 1
        return LoadedModel(role, Generator(TINY_STUDENT).eval(), True, f"hub:{repo}")

    monkeypatch.setattr(lab_module, "load_from_hub", slow)
    got, errors = [], []

    def ask(repo):
        try:
            got.append((repo, lab.hub_models.get("student", repo).model))
        except Exception as error:  # noqa: BLE001 - collected, asserted below
            errors.append(error)

    threads = [threading.Thread(target=ask, args=("user/same",)) for _ in range(8)]
    threads += [threading.Thread(target=ask, args=(f"user/other-{index}",)) for index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert sorted(calls) == ["user/other-0", "user/other-1", "user/other-2", "user/same"]  # one download per repo
    assert len({id(model) for repo, model in got if repo == "user/same"}) == 1 and len(got) == 11
    assert most[0] == HUB_LOADS_AT_ONCE and tokens == {False}
    assert not lab.hub_models._loading  # nothing left behind per key


def test_a_failing_repo_asked_for_at_once_is_tried_once_and_every_request_hears_why(lab, monkeypatch):
    import threading
    import time

    calls = []

    def failing(role, repo, revision=None, cache_dir=None, token=None, max_multiply_adds=None):
        calls.append(repo)
        time.sleep(1.0)  # long enough that every request arrives while this load is in flight
        raise GanlabError(f"Hub repo {repo} was not found (404)")

    monkeypatch.setattr(lab_module, "load_from_hub", failing)
    errors = []

    def ask():
        try:
            lab.hub_models.get("student", "user/missing")
        except GanlabError as error:
            errors.append(str(error))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert calls == ["user/missing"] and errors == ["Hub repo user/missing was not found (404)"] * 8
    assert not lab.hub_models._loading and not lab.hub_models.keys()
    with pytest.raises(GanlabError, match="not found"):  # a later request tries again
        lab.hub_models.get("student", "user/missing")
    assert calls == ["user/missing"] * 2


def test_a_refused_start_downloads_nothing(lab, monkeypatch):
    """A visitor's Hub teacher loads when the run uses it: bad settings or a busy slot cost no download."""
    loads = []

    def record(role, repo, revision=None, cache_dir=None, token=None, max_multiply_adds=None):
        loads.append(repo)
        return LoadedModel(role, Generator(TINY_STUDENT).eval(), True, f"hub:{repo}")

    monkeypatch.setattr(lab_module, "load_from_hub", record)
    choice = {"teacher": ["user/teacher", ""]}
    with lab.visitor(choice), pytest.raises(GanlabError, match="steps"):
        lab.start_run(steps=-1, owner="visitor")
    lab.start_run(steps=5000, batch_size=16, owner="first")
    try:
        with lab.visitor(choice), pytest.raises(GanlabError, match="a run is already training"):
            lab.start_run(steps=5, batch_size=16, owner="visitor")
        assert loads == []
    finally:
        lab.stop_run(viewer="first")


def test_a_generator_for_other_noise_is_refused_and_the_app_still_starts(tmp_path):
    from dataclasses import replace

    from ganlab.checkpoints import save_checkpoint

    folder = save_checkpoint(Generator(replace(TINY_STUDENT, latent_dim=16)), tmp_path / "z16")
    loaded = load_model("student", path=folder)  # the app's start: an untrained stand-in, and why
    assert not loaded.trained and "16-number noise" in loaded.note


def test_a_hub_model_of_another_dataset_is_refused_and_the_choice_stays(lab, monkeypatch):
    monkeypatch.setattr(
        lab_module, "load_from_hub",
        lambda role, repo, revision=None, cache_dir=None, token=None, max_multiply_adds=None: LoadedModel(role, Generator(TINY_STUDENT), True, f"hub:{repo}", dataset="mnist"),
    )  # fmt: skip
    earlier = {"dataset": "fashion-mnist"}
    with pytest.raises(GanlabError, match="hub:user/digits learned MNIST, not Fashion-MNIST: choose MNIST above to use it, or load a Fashion-MNIST student"):
        lab.load_hub("", "", "user/digits", "", models=earlier)
    assert earlier == {"dataset": "fashion-mnist"}
    message, choice = lab.load_hub("", "", "user/digits", "")  # on MNIST, the page's default, it loads
    assert choice == {"student": ["user/digits", ""]} and "student from hub:user/digits" in message
    with pytest.raises(GanlabError, match="learned MNIST, not Fashion-MNIST"):  # an API client's mixed choice is refused when used
        with lab.visitor({**choice, "dataset": "fashion-mnist"}):
            lab.generate(0, 4)


def test_a_hub_models_dataset_is_read_from_the_cache_its_download_filled(tmp_path):
    import json

    commit = "a" * 40
    repo = tmp_path / "models--user--digits"  # huggingface_hub's cache layout
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "training.json").write_text(json.dumps({"train_config": {"dataset": "fashion-mnist"}}))
    assert lab_module._hub_dataset("user/digits", None, str(tmp_path)) == "fashion-mnist"
    assert lab_module._hub_dataset("user/other", None, str(tmp_path)) is None  # no training.json: not said
