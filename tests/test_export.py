"""ONNX export: onnxruntime agrees with PyTorch on the bundled teacher and student, bad input gets one line.

The oracle is PyTorch itself: the exported graph must give the images sampling.generate gives,
for the same z, at any batch size.
"""

from __future__ import annotations

import contextlib
import io
import re
import runpy
import subprocess
import sys

import numpy as np
import onnx
import pytest

from conftest import REPO, run_in_process as run
from ganlab.checkpoints import load_checkpoint, resolve_model_path
from ganlab.errors import GanlabError
from ganlab.export import OPSET, export_onnx, session
from ganlab.sampling import generate, noise

# The README's "sample from the ONNX student" snippet: onnxruntime and numpy alone.
SNIPPET = """\
import numpy as np
import onnxruntime as ort

session = ort.InferenceSession("student.onnx")  # from scripts/export_onnx.py
z = np.random.default_rng(0).standard_normal((16, 100)).astype(np.float32)  # 16 noise vectors
images = session.run(["image"], {"z": z})[0]  # (16, 1, 28, 28) in [-1, 1]
pixels = ((images[:, 0] + 1) * 127.5).round().clip(0, 255).astype(np.uint8)  # (16, 28, 28)
grid = pixels.reshape(4, 4, 28, 28).transpose(0, 2, 1, 3).reshape(112, 112)  # a 4x4 grid
with open("digits.pgm", "wb") as file:  # greyscale PGM: opens in any image viewer
    file.write(b"P5 112 112 255\\n" + grid.tobytes())
"""




@pytest.fixture(scope="module")
def models():
    return {name: load_checkpoint(resolve_model_path(name), expect="generator") for name in ("teacher", "student")}


@pytest.fixture(scope="module")
def exported(models, tmp_path_factory):
    """The student exported by the script, the teacher by the library: {name: path, "printed": script output}."""
    folder = tmp_path_factory.mktemp("onnx")
    argv, printed = sys.argv, io.StringIO()
    sys.argv = [str(REPO / "scripts" / "export_onnx.py"), "--model", "student", "--out", str(folder / "student.onnx")]
    try:
        with contextlib.redirect_stdout(printed):
            runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exit_:
        assert not exit_.code, f"export_onnx.py exited with {exit_.code}"
    finally:
        sys.argv = argv
    export_onnx(models["teacher"], folder / "teacher.onnx")
    return {"teacher": folder / "teacher.onnx", "student": folder / "student.onnx", "printed": printed.getvalue()}


def test_the_script_says_what_it_wrote_and_how_close_it_is(exported):
    assert re.search(r"wrote .*student.onnx \(\d+\.\d\d MB\) from student; onnxruntime matches PyTorch within \S+ on 256 samples", exported["printed"])


@pytest.mark.parametrize("name", ["teacher", "student"])
def test_onnxruntime_matches_pytorch_at_any_batch_size(name, models, exported):
    runner = session(exported[name], threads=2)
    z = noise(256, 1)  # another seed than the export's own check
    for batch in (256, 1, 3):
        expected = generate(models[name], z[:batch]).numpy()
        images = runner.run(["image"], {"z": z[:batch].numpy()})[0]
        assert images.shape == (batch, 1, 28, 28)
        np.testing.assert_allclose(images, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", ["teacher", "student"])
def test_the_file_is_self_contained_with_a_dynamic_batch(name, exported):
    model = onnx.load(str(exported[name]))  # raises if weights lived in a side file
    assert not list(exported[name].parent.glob("*.data"))
    assert max(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")) == OPSET >= 17
    (z,) = model.graph.input
    batch, latent = z.type.tensor_type.shape.dim
    assert batch.dim_param and latent.dim_value == 100
    assert {entry.key for entry in model.metadata_props} >= {"ganlab_config", "latent_dim"}


@pytest.mark.parametrize(
    "model, message",
    [
        ("checkpoints/classifier", "holds a classifier, not a generator"),
        ("checkpoints/no-such-model", "does not exist"),
        ("studnet", "no checkpoint named 'studnet'"),
    ],
)
def test_a_bad_model_gets_one_line_and_status_2(model, message, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    code, stdout, stderr = run("export_onnx.py", "--model", model, "--out", str(out), capsys=capsys)
    assert code == 2 and message in stderr
    assert stderr.startswith("error: ") and stderr.count("\n") == 1
    assert not out.exists()


def test_a_bad_output_path_is_refused_before_loading(tmp_path, capsys):
    code, _, stderr = run("export_onnx.py", "--out", str(tmp_path / "model.pt"), capsys=capsys)
    assert code == 2 and "must end in .onnx" in stderr and stderr.count("\n") == 1
    code, _, stderr = run("export_onnx.py", "--out", str(tmp_path / "missing" / "model.onnx"), capsys=capsys)
    assert code == 2 and "does not exist" in stderr and stderr.count("\n") == 1


def test_a_graph_that_disagrees_with_pytorch_is_not_written(models, exported, tmp_path, monkeypatch):
    import ganlab.export

    # the teacher's graph offered as the student's: same input and output shapes, other images
    monkeypatch.setattr(ganlab.export, "to_onnx", lambda model: exported["teacher"].read_bytes())
    out = tmp_path / "student.onnx"
    with pytest.raises(GanlabError, match="differs from PyTorch") as error:
        export_onnx(models["student"], out)
    assert "\n" not in str(error.value)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_the_readme_snippet_samples_with_onnxruntime_and_numpy_alone(exported, tmp_path):
    (tmp_path / "student.onnx").write_bytes(exported["student"].read_bytes())
    check = SNIPPET + "import sys; assert 'torch' not in sys.modules\n"
    result = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "digits.pgm").read_bytes()
    header = b"P5 112 112 255\n"
    assert data.startswith(header) and len(data) == len(header) + 112 * 112
    pixels = np.frombuffer(data[len(header):], np.uint8)
    assert pixels.std() > 20  # strokes on a dark background, not a blank or saturated grid


def test_the_benchmark_times_onnxruntime_beside_pytorch_in_the_same_loops(models, exported):
    from ganlab.report import benchmark_table

    benchmark = runpy.run_path(str(REPO / "scripts" / "benchmark.py"), run_name="benchmark")
    sessions = {name: session(exported[name], threads=1) for name in ("teacher", "student")}
    timed = benchmark["inference_benchmark"](models, [1, 3], repeats=1, min_seconds=0.001, sessions=sessions)
    assert set(timed) == {"pytorch", "onnxruntime"} and set(timed["onnxruntime"]) == {"1", "3"}
    for batch, entry in timed["onnxruntime"].items():
        pytorch = timed["pytorch"][batch]
        assert entry["speedup"] == pytest.approx(entry["teacher"]["median_s"] / entry["student"]["median_s"])
        assert entry["vs_pytorch"]["student"] == pytest.approx(pytorch["student"]["median_s"] / entry["student"]["median_s"])
    files = {name: {"file_bytes": exported[name].stat().st_size} for name in ("teacher", "student")}
    result = {
        "models": {name: {"parameters": {"trainable": 1, "keras": 1}, "macs_per_image": 1, "file_bytes": 1} for name in files},
        "inference": timed["pytorch"],
        "onnxruntime": {"version": "x", "opset": OPSET, "threads": 1, "models": files, "inference": timed["onnxruntime"]},
        "meta": {"order": ["teacher", "student"], "threads": 1, "torch": "x", "machine": "x"},
    }
    text = benchmark_table(result)
    assert "| onnxruntime x, CPU, opset 18 | teacher | student | student vs teacher |" in text
    assert f"| ONNX file size | {files['teacher']['file_bytes'] / 1e6:.2f} MB |" in text and "× PyTorch)" in text


def test_the_readme_shows_the_snippet_this_module_runs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "```python\n" + SNIPPET + "```" in readme
