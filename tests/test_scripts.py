"""The CLI scripts as a user runs them: dry runs work, nonsense gives one line and exit 2."""

import numpy as np
import pytest
from conftest import run_script
from PIL import Image


def test_train_teacher_and_distill_dry_runs_write_checkpoints(tmp_path):
    result = run_script("scripts/train_teacher.py", "--dry-run", "--quiet", "--out", str(tmp_path / "t"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "t" / "model.safetensors").is_file() and (tmp_path / "t" / "training.json").is_file()
    result = run_script(
        "scripts/distill.py", "--dry-run", "--quiet", "--teacher", str(tmp_path / "t"),
        "--layers", "14x14", "pixels", "--alpha", "0.9", "--out", str(tmp_path / "s"),
    )
    assert result.returncode == 0, result.stderr
    assert "distill_pixels" in result.stdout and (tmp_path / "s" / "config.json").is_file()
    import hashlib
    import json

    teacher_hash = hashlib.sha256((tmp_path / "t" / "model.safetensors").read_bytes()).hexdigest()
    assert json.loads((tmp_path / "s" / "training.json").read_text())["teacher_sha256"] == teacher_hash  # which teacher, exactly
    # a baseline (alpha 0) reads no teacher, so it names none: its result cannot depend on one
    result = run_script("scripts/distill.py", "--dry-run", "--quiet", "--teacher", str(tmp_path / "t"), "--alpha", "0", "--out", str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    training = json.loads((tmp_path / "b" / "training.json").read_text())
    assert training["teacher"] is None and training["teacher_sha256"] is None


def test_sample_writes_a_png_grid_and_an_npz(tiny_checkpoint, tmp_path):
    result = run_script("scripts/sample.py", "--model", str(tiny_checkpoint), "--n", "16", "--seed", "3", "--out", str(tmp_path / "g.png"))
    assert result.returncode == 0, result.stderr
    grid = np.asarray(Image.open(tmp_path / "g.png"))
    assert grid.shape == (2 * (4 * 30 + 2),) * 2  # 4x4 tiles of 28 px + 2 px padding, scaled 2x
    result = run_script("scripts/sample.py", "--model", str(tiny_checkpoint), "--n", "5", "--seed", "3", "--out", str(tmp_path / "s.npz"))
    assert result.returncode == 0, result.stderr
    images = np.load(tmp_path / "s.npz")["images"]
    assert images.shape == (5, 28, 28) and images.dtype == np.uint8


@pytest.mark.parametrize(
    "args, message",
    [
        (["scripts/distill.py", "--steps", "-5"], "--steps"),
        (["scripts/distill.py", "--alpha", "1.5"], "--alpha"),
        (["scripts/distill.py", "--alpha", "nan"], "--alpha"),
        (["scripts/distill.py", "--layers", "9x9", "--dry-run"], "unknown layer '9x9'"),
        (["scripts/distill.py", "--lr-g", "0"], "--lr-g"),
        (["scripts/distill.py", "--teacher", "no/such/teacher"], "does not exist"),
        (["scripts/distill.py", "--dataset", "fashion-mnist", "--teacher", "checkpoints/teacher"], "the teacher at checkpoints/teacher learned mnist, not fashion-mnist"),
        (["scripts/train_teacher.py", "--batch-size", "abc"], "--batch-size"),
        (["scripts/sample.py", "--model", "no/such/checkpoint"], "does not exist"),
        (["scripts/sample.py", "--model", "studnet"], "no checkpoint named 'studnet': use teacher | student | baseline"),
        (["scripts/sample.py", "--n", "0"], "--n"),
        (["scripts/sample.py", "--seed", "-1"], "--seed"),
        (["scripts/sample.py", "--out", "grid.jpg"], ".png or .npz"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(args, message):
    result = run_script(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_corrupted_safetensors_file_is_one_line(tiny_checkpoint, tmp_path):
    weights = tiny_checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    result = run_script("scripts/sample.py", "--model", str(tiny_checkpoint), "--out", str(tmp_path / "g.png"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "safetensors" in result.stderr
