"""The page's dataset choice at the Lab: each visitor's request sees its dataset's models, classes,
classifier and tables; nothing of one dataset is shown or trained against the other's."""

from __future__ import annotations

import pytest

from conftest import wait_for
from ganlab.errors import GanlabError
from ganlab.lab import STUDENT_CHOICES
from lab_fixtures import tiny_lab

FASHION = {"dataset": "fashion-mnist"}


def test_a_visitors_dataset_picks_its_models_classes_and_tables(tmp_path):
    lab = tiny_lab(tmp_path, classifier=True)
    with lab.visitor(FASHION):
        assert lab.teacher.source == "checkpoints/fashion-mnist/teacher" and lab.teacher.trained
        assert lab.student.source == "checkpoints/fashion-mnist/student" and lab.student.trained
        view = lab.generate(0, 8, STUDENT_CHOICES[0], "Sandal")  # a class by name
        assert view.details["digit"]["digit"] == 5 and view.details["dataset"] == "fashion-mnist"
        assert "garment Sandal:" in view.info and "5 Sandal" in view.info
        assert lab.generate(0, 8, STUDENT_CHOICES[0], "5").details["digit"]["digit"] == 5  # or by its index
        with pytest.raises(GanlabError, match="garment must be 'any' or one of T-shirt/top, Trouser"):
            lab.generate(0, 8, STUDENT_CHOICES[0], "12")
        with pytest.raises(GanlabError, match="the original-loss student is MNIST's; Fashion-MNIST has none"):
            lab.generate(0, 8, STUDENT_CHOICES[3])
        assert "trained on Fashion-MNIST" in lab.about() and "### Metrics (Fashion-MNIST)" in lab.about()
        assert lab.sampler.classifier is lab.sampler.classifier_for("fashion-mnist") is not lab.sampler.classifier_for("mnist")
    # outside the choice (and for every other visitor): MNIST, as before
    assert lab.teacher.source != "checkpoints/fashion-mnist/teacher"
    assert "same predicted digit" in lab.generate(0, 8, STUDENT_CHOICES[0]).info


@pytest.mark.parametrize(
    "models, message",
    [
        ({"dataset": "cifar"}, "unknown dataset 'cifar': choose from mnist, fashion-mnist"),
        ({"dataset": 3}, "'dataset' must be a dataset name"),
        ({"dataset": "fashion-mnist", "colour": "red"}, "must map 'teacher' and/or 'student'"),
    ],
)
def test_a_bad_dataset_choice_is_one_line(tmp_path, models, message):
    lab = tiny_lab(tmp_path)
    with pytest.raises(GanlabError, match=message):
        with lab.visitor(models):
            pass


def test_a_run_trains_on_the_chosen_dataset_and_its_student_stays_there(tmp_path):
    lab = tiny_lab(tmp_path, data_source="synthetic")  # blobs for speed: the request still records the choice
    with lab.visitor(FASHION):
        lab.start_run(steps=3, batch_size=8, baseline=True, owner="me")
    wait_for(lambda: lab.run_status(viewer="me").state == "finished", timeout=120)
    assert lab.distillation.current_request().dataset == "fashion-mnist"
    assert "Fashion-MNIST" in lab.run_status(viewer="me").progress_text
    with pytest.raises(GanlabError, match="the last run trained on Fashion-MNIST: choose that dataset to see its student"):
        lab.generate(0, 4, STUDENT_CHOICES[1])
    with lab.visitor(FASHION):
        assert lab.generate(0, 4, STUDENT_CHOICES[2]).details["student"]["label"]  # its baseline, on its own dataset


def test_a_checkpoint_of_another_dataset_is_refused_by_folder_or_file_and_an_unknown_one_is_not(tmp_path):
    import shutil

    from ganlab.checkpoints import check_same_dataset

    check_same_dataset("checkpoints/teacher", "mnist", "teacher")  # written before checkpoints said: MNIST
    for path in ("checkpoints/teacher", "checkpoints/teacher/model.safetensors"):
        with pytest.raises(GanlabError, match=f"the teacher at {path} learned mnist, not fashion-mnist"):
            check_same_dataset(path, "fashion-mnist", "teacher")
    bare = tmp_path / "bare"  # weights and config only: nothing says what it learned, so nothing is refused
    bare.mkdir()
    shutil.copy("checkpoints/teacher/config.json", bare)
    check_same_dataset(bare, "fashion-mnist", "teacher")
