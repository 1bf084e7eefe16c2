"""Ask for a digit: the kept z give images the classifier reads as that digit, for teacher and student alike.

The bundled teacher, student and classifier are the subjects: the claim is about them.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch

from conftest import run_in_process as run
from ganlab.checkpoints import load_checkpoint, load_classifier, resolve_model_path
from ganlab.digits import THRESHOLD, digit_noise
from ganlab.errors import GanlabError
from ganlab.sampling import generate, noise, to_uint8

DIGIT, N, SEED = 7, 16, 3




@pytest.fixture(scope="module")
def models():
    generators = {name: load_checkpoint(resolve_model_path(name), expect="generator") for name in ("teacher", "student")}
    return {**generators, "classifier": load_classifier()}


@pytest.fixture(scope="module")
def search(models):
    return digit_noise(models["teacher"], models["classifier"], DIGIT, N, SEED)


def read(classifier, images: np.ndarray) -> torch.Tensor:
    """Classifier probabilities (n, 10) of uint8 images (n, 28, 28)."""
    pixels = torch.from_numpy(images).float().div(127.5).sub(1).unsqueeze(1)  # back to [-1, 1]
    with torch.inference_mode():
        return classifier(pixels).softmax(dim=1)


def test_kept_z_are_the_seeds_noise_in_order_and_read_as_the_digit(models, search):
    assert search.complete and search.z.shape == (N, 100) and search.found <= search.tried <= 1024
    assert search.acceptance_rate == pytest.approx(N / search.tried)
    candidates = noise(1024, SEED)  # the first batch of candidates
    rows = [int(torch.nonzero((candidates == z).all(dim=1))[0]) for z in search.z]
    assert rows == sorted(rows) and rows[-1] == search.tried - 1  # the last kept candidate ends the count
    probabilities = read(models["classifier"], to_uint8(generate(models["teacher"], search.z)))
    assert (probabilities[:, DIGIT] >= THRESHOLD).float().mean() >= 0.95  # (above 0.9 before the uint8 rounding)


def test_a_search_that_hits_its_bound_returns_what_it_found_and_says_so(models):
    impossible = digit_noise(models["teacher"], models["classifier"], 3, 5, SEED, threshold=1.01, max_tries=40)
    assert (impossible.found, impossible.tried, impossible.complete) == (0, 40, False)
    assert impossible.summary() == "digit 3: only 0 of 5 found in 40 tries (acceptance 0.0%)"


@pytest.mark.parametrize("digit", [10, -1, True, 2.5, "3"])
def test_a_digit_outside_0_to_9_is_refused(models, digit):
    with pytest.raises(GanlabError, match=r"digit must be an integer in \[0, 9\]"):
        digit_noise(models["teacher"], models["classifier"], digit, 4, SEED)


def test_sample_digit_renders_teacher_and_student_on_identical_z(models, search, tmp_path, capsys):
    images = {}
    for name in ("teacher", "student"):
        out = tmp_path / f"{name}.npz"
        code, stdout, stderr = run(
            "sample.py", "--model", name, "--digit", str(DIGIT), "--n", str(N), "--seed", str(SEED), "--out", str(out), capsys=capsys
        )
        assert code == 0, stderr
        assert search.summary() in stdout  # e.g. "digit 7: 16 of 16 found in 170 tries (acceptance 9.4%)"
        images[name] = np.load(out)["images"]
    for name, rendered in images.items():  # the very z of the library's search, for both models
        # in sample.py's default precision (auto: bf16 on a CPU that multiplies it natively)
        np.testing.assert_array_equal(rendered, to_uint8(generate(models[name], search.z, "auto")))
    for name, least in (("teacher", 0.95), ("student", 0.8)):
        read_as = read(models["classifier"], images[name]).argmax(dim=1)
        # the teacher's images are kept for reading as the digit; the student's only share their z
        assert (read_as == DIGIT).float().mean() >= least, name


def test_sample_refuses_a_digit_outside_0_to_9_in_one_line(tmp_path, capsys):
    code, _, stderr = run("sample.py", "--digit", "10", "--out", str(tmp_path / "x.png"), capsys=capsys)
    assert code == 2 and "--digit" in stderr and "[0, 9]" in stderr and stderr.count("\n") == 1
