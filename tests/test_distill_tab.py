"""The Distill tab's lab side (issue #14): preparing phase, honest progress, Step, history, the quality curve."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from conftest import wait_for
from ganlab.data import synthetic_images
from ganlab.errors import GanlabError
from ganlab.events import Quality, Samples, Step
from ganlab.lab.quality import PROBE_SAMPLES, QualityProbe
from ganlab.lab.views import end_words, labelled_frames, smooth
from ganlab.reporting import MAX_SNAPSHOTS, LogSnapshot, RunLog
from ganlab.trainer import new_trainer
from lab_fixtures import tiny_lab
from test_trainer import config, small_teacher


def test_advance_runs_exactly_n_steps_then_pauses_with_fresh_samples():
    events = []
    trainer = new_trainer(config(steps=100_000, sample_every=50), images=synthetic_images(64), teacher=small_teacher(), on_event=events.append)
    trainer.pause()  # start paused, as a run paused while preparing does
    trainer.start()
    time.sleep(0.5)
    assert trainer.step == 0 and trainer.paused
    trainer.advance(3)
    wait_for(lambda: trainer.step == 3 and trainer.paused, timeout=30)
    time.sleep(0.5)
    assert trainer.step == 3  # paused again, not running on
    samples = [event.step for event in events if isinstance(event, Samples)]
    assert samples[-1] == 3  # the grid after a Step shows that step, not the last multiple of sample_every
    with pytest.raises(GanlabError, match="at least one step"):
        trainer.advance(0)
    trainer.resume()
    wait_for(lambda: trainer.step > 3, timeout=30)
    assert trainer.stop(timeout=5)


def test_the_probe_runs_every_few_seconds_in_the_trainer_thread_and_its_time_is_counted():
    seen_threads, events = set(), []

    def probe(model):
        seen_threads.add(threading.current_thread().name)
        assert not model.training  # scored in eval mode
        return {"recognizable": 0.5}

    trainer = new_trainer(
        config(steps=100_000, sample_every=0, time_budget_s=1.0), images=synthetic_images(64), teacher=small_teacher(),
        on_event=events.append, probe=probe, probe_every_s=0.3,
    )  # fmt: skip
    finished = trainer.run()
    quality = [event for event in events if isinstance(event, Quality)]
    assert seen_threads == {threading.current_thread().name}  # run() in this thread: the probe ran here
    # at the first step, then every >= 0.3 s of training (at most ~4 in the 1 s budget), and at the
    # last step; how many steps fit in the budget depends on the machine's load, so no lower count
    assert 1 <= len(quality) <= 8 and quality[0].step == 1 and quality[-1].step == finished.step
    assert len(quality) == len({event.step for event in quality}) and (finished.step == 1 or len(quality) >= 2)
    assert all(event.seconds >= 0 for event in quality) and trainer.generator.training


def test_a_run_log_keeps_a_bounded_history_from_the_first_grid_to_the_latest():
    log = RunLog()
    for step in range(0, 1000 * 5, 5):
        log(Samples(step=step, images=np.full((2, 28, 28), step % 256, np.uint8)))
    snapshot = log.snapshot()
    steps = snapshot["snapshot_steps"]
    assert len(steps) <= MAX_SNAPSHOTS and steps[0] == 0 and steps[-1] == 4995 and steps == sorted(steps)
    assert log.snapshot_images(0)[0] == 0 and log.snapshot_images(10**6)[0] == 4995  # clamped
    log(Quality(step=7, values={"fid": 3.0}, seconds=0.25))
    log(Quality(step=9, values={"fid": 2.0}, seconds=0.5))
    assert log.snapshot()["quality"] == [(7, {"fid": 3.0}), (9, {"fid": 2.0})] and log.snapshot()["probe_seconds"] == 0.75


def test_the_quality_probe_scores_a_fixed_batch_against_the_teacher():
    from ganlab.checkpoints import load_classifier

    classifier = load_classifier()
    teacher = small_teacher()
    probe = QualityProbe(classifier, teacher, synthetic_images(300, seed=1))
    values = probe(teacher)
    assert values["agreement"] == 1.0 and 0 <= values["recognizable"] <= 1 and values["fid"] > 0
    assert probe(teacher) == values  # a fixed batch: the same model scores the same
    assert probe.z.shape[0] == PROBE_SAMPLES and probe.reference_values(teacher) is probe.reference_values(teacher)


def test_smoothing_is_debiased_and_zero_means_raw():
    assert smooth([1.0, 1.0, 1.0], 0.9) == pytest.approx([1.0, 1.0, 1.0])  # no pull towards 0 at the start
    assert smooth([1.0, 3.0], 0.0) == [1.0, 3.0]


def test_end_reasons_are_plain_words():
    from ganlab.lab.request import RunRequest
    from ganlab.lab.settings import LabSettings

    settings = RunRequest.from_inputs(LabSettings(run_cap_s=600.0), time_budget_s=120.0)
    base = {"step": 205, "elapsed": 120.3}
    assert end_words(LogSnapshot(**base, reason="time budget"), settings, yours=True) == "Finished: its 120 s time budget ran out at step 205."
    assert end_words(LogSnapshot(**base, reason="completed"), settings, yours=True).startswith("Finished: all 205 steps done")
    assert "ends every run 600 s after it starts, pauses included" in end_words(LogSnapshot(**base, reason="wall-clock cap of 600 s reached"), settings, yours=False)
    assert end_words(LogSnapshot(**base, reason="stopped by you"), settings, yours=False).endswith("by the visitor who started it.")


def test_walk_frames_wrap_into_even_rows_with_their_digit_under_each():
    frames = np.zeros((10, 28, 28), np.uint8)
    strip = labelled_frames(frames, list(range(10)))
    assert strip.shape == (2 * (84 + 27 + 6) + 6, 5 * (84 + 6) + 6)  # 2 rows of 5 (not 8 + 2), 84 px each
    assert labelled_frames(frames[:8], None).shape[1] == 8 * (84 + 6) + 6  # up to 8 fit one row
    assert strip[90:111, :].max() > 0  # the label band under the first row has text in it
    assert labelled_frames(frames, None).shape[0] < strip.shape[0]  # no classifier: no label band
    marked = labelled_frames(frames, list(range(10)), marked=[index == 0 for index in range(10)])
    assert marked[95, 10] == 230 and strip[95, 10] == 0  # a marked frame's label sits on a light box


def test_a_run_prepares_in_its_own_thread_and_a_failed_download_fails_the_run_not_the_app(tmp_path, monkeypatch):
    from ganlab import data

    def offline(root):
        raise OSError("network unreachable")

    monkeypatch.setenv(data.ROOT_ENV, str(tmp_path / "empty"))
    monkeypatch.setitem(data.SOURCE_OVERRIDES, "mnist", [("offline mirror", offline)])
    lab = tiny_lab(tmp_path)
    view = lab.start_run(steps=5, batch_size=16, owner="me")  # returns at once; the failure arrives in a poll
    assert view.state in ("preparing", "failed")
    view = wait_for(lambda: (v := lab.run_status(viewer="me")).state == "failed" and v, timeout=30)
    assert "could not get MNIST" in view.message and view.controls["start"] and not view.active


def test_pause_while_preparing_starts_the_run_paused_and_step_needs_a_pause(tmp_path):
    lab = tiny_lab(tmp_path)
    lab.start_run(steps=500, batch_size=16, owner="me")
    lab.pause_run(viewer="me")
    view = wait_for(lambda: (v := lab.run_status(viewer="me")).state == "paused" and v, timeout=60)
    assert view.details["step"] == 0 and view.controls == {"start": False, "pause": False, "resume": True, "step": True, "stop": True}
    assert "steps/s" not in view.progress_text
    view = lab.step_run(2, viewer="me")
    wait_for(lambda: lab.run_status(viewer="me").details["step"] == 2 and lab.slot.current().paused, timeout=30)
    lab.step_run(100, viewer="me")
    with pytest.raises(GanlabError, match="still taking the steps of the last Step"):  # a second press while it steps
        lab.step_run(1, viewer="me")
    wait_for(lambda: lab.run_status(viewer="me").details["step"] == 102 and lab.slot.current().paused, timeout=60)
    with pytest.raises(GanlabError, match="steps per Step must be an integer in \\[1, 100\\]"):
        lab.step_run(101, viewer="me")
    with pytest.raises(GanlabError, match="belongs to another visitor"):
        lab.step_run(1, viewer="someone")
    assert lab.distillation.current_request().steps == 500  # what a page load fills the form with, whoever asks
    lab.resume_run(viewer="me")
    with pytest.raises(GanlabError, match="Step works on a paused run"):
        lab.step_run(1, viewer="me")
    image, caption = lab.history(0)
    assert image is not None and caption.startswith("student at step 0")
    with pytest.raises(GanlabError, match="history position"):
        lab.history(101)
    lab.stop_run(viewer="me")


def test_a_stalled_preparation_is_abandoned_past_the_cap_and_frees_the_slot(tmp_path):
    from ganlab.lab.files import RunFolders
    from ganlab.lab.request import RunRequest
    from ganlab.lab.runs import TrainingSlot, new_run
    from ganlab.lab.settings import LabSettings

    slot, release = TrainingSlot(), threading.Event()
    folders = RunFolders(tmp_path)

    def stalled(run):  # a download that never answers
        release.wait(30)
        return None

    request = RunRequest.from_inputs(LabSettings(), steps=5, time_budget_s=0)
    build = lambda: new_run(folders=folders, owner="me", request=request)  # noqa: E731
    run = slot.claim(build, stalled, cap_s=0.3, idle_s=60, grace_s=0.2)
    assert run.alive and run.state(run.student_log.snapshot()) == "preparing"
    assert not run.stop("stopped by you", timeout=0.1)  # still preparing: not claimed as stopped
    wait_for(lambda: not run.alive, timeout=10)
    assert run.state(run.student_log.snapshot()) == "failed" and "still preparing" in run.student_log.snapshot()["message"]
    assert slot.busy() is None
    release.set()  # the preparer returns later and starts nothing
    time.sleep(0.2)
    assert run.trainers == []


def test_a_run_after_a_stalled_download_is_told_so_instead_of_waiting_behind_it(tmp_path, monkeypatch):
    import ganlab.lab.distillation as distillation

    lab = tiny_lab(tmp_path)
    monkeypatch.setattr(distillation, "IMAGES_WAIT_S", 0.1)
    images = lab.distillation.images
    images.lock.acquire()  # an abandoned run's download thread, stuck inside the load
    try:
        with pytest.raises(GanlabError, match="still being downloaded for an earlier run that stalled"):
            images.load()
    finally:
        images.lock.release()
    assert images.load().shape[1:] == (1, 28, 28)  # once it lets go, runs load as before


def test_the_fid_axis_spans_the_data_not_the_reference_values_as_exponents():
    """Reference lines are data on the log axis; its range is the data's decades, padded (the axis once ran to 10^67)."""
    from ganlab.lab.views import quality_figure

    snapshot = LogSnapshot(step=300, quality=[(0, {"balanced": 0.0, "agreement": 0.1, "fid": 900.0}), (300, {"balanced": 0.6, "agreement": 0.7, "fid": 80.0})])
    references = {"teacher": {"balanced": 0.8, "fid": 53.0}, "committed student": {"balanced": 0.75, "agreement": 0.85, "fid": 67.0}}
    figure = quality_figure(snapshot, None, references)
    low, high = figure.layout.yaxis2.range
    assert 10**low < 53.0 and 10**high > 900.0 and high - low < 2.0  # 42 to 1,125: under two decades
    assert not figure.layout.shapes  # no add_hline shapes, whose y a log axis misreads
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert "digits (higher is better)" in titles and "FID (log scale, lower is better)" in titles


def test_the_device_setting_picks_cuda_only_where_there_is_one_and_refuses_nonsense_in_one_line():
    from ganlab.lab.request import RunRequest
    from ganlab.lab.settings import LabSettings

    assert LabSettings.from_env({}).device == "auto" and LabSettings.from_env({"GANLAB_DEVICE": "cpu"}).device == "cpu"
    with pytest.raises(GanlabError, match="GANLAB_DEVICE must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'tpu'"):
        LabSettings.from_env({"GANLAB_DEVICE": "tpu"})
    request = RunRequest.from_inputs(LabSettings(device="auto"))
    assert request.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert request.train_config(threads=1).device == request.device  # what the trainer is handed
    assert RunRequest.from_inputs(LabSettings(device="cpu")).device == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(GanlabError, match="no CUDA GPU"):
            LabSettings(device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_ui_run_trains_on_the_gpu_when_there_is_one(tmp_path):
    lab = tiny_lab(tmp_path, device="cuda")
    lab.start_run(steps=5, batch_size=16, owner="me")
    view = wait_for(lambda: (v := lab.run_status(viewer="me")).state == "finished" and v, timeout=120)
    assert "on cuda" in view.progress_text and view.details["settings"]["device"].startswith("cuda")
