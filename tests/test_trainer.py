import threading
import time

import pytest
import torch

from ganlab.checkpoints import load_checkpoint
from ganlab.config import GeneratorConfig, TrainConfig
from ganlab.data import synthetic_images
from ganlab.errors import GanlabError
from ganlab.models import Generator, init_weights
from ganlab.sampling import generate, noise
from ganlab.events import CheckpointWritten, Failed, Finished, Samples, Started, Step
from ganlab.trainer import new_trainer


def small_teacher():
    teacher = Generator(GeneratorConfig.teacher())
    init_weights(teacher, torch.Generator().manual_seed(1))
    return teacher


def config(**changes):
    base = dict(mode="distill", steps=6, batch_size=16, sample_every=3, seed=3)
    base.update(changes)
    return TrainConfig(**base)


def test_foreground_run_emits_every_event_and_writes_a_checkpoint(tmp_path):
    events = []
    trainer = new_trainer(
        config(), images=synthetic_images(64), teacher=small_teacher(), output_dir=tmp_path, on_event=events.append
    )
    finished = trainer.run()
    kinds = [type(event) for event in events]
    assert kinds[0] is Started and kinds[-1] is Finished
    steps = [event for event in events if isinstance(event, Step)]
    assert [event.step for event in steps] == [1, 2, 3, 4, 5, 6]
    assert {"adversarial", "distillation", "distill_14x14", "discriminator", "d_x", "d_g_z"} <= set(steps[0].losses)
    samples = [event for event in events if isinstance(event, Samples)]
    assert [event.step for event in samples] == [0, 3, 6]
    assert samples[0].images.shape == (64, 28, 28) and samples[0].images.dtype.name == "uint8"
    assert any(isinstance(event, CheckpointWritten) for event in events)
    assert finished.reason == "completed" and finished.step == 6
    student = load_checkpoint(tmp_path, expect="generator")
    assert student.config == GeneratorConfig.student()


def test_the_frozen_teacher_does_not_change(tmp_path):
    teacher = small_teacher()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    new_trainer(config(steps=3), images=synthetic_images(64), teacher=teacher).run()
    after = teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running stats too (eval mode)


def test_seeded_runs_are_reproducible():
    outputs = []
    for _ in range(2):
        trainer = new_trainer(config(steps=4, sample_every=0), images=synthetic_images(64), teacher=small_teacher())
        trainer.run()
        outputs.append(generate(trainer.generator, noise(4, 0)))
    assert torch.equal(outputs[0], outputs[1])
    other = new_trainer(config(steps=4, sample_every=0, seed=4), images=synthetic_images(64), teacher=small_teacher())
    other.run()
    assert not torch.equal(outputs[0], generate(other.generator, noise(4, 0)))


def test_background_run_stops_within_a_second():
    events, got_steps = [], threading.Event()

    def listen(event):
        events.append(event)
        if isinstance(event, Step) and event.step >= 2:
            got_steps.set()

    trainer = new_trainer(
        config(steps=100_000, batch_size=32, sample_every=0), images=synthetic_images(128), teacher=small_teacher(), on_event=listen
    )
    thread = trainer.start()
    assert thread.daemon
    assert got_steps.wait(30), "no steps reported"
    step_times = [event.elapsed for event in events if isinstance(event, Step)]
    one_step = step_times[-1] - step_times[-2]
    started = time.perf_counter()
    assert trainer.stop(timeout=5)
    # within the step in flight (a loaded machine makes a step slower, not the stop later)
    assert time.perf_counter() - started < max(1.0, 3 * one_step)
    assert not thread.is_alive()
    assert isinstance(events[-1], Finished) and events[-1].reason == "stopped"


def test_pause_holds_the_step_count_and_resume_continues():
    steps, got = [], threading.Event()

    def listen(event):
        if isinstance(event, Step):
            steps.append(event.step)
            got.set()

    trainer = new_trainer(config(steps=100_000, sample_every=0), images=synthetic_images(64), teacher=small_teacher(), on_event=listen)
    trainer.start()
    assert got.wait(30)
    trainer.pause()
    held, deadline = -1, time.time() + 30
    while held != len(steps) and time.time() < deadline:  # let the step in flight finish
        held = len(steps)
        time.sleep(0.5)
    time.sleep(0.5)
    assert len(steps) == held and trainer.paused
    trainer.resume()
    deadline = time.time() + 30
    while len(steps) == held and time.time() < deadline:
        time.sleep(0.05)
    assert len(steps) > held
    assert trainer.stop(timeout=5)


def test_time_budget_ends_the_run():
    trainer = new_trainer(
        config(steps=100_000, sample_every=0, time_budget_s=0.5), images=synthetic_images(64), teacher=small_teacher()
    )
    finished = trainer.run()
    assert finished.reason == "time budget" and 0 < finished.step < 100_000


def test_divergence_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    good = new_trainer(config(steps=2, sample_every=0), images=synthetic_images(64), teacher=small_teacher(), output_dir=tmp_path)
    good.run()
    saved = (tmp_path / "model.safetensors").read_bytes()
    events = []
    absurd = config(steps=50, sample_every=0, lr_generator=0.1, lr_discriminator=0.1, beta1=0.0)
    trainer = new_trainer(absurd, images=synthetic_images(64), teacher=small_teacher(), output_dir=tmp_path, on_event=events.append)
    # Poison the weights so the very first step is non-finite, whatever the optimiser does.
    with torch.no_grad():
        trainer.generator.blocks[-1][0].weight.fill_(float("nan"))
    with pytest.raises(GanlabError, match="diverged"):
        trainer.run()
    assert isinstance(events[-1], Failed) and "diverged" in events[-1].error
    assert (tmp_path / "model.safetensors").read_bytes() == saved
    load_checkpoint(tmp_path, expect="generator")  # still loadable


def test_teacher_mode_trains_a_teacher_and_alpha_zero_needs_no_teacher(tmp_path):
    trainer = new_trainer(TrainConfig(mode="teacher", steps=2, batch_size=8, sample_every=0), images=synthetic_images(32), output_dir=tmp_path)
    trainer.run()
    assert load_checkpoint(tmp_path).config == GeneratorConfig.teacher()
    baseline = new_trainer(config(alpha=0.0, steps=2, sample_every=0), images=synthetic_images(32))
    losses = baseline.run().losses
    assert baseline.teacher is None and "distillation" not in losses
    assert losses["generator"] == pytest.approx(losses["adversarial"])


def test_narrow_students_get_a_learned_projection():
    trainer = new_trainer(config(steps=2, sample_every=0, layers=("14x14", "7x7")), images=synthetic_images(32),
                          teacher=small_teacher(), student_width=16)
    assert set(trainer.projections) == {"14x14", "7x7"}
    before = trainer.projections["14x14"].weight.clone()
    trainer.run()
    assert not torch.equal(before, trainer.projections["14x14"].weight)  # trained with G


def test_a_trainer_starts_once():
    trainer = new_trainer(config(steps=1, sample_every=0), images=synthetic_images(32), teacher=small_teacher())
    trainer.start()
    trainer.join(30)
    with pytest.raises(GanlabError, match="already"):
        trainer.start()


def test_bf16_autocast_trains_in_fp32_weights_and_stays_close_to_fp32():
    """precision="bf16" runs the forward passes in bfloat16; weights, optimiser and losses stay fp32."""
    results = {}
    for precision in ("fp32", "bf16"):
        events = []
        trainer = new_trainer(
            config(steps=3, sample_every=0, precision=precision, layers=("7x7", "14x14", "pixels")),
            images=synthetic_images(64), teacher=small_teacher(), on_event=events.append,
        )
        before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
        trainer.run()
        assert all(p.dtype == torch.float32 for p in trainer.generator.parameters())
        assert any(not torch.equal(before[k], v) for k, v in trainer.generator.state_dict().items())
        first = next(event for event in events if isinstance(event, Step))
        assert all(torch.isfinite(torch.tensor(value)) for value in first.losses.values())
        assert next(event for event in events if isinstance(event, Started)).config["precision"] == precision
        results[precision] = first.losses
    # the first step sees the same weights, batch and noise: bf16 rounding moves the losses a little
    for name in ("adversarial", "distillation", "discriminator"):
        assert results["bf16"][name] == pytest.approx(results["fp32"][name], rel=0.05, abs=0.02), name
    with pytest.raises(GanlabError, match="precision"):
        TrainConfig(precision="fp16")


def test_distillation_levers_train_and_each_reaches_its_term():
    """pixel L1, the perceptual term, teacher images shown as real and an α schedule, together."""
    levers = dict(steps=4, sample_every=0, layers=("7x7", "pixels"), pixel_distance="l1", perceptual_weight=2.0,
                  teacher_as_real=0.5, alpha=0.9, alpha_final=0.3, r1_gamma=10.0, discriminator_dropout=0.0)
    events = []
    trainer = new_trainer(config(**levers), images=synthetic_images(64), teacher=small_teacher(), on_event=events.append)
    trainer.run()
    steps = [event.losses for event in events if isinstance(event, Step)]
    assert all("perceptual" in parts and "r1" in parts for parts in steps)
    first = steps[0]
    # step 0 uses alpha 0.9: generator = 0.1 adversarial + 0.9 distillation + 2 perceptual
    expected = 0.1 * first["adversarial"] + 0.9 * first["distillation"] + 2.0 * first["perceptual"]
    assert first["generator"] == pytest.approx(expected, rel=1e-5)
    assert TrainConfig(**{**config().to_dict(), **levers}).alpha_at(2) == pytest.approx(0.9 + (0.3 - 0.9) * 2 / 4)


def test_alpha_zero_with_a_teacher_lever_still_reads_the_teacher():
    assert config(alpha=0.0).uses_teacher is False
    assert config(alpha=0.0, teacher_as_real=0.25).uses_teacher is True
    with pytest.raises(GanlabError, match="needs a teacher"):
        new_trainer(config(alpha=0.0, perceptual_weight=1.0), images=synthetic_images(32))
    with pytest.raises(GanlabError, match="pixel distance"):
        config(pixel_distance="l2")
    with pytest.raises(GanlabError, match="final α"):
        config(alpha_final=1.5)
