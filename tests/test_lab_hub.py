"""The app's Hub panel and Hub defaults: swap models in only when everything loaded."""

from __future__ import annotations

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
    assert lab.teacher is teacher and lab.student is student


def test_a_failed_download_keeps_both_models(lab, monkeypatch):
    def fake(role, repo, revision=None):
        if role == "student":
            raise GanlabError(f"Hub repo {repo} was not found (404)")
        return LoadedModel(role, Generator(TINY_STUDENT), True, f"hub:{repo}")

    monkeypatch.setattr(lab_module, "load_from_hub", fake)
    teacher, student = lab.teacher, lab.student
    with pytest.raises(GanlabError, match="404"):
        lab.load_hub("user/teacher", "", "user/missing", "")
    assert lab.teacher is teacher and lab.student is student  # all or nothing


def test_a_successful_load_swaps_into_compare(lab, monkeypatch):
    replacement = Generator(TINY_STUDENT).eval()
    with torch.no_grad():
        replacement.blocks[-1][0].weight.zero_()  # a constant image: easy to recognise

    monkeypatch.setattr(
        lab_module, "load_from_hub", lambda role, repo, revision=None: LoadedModel(role, replacement, True, f"hub:{repo}@{revision}")
    )
    message = lab.load_hub("", "", "user/student", "v1")
    assert "student from hub:user/student@v1" in message
    assert lab.student.model is replacement
    view = lab.generate(0, 4)
    assert view.student_image is not None


def test_an_unreachable_default_repo_falls_back_to_the_folder(tmp_path, monkeypatch):
    from lab_fixtures import tiny_checkpoints

    _, student_folder = tiny_checkpoints(tmp_path)
    monkeypatch.setitem(lab_module.BUNDLED, "student", student_folder)

    def offline(role, repo, revision=None):
        raise GanlabError("cannot reach the Hugging Face Hub (offline?)")

    monkeypatch.setattr(lab_module, "load_from_hub", offline)
    loaded = load_model("student", repo="user/ganlab-student")
    assert loaded.trained and loaded.source == str(student_folder)
    assert "offline" in loaded.note
