"""Downloads a user can keep: the walk as a GIF, Compare's samples as a zip of PNGs, both models as ONNX.

Each file is read back the way a user would open it (Pillow, zipfile, onnxruntime) and checked
against what the Lab shows for the same inputs.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganlab.downloads import png_zip, walk_gif
from ganlab.sampling import generate, interpolate, noise, to_uint8
from lab_fixtures import tiny_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = tiny_lab(tmp_path_factory.mktemp("downloads"))
    yield lab
    lab.slot.shutdown()


def gif_frames(path: str) -> list[np.ndarray]:
    with Image.open(path) as image:
        assert image.format == "GIF" and image.info.get("loop") == 0  # loops forever
        frames = []
        for index in range(image.n_frames):
            image.seek(index)
            frames.append(np.asarray(image.convert("L")))
    return frames


def test_the_walk_gif_has_one_frame_per_step_teacher_left_student_right(lab):
    path = lab.latent_walk_gif(0, 1, 7, "bundled student")
    assert Path(path).parent == lab.images.folder and Path(path).name.startswith("ganlab-walk-")
    frames = gif_frames(path)
    assert len(frames) == 7
    z = interpolate(0, 1, 7)
    precision = lab.settings.infer_precision  # what the app samples in (auto: bf16 on a CPU that multiplies it natively)
    teacher, student = to_uint8(generate(lab.teacher.model, z, precision)), to_uint8(generate(lab.student.model, z, precision))
    for index in (0, 3, 6):  # each frame: teacher | 4 px gap | student, upscaled 8x (224 px digits)
        assert frames[index].shape == (28 * 8, (28 + 4 + 28) * 8)
        left, right = frames[index][::8, :28 * 8:8], frames[index][::8, 32 * 8::8]
        np.testing.assert_allclose(left, teacher[index], atol=2)  # GIF palettes may round a grey level
        np.testing.assert_allclose(right, student[index], atol=2)
    assert lab.latent_walk_gif(0, 1, 7, "bundled student") == path  # one file per content


def test_the_walk_gif_refuses_what_the_walk_refuses(lab):
    from ganlab.errors import GanlabError

    with pytest.raises(GanlabError, match="frames must be"):
        lab.latent_walk_gif(0, 1, 500)


def test_the_zip_holds_n_pngs_per_model_equal_to_the_compare_grid(lab):
    path = lab.compare_pngs(5, 9, "bundled student")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names == [f"teacher/{i:03d}.png" for i in range(9)] + [f"student/{i:03d}.png" for i in range(9)]
        images = {name: np.asarray(Image.open(io.BytesIO(archive.read(name)))) for name in names}
    z = noise(9, 5)  # what Compare draws for seed 5, n 9
    precision = lab.settings.infer_precision
    expected = {"teacher": to_uint8(generate(lab.teacher.model, z, precision)), "student": to_uint8(generate(lab.student.model, z, precision))}
    for name, image in images.items():
        folder, index = name.split("/")
        assert image.dtype == np.uint8 and image.shape == (28, 28)
        np.testing.assert_array_equal(image, expected[folder][int(index[:3])])


def test_png_zip_and_walk_gif_check_their_input():
    with pytest.raises(ValueError, match="uint8"):
        png_zip({"teacher": np.zeros((2, 28, 28), np.float32)})
    with pytest.raises(ValueError, match="differ in shape"):
        walk_gif(np.zeros((3, 28, 28), np.uint8), np.zeros((2, 28, 28), np.uint8))


def test_the_onnx_download_is_a_file_onnxruntime_runs_and_is_exported_once(lab):
    from ganlab.export import session

    paths = lab.onnx_files()
    assert [Path(path).name for path in paths] == ["ganlab-teacher.onnx", "ganlab-student.onnx"]
    for path, loaded in zip(paths, (lab.teacher, lab.student)):
        assert Path(path).is_relative_to(lab.runs_dir)  # the only folder the app serves
        z = noise(5, 3)
        images = session(path, threads=1).run(["image"], {"z": z.numpy()})[0]
        np.testing.assert_allclose(images, generate(loaded.model, z).numpy(), rtol=0, atol=1e-4)
    written = [Path(path).stat().st_mtime_ns for path in paths]
    assert lab.onnx_files() == paths  # the second request reuses the files
    assert [Path(path).stat().st_mtime_ns for path in paths] == written
