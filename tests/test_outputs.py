"""No command loses a user's files: the output guard, run before any work, on every script that writes.

Each case runs the script as a user would (in-process, for speed) and checks one line, a non-zero
exit and that every input is byte-identical afterwards (sha256 before and after).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat

import pytest

from conftest import REPO, run_in_process
from ganlab.errors import GanlabError
from ganlab.outputs import atomic_write_bytes, check_output_file, check_output_folder

TEACHER = REPO / "checkpoints" / "teacher"


def digests(*folders) -> dict[str, str]:
    """sha256 of every file under `folders`."""
    found = {}
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def teacher_copy(tmp_path):
    copy = tmp_path / "T"
    shutil.copytree(TEACHER, copy)
    return copy


def refused(code: int, err: str, message: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip() and "it/s" not in line]
    assert len(lines) == 1 and message in lines[0], err


def test_a_dry_run_push_into_the_checkpoints_folder_deletes_nothing(capsys, tmp_path):
    before = digests(REPO / "checkpoints")
    code, _, err = run_in_process("push_to_hub.py", "--namespace", "alice", "--dry-run", "--out", str(REPO / "checkpoints"), capsys=capsys)
    refused(code, err, "contains the input")
    assert digests(REPO / "checkpoints") == before


def test_distill_refuses_to_write_over_its_teacher(capsys, teacher_copy):
    before = digests(teacher_copy)
    code, _, err = run_in_process("distill.py", "--dry-run", "--quiet", "--teacher", str(teacher_copy), "--out", str(teacher_copy), capsys=capsys)
    refused(code, err, "is the input")
    code, _, err = run_in_process("distill.py", "--dry-run", "--quiet", "--teacher", str(teacher_copy), "--out", str(teacher_copy / "inside"), capsys=capsys)
    refused(code, err, "lies inside the input")
    assert digests(teacher_copy) == before and not (teacher_copy / "inside").exists()


@pytest.mark.parametrize("script", ["train_teacher.py", "distill.py"])
def test_an_empty_out_is_an_error_not_the_default(capsys, script):
    before = digests(TEACHER)
    code, _, err = run_in_process(script, "--steps", "2", "--quiet", "--out", "", capsys=capsys)
    refused(code, err, "path is empty")
    assert digests(TEACHER) == before


def test_evaluate_never_writes_over_a_device_or_a_model(capsys, tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    code, _, err = run_in_process("evaluate.py", "--quick", "--out", str(fifo), capsys=capsys)
    refused(code, err, "not a regular file")
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still a pipe
    before = digests(TEACHER)
    code, _, err = run_in_process("evaluate.py", "--quick", "--out", str(TEACHER / "metrics.json"), capsys=capsys)
    refused(code, err, "lies inside the input")
    code, _, err = run_in_process("evaluate.py", "--quick", "--out", str(TEACHER / "model.safetensors"), capsys=capsys)
    refused(code, err, "must end in .json")
    assert digests(TEACHER) == before and not (TEACHER / "metrics.json").exists()


def test_evaluate_kid_only_reads_its_file_by_type(capsys, tmp_path):
    code, _, err = run_in_process("evaluate.py", "--kid-only", "--out", str(tmp_path / "none.json"), capsys=capsys)
    refused(code, err, "there is none")
    malformed = tmp_path / "bad.json"
    malformed.write_text('{"meta": {"reference": 5}, "floor": {}, "models": []}')
    code, _, err = run_in_process("evaluate.py", "--kid-only", "--out", str(malformed), capsys=capsys)
    refused(code, err, "is not an evaluate.py metrics file")


def test_push_with_a_metric_that_is_not_a_number_still_writes_its_card(capsys, tmp_path):
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"models": {"student": {"fid": {"mean": "n/a", "std": 1}}}}')
    code, out, err = run_in_process("push_to_hub.py", "--namespace", "alice", "--only", "student", "--dry-run", "--metrics", str(metrics),
                                    "--out", str(tmp_path / "staged"), capsys=capsys)  # fmt: skip
    assert code == 0, err
    assert "n/a" in (tmp_path / "staged" / "student" / "README.md").read_text()


def test_the_guard_refuses_long_names_symlink_loops_and_a_folder_in_a_file(tmp_path):
    with pytest.raises(GanlabError, match="at most 255"):
        check_output_folder(tmp_path / ("a" * 300))
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(GanlabError, match="symlink loop"):
        check_output_folder(loop / "x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(GanlabError, match="is a file"):
        check_output_folder(tmp_path / "file" / "run")
    with pytest.raises(GanlabError, match="contains the input"):
        check_output_file(tmp_path / "x.json", (".json",), inputs=[tmp_path / "x.json" / "deeper"])
    with pytest.raises(GanlabError, match="not a regular file"):
        atomic_write_bytes(type(tmp_path)("/dev/null"), b"{}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_refused_before_work(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    with pytest.raises(GanlabError, match="takes no new files"):
        check_output_folder(locked / "run")


def test_a_failed_final_save_keeps_the_trained_model_in_a_rescue_folder(tmp_path, monkeypatch):
    """A full disk at the save: the run's model and training state land in a temporary folder, and the message says where."""
    from ganlab.config import TrainConfig
    from ganlab.data import synthetic_images
    from ganlab.trainer import new_trainer
    import ganlab.trainer as trainer_module

    target = tmp_path / "out"
    original = trainer_module.save_checkpoint

    def full_disk(model, directory, **kwargs):
        if os.fspath(directory) == os.fspath(target):
            raise OSError(28, "No space left on device")
        return original(model, directory, **kwargs)

    monkeypatch.setattr(trainer_module, "save_checkpoint", full_disk)
    trainer = new_trainer(TrainConfig(mode="teacher", steps=2, batch_size=8, sample_every=0), images=synthetic_images(32), output_dir=target)
    with pytest.raises(GanlabError, match="No space left on device.*kept in") as error:
        trainer.run()
    rescue = type(tmp_path)(str(error.value).split("kept in ")[1].split(":")[0])
    assert (rescue / "model.safetensors").is_file() and (rescue / "training-state.safetensors").is_file()
    shutil.rmtree(rescue)


def test_a_model_name_over_255_bytes_is_one_line(capsys, tmp_path):
    code, _, err = run_in_process("evaluate.py", "--quick", "--models", "x/" + "a" * 300, "--out", str(tmp_path / "m.json"), capsys=capsys)
    refused(code, err, "at most 255")


def test_a_runs_dir_that_is_a_file_or_a_loop_stops_the_app_with_one_line(tmp_path):
    from ganlab.lab.files import process_folder

    in_the_way = tmp_path / "file"
    in_the_way.write_text("x")
    with pytest.raises(GanlabError, match="is a file"):
        process_folder(in_the_way)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(GanlabError, match="symlink loop"):
        process_folder(loop)


def test_a_write_on_a_full_disk_is_one_line_that_names_the_file(tmp_path, monkeypatch):
    import ganlab.outputs as outputs

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs.os, "replace", full)
    with pytest.raises(GanlabError, match=r"cannot write .*metrics\.json: No space left on device"):
        atomic_write_bytes(tmp_path / "metrics.json", b"{}")
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too


def test_sample_and_export_never_write_into_the_model_folder(capsys, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(REPO / "checkpoints" / "student", model)
    before = digests(model)
    code, _, err = run_in_process("sample.py", "--model", str(model), "--out", str(model / "grid.png"), capsys=capsys)
    refused(code, err, "lies inside the input")
    code, _, err = run_in_process("export_onnx.py", "--model", str(model), "--out", str(model / "model.onnx"), capsys=capsys)
    refused(code, err, "lies inside the input")
    assert digests(model) == before
