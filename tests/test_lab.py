"""The app's handlers as plain functions: ganlab.lab.Lab on tiny checkpoints and real MNIST slices."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import numpy as np
import pytest
import torch

from ganlab.errors import GanlabError
from ganlab.lab import (
    ORIGINAL,
    RECIPES,
    STUDENT_CHOICES,
    Lab,
    LabSettings,
    TrainingSlot,
    load_model,
    loss_figure,
    metrics_markdown,
)
from ganlab.lab.views import thin
from ganlab.reporting import LogSnapshot
from ganlab.sampling import generate, interpolate, noise, to_uint8
from conftest import wait_for
from lab_fixtures import tiny_lab


@pytest.fixture
def lab(tmp_path):
    lab = tiny_lab(tmp_path)
    yield lab
    lab.slot.shutdown()



def trainer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in ("ganlab-trainer", "ganlab-watchdog")]


# ---- settings ----------------------------------------------------------------------------------
def test_settings_read_every_variable_from_the_environment():
    settings = LabSettings.from_env(
        {"GANLAB_MAX_SAMPLES": "16", "GANLAB_RUN_CAP_S": "30", "GANLAB_TRAIN_THREADS": "2", "GANLAB_TEACHER": "/x"}
    )
    assert (settings.max_samples, settings.run_cap_s, settings.train_threads, settings.teacher) == (16, 30.0, 2, "/x")
    assert LabSettings.from_env({}).max_samples == LabSettings().max_samples


def test_a_malformed_variable_is_named_in_the_error():
    with pytest.raises(GanlabError, match="GANLAB_MAX_STEPS must be an integer"):
        LabSettings.from_env({"GANLAB_MAX_STEPS": "lots"})


def test_training_precision_is_a_setting_and_auto_follows_the_cpu(monkeypatch):
    assert LabSettings.from_env({"GANLAB_TRAIN_PRECISION": "fp32"}).train_precision == "fp32"
    with pytest.raises(GanlabError, match="GANLAB_TRAIN_PRECISION must be"):
        LabSettings.from_env({"GANLAB_TRAIN_PRECISION": "fp8"})
    from ganlab import precision

    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    assert precision.resolve_precision("auto") == "bf16" and precision.inference_dtype("auto") == torch.bfloat16
    assert precision.inference_dtype("auto", "cuda") == torch.float32  # auto means a CPU's native bf16 only
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    assert precision.resolve_precision("auto") == "fp32" and precision.resolve_precision("bf16") == "bf16"
    assert precision.inference_dtype("auto") == torch.float32 and precision.inference_dtype("bf16") == torch.bfloat16


def test_sampling_uses_every_core_while_idle_and_the_cores_the_trainer_leaves_while_a_run_trains(monkeypatch):
    lab = Lab(LabSettings(sample_threads=0, train_threads=2), slot=TrainingSlot(), classifier=None)
    monkeypatch.setattr("ganlab.lab.sampler.usable_cores", lambda: 4)
    assert lab.sampler.threads() == 4
    monkeypatch.setattr(lab.slot, "busy", lambda: object())
    assert lab.sampler.threads() == 2  # 4 cores, 2 training: together no more OpenMP threads than cores
    monkeypatch.setattr("ganlab.lab.sampler.usable_cores", lambda: 2)
    assert lab.sampler.threads() == 1  # never none
    assert Lab(LabSettings(sample_threads=2), slot=TrainingSlot(), classifier=None).sampler.threads() == 2


def test_several_sampling_threads_run_in_the_samplers_own_thread_which_a_starting_run_retires(monkeypatch):
    """libgomp throttles every OpenMP team once the process holds more team threads than cores: the
    sampler keeps its multi-thread work in one thread of its own and runs single-threaded work inline."""
    lab = Lab(LabSettings(sample_threads=0), slot=TrainingSlot(), classifier=None)
    sampler = lab.sampler
    original = torch.get_num_threads()  # inline work sets this thread's count, and pytest's thread runs later tests

    def where() -> tuple[threading.Thread, int]:
        return threading.current_thread(), torch.get_num_threads()

    try:
        monkeypatch.setattr(sampler, "threads", lambda: 2)
        worker, threads = sampler.run(where)
        assert worker.name.startswith("ganlab-sampler") and worker is not threading.current_thread() and threads == 2
        assert sampler.run(where)[0] is worker  # the same thread, and its one team, every time
        assert sampler.run(lambda: sampler.run(where))[0] is worker  # work that samples again runs inline there, no deadlock
        with pytest.raises(ZeroDivisionError):  # an error in the sampler's thread reaches the caller as raised
            sampler.run(lambda: 1 / 0)
        queued = sampler._worker.submit(time.sleep, 0.2)
        sampler.retire()  # a run starts: work already queued still runs, then the thread ends
        worker.join(timeout=5)
        assert queued.done() and not worker.is_alive()  # gone, and its OpenMP team with it
        monkeypatch.setattr(sampler, "threads", lambda: 1)
        assert sampler.run(where) == (threading.current_thread(), 1)  # during a run: inline, one thread
        assert sampler._worker is None  # and no sampler thread came back
        images, seconds = sampler.sample(lab.models.app_student.model, torch.zeros(3, 100))
        assert images.shape == (3, 1, 28, 28) and seconds >= 0
    finally:
        sampler.retire()
        torch.set_num_threads(original)


def test_starting_a_run_retires_the_samplers_thread(tmp_path, monkeypatch):
    lab = tiny_lab(tmp_path)
    retired = []
    monkeypatch.setattr(lab.sampler, "retire", lambda: retired.append(lab.slot.busy() is not None))
    lab.start_run(steps=2, batch_size=16, owner="me")
    assert retired == [True]  # after the slot is claimed: a sampling call from then on runs inline
    wait_for(lambda: not lab.run_status(viewer="me").active, timeout=60)


def test_a_handler_runs_on_one_torch_thread_and_leaves_the_count_as_it_found_it():
    from ganlab.ui.common import guarded

    original = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        seen = []
        handler = guarded(lambda: seen.append(torch.get_num_threads()) or "ok", 1)
        assert handler() == "ok" and seen == [1] and torch.get_num_threads() == 2
        failing = guarded(lambda: 1 / 0, 2)
        assert failing()[-1].startswith("⚠️ internal error") and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)


def test_the_original_recipe_stays_selectable_and_labelled():
    assert ORIGINAL.label == "original (α 0.5, 14x14, lr 2e-4)" and RECIPES["original"] is ORIGINAL
    assert (ORIGINAL.alpha, ORIGINAL.layers, ORIGINAL.lr_generator) == (0.5, ("14x14",), 2e-4)


# ---- models ------------------------------------------------------------------------------------
def test_a_missing_checkpoint_gives_a_marked_untrained_model(tmp_path):
    loaded = load_model("teacher", path=tmp_path / "nowhere")
    assert not loaded.trained and loaded.label == "teacher (untrained)"
    assert "does not exist" in loaded.note
    assert loaded.parameters == 1_961_728  # the real teacher architecture, from the published table


def test_the_lab_starts_without_checkpoints_and_says_so(tmp_path):
    lab = Lab(
        LabSettings(teacher=str(tmp_path / "t"), student=str(tmp_path / "s"), runs_dir=str(tmp_path / "runs")),
        slot=TrainingSlot(),
        classifier=None,
    )
    assert "teacher is untrained" in lab.model_notes() and "student is untrained" in lab.model_notes()
    view = lab.generate(0, 4)
    assert "(untrained)" in view.info
    with pytest.raises(GanlabError, match="no trained MNIST teacher is loaded"):
        lab.start_run(steps=5)
    assert lab.slot.current() is None


# ---- Compare -----------------------------------------------------------------------------------
def test_generate_feeds_both_models_the_same_noise(lab):
    view = lab.generate(seed=7, n=9)
    z = noise(9, 7)
    for image, model in ((view.teacher_image, lab.teacher.model), (view.student_image, lab.student.model)):
        expected = to_uint8(generate(model, z, lab.settings.infer_precision))  # (9, 28, 28): the oracle, sampled directly
        scale = image.shape[0] // (3 * 30 + 2)
        first = image[2 * scale : 30 * scale : scale, 2 * scale : 30 * scale : scale]  # top-left digit, unscaled
        np.testing.assert_array_equal(first, expected[0])
    assert view.details["teacher"]["parameters"] == lab.teacher.parameters
    assert view.details["student"]["size_bytes"] > 0 and view.details["teacher"]["generation_ms"] > 0
    assert "size on disk" in view.info and "generation time (9)" in view.info


def test_a_new_lab_has_warmed_its_models_before_the_first_visitor(lab):
    # the first generate's timing must be the model's, not the set-up's: the folded inference
    # weights are built when the Lab starts, and the first generate reuses them
    caches = [model._folded_cache for model in (lab.teacher.model, lab.student.model)]
    assert all(cache is not None for cache in caches)
    lab.generate(0, 4)
    assert all(model._folded_cache is cache for model, cache in zip((lab.teacher.model, lab.student.model), caches))


def test_generate_is_a_function_of_the_seed(lab):
    a, b, c = lab.generate(3, 4), lab.generate(3, 4), lab.generate(4, 4)
    np.testing.assert_array_equal(a.teacher_image, b.teacher_image)
    assert not np.array_equal(a.student_image, c.student_image)


@pytest.mark.parametrize(
    "seed, n, message",
    [(-1, 4, "seed must be an integer"), (2**31, 4, "seed must be"), (1.5, 4, "seed must be"),
     (0, 0, "number of samples must be an integer in \\[1, 64\\]"), (0, 65, "in \\[1, 64\\]"), (0, "many", "number of samples")],
)  # fmt: skip
def test_generate_refuses_bad_input_clearly(lab, seed, n, message):
    with pytest.raises(GanlabError, match=message):
        lab.generate(seed, n)


def test_predictions_and_agreement_come_from_the_classifier(tmp_path):
    class FirstPixelClassifier(torch.nn.Module):
        """Predicts 1 when the top-left pixel is above the mean, else 0: a checkable oracle."""

        def forward(self, images):
            bright = (images[:, 0, 0, 0] > images.mean(dim=(1, 2, 3))).long()
            return torch.nn.functional.one_hot(bright, 10).float()

    lab = tiny_lab(tmp_path)
    lab.classifier = FirstPixelClassifier()
    view = lab.generate(1, 16)
    teacher, student = np.array(view.details["teacher_digits"]), np.array(view.details["student_digits"])
    assert len(teacher) == 16 and set(teacher) <= {0, 1}
    assert view.details["agreement"] == pytest.approx((teacher == student).mean())
    assert "agreement" in view.info


def test_no_run_student_before_a_run(lab):
    with pytest.raises(GanlabError, match="finish a run"):
        lab.generate(0, 4, STUDENT_CHOICES[1])
    with pytest.raises(GanlabError, match="student must be one of"):
        lab.generate(0, 4, "someone else's")


def test_the_original_loss_student_is_the_committed_one_and_its_absence_is_explained(lab, tmp_path, monkeypatch):
    import ganlab.checkpoints
    from ganlab.checkpoints import load_checkpoint

    original = ganlab.checkpoints.BUNDLED["original"]
    view = lab.generate(3, 4, STUDENT_CHOICES[3])
    expected = to_uint8(generate(load_checkpoint(original), noise(4, 3), lab.settings.infer_precision))  # the committed checkpoint, sampled directly
    scale = view.student_image.shape[0] // (2 * 30 + 2)
    np.testing.assert_array_equal(view.student_image[2 * scale : 30 * scale : scale, 2 * scale : 30 * scale : scale], expected[0])
    assert view.details["student"]["parameters"] == 784_640
    monkeypatch.setitem(ganlab.checkpoints.BUNDLED, "original", tmp_path / "gone")
    with pytest.raises(GanlabError, match="has no model.safetensors"):
        tiny_lab(tmp_path / "other").generate(0, 4, STUDENT_CHOICES[3])


# ---- Latent walk -------------------------------------------------------------------------------
def test_latent_walk_strips_follow_the_same_path(lab):
    view = lab.latent_walk(seed_a=2, seed_b=5, frames=4)
    scale = 3
    assert view.teacher_image.shape == ((28 + 4) * scale, (4 * 30 + 2) * scale)
    z = interpolate(2, 5, 4)
    torch.testing.assert_close(z[0], noise(1, 2)[0])  # the walk starts at seed a's noise
    last = to_uint8(generate(lab.student.model, z, lab.settings.infer_precision))[-1]
    start = 2 * scale + 3 * 30 * scale
    np.testing.assert_array_equal(view.student_image[2 * scale : 30 * scale : scale, start : start + 28 * scale : scale], last)
    with pytest.raises(GanlabError, match="frames must be an integer in \\[2, 32\\]"):
        lab.latent_walk(0, 1, 1)


# ---- Distill from scratch -------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes, message",
    [({"steps": 0}, "steps must be an integer"), ({"steps": 10**9}, "steps must be"),
     ({"lr_generator": 0}, "generator learning rate must be a number in \\(0"), ({"lr_discriminator": 5}, "discriminator learning rate"),
     ({"alpha": 1.5}, "α"), ({"alpha": -0.1}, "α"), ({"batch_size": 100000}, "batch size"), ({"seed": -3}, "seed"),
     ({"layers": ["9x9"]}, "unknown distilled layer"), ({"layers": []}, "needs at least one distilled layer"),
     ({"time_budget_s": 10**6}, "time budget")],
)  # fmt: skip
def test_start_run_refuses_bad_settings_and_claims_nothing(lab, changes, message):
    with pytest.raises(GanlabError, match=message):
        lab.start_run(**changes)
    assert lab.slot.current() is None


def test_a_run_streams_pauses_resumes_and_stops_with_its_thread_gone(lab):
    view = lab.start_run(steps=2000, batch_size=16, owner="me")
    assert view.state in ("preparing", "running") and view.active
    view = wait_for(lambda: (v := lab.run_status(viewer="me")).details["step"] >= 3 and v)
    assert "started by you" in view.message and "s left" in view.progress_text and view.phase == "training"
    assert {trace.name for trace in view.figure.data} >= {"adversarial", "distillation", "discriminator"}
    assert view.controls == {"start": False, "pause": True, "resume": False, "step": False, "stop": True}
    assert view.figure.layout.uirevision == "losses"
    assert view.student_image is not None and view.teacher_image is not None

    # a second visitor sees the progress, not who holds the slot; starting again is refused clearly
    other = lab.run_status(viewer="someone")
    assert "another visitor" in other.message and "'me'" not in str(other.details)
    with pytest.raises(GanlabError, match="already training \\(held by another visitor, step .* ends within \\d+ s"):
        lab.start_run(steps=5, owner="someone")
    with pytest.raises(GanlabError, match="your run is already training: press Stop first"):
        lab.start_run(steps=5, owner="me")  # the owner is told it is theirs, not "another visitor"
    assert lab.current_run_settings()["steps"] == 2000 and lab.current_run_settings()["batch_size"] == 16  # what a reloaded form shows
    # ... and cannot pause, resume or stop it
    for action in (lab.pause_run, lab.resume_run, lab.stop_run):
        with pytest.raises(GanlabError, match="belongs to another visitor: only the visitor who started it .* ends within"):
            action(viewer="someone")
    assert lab.slot.busy() is not None and not lab.slot.busy().paused

    lab.pause_run(viewer="me")
    paused_at = wait_for(lambda: (v := lab.run_status()).state == "paused" and v).details["step"]
    time.sleep(0.8)
    assert lab.run_status().details["step"] <= paused_at + 1  # at most the step in flight
    lab.resume_run(viewer="me")
    wait_for(lambda: lab.run_status().details["step"] > paused_at + 1)

    view = lab.stop_run(viewer="me")
    assert view.state == "stopped" and not view.active and view.message.startswith("Stopped at step") and "by you" in view.message
    wait_for(lambda: not trainer_threads())
    with pytest.raises(GanlabError, match="nothing to stop"):
        lab.stop_run()
    with pytest.raises(GanlabError, match="nothing to pause"):
        lab.pause_run()


def test_a_finished_run_serves_its_student_and_baseline(lab):
    lab.start_run(steps=6, batch_size=16, baseline=True)
    view = wait_for(lambda: (v := lab.run_status()).state == "finished" and v)
    assert view.checkpoint and view.checkpoint.endswith("student/model.safetensors")
    assert view.details["baseline_step"] == 6 and view.baseline_image is not None
    assert any((trace.name or "").startswith("baseline ") for trace in view.figure.data)
    compare = lab.generate(0, 4, STUDENT_CHOICES[1])
    assert compare.details["student"]["parameters"] == 784_640  # the original student width
    assert lab.generate(0, 4, STUDENT_CHOICES[2]).details["student"]["trained"]
    wait_for(lambda: not trainer_threads(), timeout=5)  # the watchdog notices within 0.25 s


def test_the_watchdog_stops_a_run_nobody_watches(tmp_path):
    lab = tiny_lab(tmp_path, idle_stop_s=0.6)
    lab.start_run(steps=5000, batch_size=16)
    run = lab.slot.current()
    wait_for(lambda: not run.alive, timeout=15)
    view = lab.run_status()
    assert view.state == "stopped" and "nobody watched it" in view.details["stop_reason"]
    assert "nobody watched it" in run.student_log.snapshot()["reason"]  # the reason arrives in Finished


def test_the_wall_clock_cap_ends_a_paused_run(tmp_path):
    lab = tiny_lab(tmp_path, run_cap_s=1.0)
    lab.start_run(steps=5000, batch_size=16, time_budget_s=0)
    lab.pause_run()
    run = lab.slot.current()
    wait_for(lambda: not run.alive, timeout=15)
    assert "wall-clock cap of 1 s" in lab.run_status().details["stop_reason"]


# ---- views --------------------------------------------------------------------------------------
def test_thinning_keeps_bucket_means():
    steps, values = list(range(1, 1001)), [float(i % 2) for i in range(1000)]
    xs, ys = thin(steps, values, max_points=100)
    assert len(xs) == 100 and xs[-1] == 1000
    assert ys == pytest.approx([0.5] * 100)  # each bucket of 10 alternating 0/1 has mean 0.5


def test_loss_figure_keeps_the_users_zoom():
    snapshot = LogSnapshot(step=2, steps=[1, 2], history={"adversarial": [0.7, 0.6], "discriminator": [1.3, 1.2]})
    figure = loss_figure(snapshot, dataclasses.replace(snapshot))
    assert figure.layout.uirevision == "losses"
    assert [t.name for t in figure.data if t.showlegend is not False] == ["adversarial", "discriminator", "baseline adversarial", "baseline discriminator"]


def test_metrics_table_from_json(tmp_path):
    path = tmp_path / "metrics.json"
    assert "No metrics yet" in metrics_markdown(path)
    path.write_text(json.dumps({"teacher": {"fid": 12.345678, "recognizable": 0.9}, "student": {"fid": 20.0}}))
    table = metrics_markdown(path)
    assert "| model | fid | recognizable |" in table and "| teacher | 12.35 | 0.9 |" in table


def test_metrics_table_shows_the_evaluation_files_values_and_targets(tmp_path):
    # the shape scripts/evaluate.py writes: per-model summaries of mean and std, a floor, checks
    summary = {"fid": {"mean": 91.07, "std": 0.47}, "recognizable": {"mean": 0.722, "std": 0.004}}
    metrics = {
        "meta": {"n": 100, "seeds": [0], "reference": "MNIST test", "classifier": "test classifier", "order": ["teacher"]},
        "floor": {"label": "real", "summary": {"fid": {"mean": 3.9, "std": 0.3}}},
        "models": {"teacher": {"path": "checkpoints/teacher", "summary": summary}},
        "checks": {"student recognizable >= 0.9": {"met": False, "target": 0.9, "value": 0.7038}},
    }
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(metrics))
    table = metrics_markdown(path)
    assert "| teacher | 91.07 ± 0.47 |" in table and "0.722 ± 0.004" in table and "| real | 3.90 ± 0.30 |" in table
    assert "**missed** student recognizable >= 0.9: measured **0.7038** (target 0.9)" in table
    del metrics["floor"]["summary"]  # damaged: the generic table, not an error
    path.write_text(json.dumps(metrics))
    assert "| model |" in metrics_markdown(path)


def test_about_lists_both_architectures(lab):
    text = lab.about()
    assert f"{lab.teacher.parameters:,} parameters" in text and "ConvTranspose 4×4 stride 1" in text
