"""Compare's digit choice, on the bundled teacher, student and classifier, through the Lab and the API.

The oracle is ganlab.digits itself: the grids the Lab shows must be each model's rendering of
the z that digit_noise keeps for the same digit, n and seed.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from conftest import free_port  # noqa: E402
from ganlab.digits import digit_noise  # noqa: E402
from ganlab.errors import GanlabError  # noqa: E402
from ganlab.lab import Lab, LabSettings, TrainingSlot  # noqa: E402
from ganlab.lab.settings import DIGIT_MAX_TRIES  # noqa: E402
from ganlab.lab.views import labelled_frames, scale_for  # noqa: E402
from ganlab.sampling import generate, to_uint8  # noqa: E402


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A Lab on the bundled checkpoints and classifier (a digit needs a trained teacher and the classifier)."""
    folder = tmp_path_factory.mktemp("digits")
    settings = LabSettings(runs_dir=str(folder / "runs"), sample_threads=1, max_samples=64)
    lab = Lab(settings, slot=TrainingSlot(), metrics_path=folder / "metrics.json", classifier=True)
    assert lab.classifier is not None and lab.teacher.trained
    yield lab
    lab.slot.shutdown()


@pytest.mark.parametrize("digit", ["7", 2])
def test_a_digit_renders_the_same_kept_z_for_teacher_and_student(lab, digit):
    view = lab.generate(3, 16, "bundled student", digit)
    search = view.details["digit"]
    assert (search["digit"], search["wanted"], search["found"]) == (int(digit), 16, 16)
    assert 0 < search["acceptance_rate"] == 16 / search["tried"] < 1
    assert f"digit {digit}: 16 of 16 found" in view.info and "acceptance" in view.info
    kept = digit_noise(lab.teacher.model, lab.classifier, int(digit), 16, 3, max_tries=DIGIT_MAX_TRIES).z
    teacher_digits = np.array(view.details["teacher_digits"])
    differ = teacher_digits != np.array(view.details["student_digits"])
    for image, loaded, labels in ((view.teacher_image, lab.teacher, teacher_digits), (view.student_image, lab.student, view.details["student_digits"])):
        drawn = to_uint8(generate(loaded.model, kept, lab.settings.infer_precision))
        np.testing.assert_array_equal(image, labelled_frames(drawn, labels, columns=4, scale=scale_for(4), marked=differ))
    assert (teacher_digits == int(digit)).mean() >= 0.95


def test_any_digit_is_the_seeds_noise_as_before(lab):
    plain, any_digit = lab.generate(3, 4, "bundled student"), lab.generate(3, 4, "bundled student", "any")
    np.testing.assert_array_equal(plain.teacher_image, any_digit.teacher_image)
    assert "digit" not in plain.details


def test_a_bad_digit_or_no_classifier_is_one_clear_error(lab, monkeypatch):
    with pytest.raises(GanlabError, match=r"digit must be 'any' or one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, got '12'"):
        lab.generate(0, 4, "bundled student", "12")
    monkeypatch.setattr(lab, "classifier", None)
    with pytest.raises(GanlabError, match="asking for a digit needs the evaluation classifier"):
        lab.generate(0, 4, "bundled student", "3")


def test_a_search_that_falls_short_says_how_many_it_found(lab, monkeypatch):
    import ganlab.lab.settings

    monkeypatch.setattr(ganlab.lab.settings, "DIGIT_MAX_TRIES", 64)  # ~6 of 64 candidates read as any one digit
    view = lab.generate(0, 64, "bundled student", "5")
    search = view.details["digit"]
    assert search["tried"] == 64 and 0 < search["found"] < 64 and view.details["n"] == search["found"]
    assert f"only {search['found']} of 64 found in 64 tries" in view.info


def test_the_api_takes_the_digit_last_and_old_calls_still_work(lab):
    from gradio_client import Client

    from app import build_app, launch

    demo = build_app(lab)
    port = free_port()
    launch(demo, [str(lab.runs_dir)], server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        *_, info = client.predict(3, 16, "bundled student", "7", api_name="/generate")
        assert "digit 7: 16 of 16 found" in info
        *_, info = client.predict(3, 16, "bundled student", api_name="/generate")  # a client from before the digit
        assert "digit" not in info.split("|")[0] and "generation time (16)" in info
        archive, _ = client.predict(3, 4, "bundled student", "7", api_name="/download_pngs")
        import zipfile

        with zipfile.ZipFile(archive) as opened:
            assert len([name for name in opened.namelist() if name.startswith("teacher/")]) == 4
    finally:
        demo.close()
