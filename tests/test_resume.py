"""Resumable training: 4 steps + resume + 4 steps is the same run as 8 uninterrupted steps."""

import json

import pytest
import torch

from ganlab.checkpoints import load_checkpoint
from ganlab.config import TrainConfig
from ganlab.data import synthetic_images
from ganlab.errors import GanlabError
from ganlab.training_state import STATE_NAME
from ganlab.trainer import new_trainer


def teacher_config(**changes):
    base = dict(mode="teacher", steps=8, batch_size=16, sample_every=0, seed=5, ema_decay=0.9, lr_decay=True,
                checkpoint_every=4, r1_gamma=10.0, discriminator_dropout=0.3)
    base.update(changes)
    return TrainConfig(**base)


def weights(trainer):
    parts = {"g": trainer.generator, "d": trainer.discriminator, "ema": trainer.ema}
    return {f"{p}.{k}": v.detach().clone() for p, m in parts.items() for k, v in m.state_dict().items()}


def test_four_steps_resume_four_steps_equals_eight_steps(tmp_path):
    images = synthetic_images(40)  # 2 batches an epoch: the resume lands mid-stream and crosses epochs
    straight = new_trainer(teacher_config(keep_every=4), images=images, output_dir=tmp_path / "straight")
    straight.run()

    first = new_trainer(teacher_config(), images=images, output_dir=tmp_path / "cut")
    first.add_listener(lambda event: getattr(event, "step", 0) == 4 and first.stop())  # cut off after step 4
    assert first.run().step == 4
    assert (tmp_path / "cut" / STATE_NAME).is_file()
    at_four = {k: v.clone() for k, v in first.sampling_generator.state_dict().items()}
    second = new_trainer(teacher_config(keep_every=4), images=images, output_dir=tmp_path / "cut")  # keep_every may change
    assert second.load_training_state(tmp_path / "cut") == 4
    finished = second.run()

    assert finished.step == 8
    expected, resumed = weights(straight), weights(second)
    assert expected.keys() == resumed.keys()
    for name in expected:
        assert torch.equal(expected[name], resumed[name]), name
    assert straight.optimizer_g.param_groups[0]["lr"] == second.optimizer_g.param_groups[0]["lr"]

    # --keep-every: a lasting copy of the sampling model at steps 4 and 8, the same weights as the run had then
    kept = sorted(p.name for p in (tmp_path / "straight" / "snapshots").iterdir())
    assert kept == ["step-4", "step-8"]
    assert sorted(p.name for p in (tmp_path / "cut" / "snapshots").iterdir()) == ["step-8"]  # from the resume on
    for step, state in ((4, at_four), (8, straight.sampling_generator.state_dict())):
        snapshot = load_checkpoint(tmp_path / "straight" / "snapshots" / f"step-{step}", expect="generator")
        assert json.loads((tmp_path / "straight" / "snapshots" / f"step-{step}" / "training.json").read_text())["steps"] == step
        for name, value in snapshot.state_dict().items():
            assert torch.equal(value, state[name]), (step, name)


def test_a_resume_with_another_recipe_is_refused_and_nothing_is_written(tmp_path):
    images = synthetic_images(40)
    new_trainer(teacher_config(steps=4), images=images, output_dir=tmp_path).run()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    other = new_trainer(teacher_config(r1_gamma=1.0), images=images, output_dir=tmp_path)
    with pytest.raises(GanlabError, match="r1_gamma"):
        other.load_training_state(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_a_corrupt_or_missing_state_is_one_clear_error(tmp_path):
    images = synthetic_images(40)
    trainer = new_trainer(teacher_config(), images=images, output_dir=tmp_path)
    with pytest.raises(GanlabError, match="no training state"):
        trainer.load_training_state(tmp_path)
    (tmp_path / STATE_NAME).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}")
    with pytest.raises(GanlabError, match="not a readable training state"):
        trainer.load_training_state(tmp_path)
    assert trainer.step == 0


def test_a_state_already_at_the_asked_steps_says_to_ask_for_more(tmp_path):
    images = synthetic_images(40)
    new_trainer(teacher_config(steps=4), images=images, output_dir=tmp_path).run()
    again = new_trainer(teacher_config(steps=4), images=images, output_dir=tmp_path)
    with pytest.raises(GanlabError, match="more --steps"):
        again.load_training_state(tmp_path)


def test_a_state_written_before_a_config_field_existed_resumes_as_that_fields_default():
    import json

    from ganlab.config import TrainConfig
    from ganlab.training_state import check_resumable

    current = json.loads(json.dumps(TrainConfig(mode="teacher", r1_gamma=10.0).to_dict()))
    saved = {k: v for k, v in current.items() if k != "spectral_norm"}  # a state from before spectral_norm
    check_resumable(saved, current)  # trained without it == its default (False): accepted
    with pytest.raises(GanlabError, match="spectral_norm: saved False, asked True"):
        check_resumable(saved, {**current, "spectral_norm": True})


def test_a_run_with_lr_decay_changes_its_steps_only_before_its_decay_begins():
    from ganlab.training_state import check_resumable

    saved = json.loads(json.dumps(teacher_config().to_dict()))  # lr_decay over 8 steps
    check_resumable(saved, saved)
    with pytest.raises(GanlabError, match="decays its learning rate over its 8 steps; resume it with --steps 8"):
        check_resumable(saved, json.loads(json.dumps(teacher_config(steps=12).to_dict())))
    # before the decay begins under both lengths (step < 8/2), every step so far had the same rate
    check_resumable(saved, json.loads(json.dumps(teacher_config(steps=12).to_dict())), step=3)
    with pytest.raises(GanlabError, match="resume it with --steps 8"):
        check_resumable(saved, json.loads(json.dumps(teacher_config(steps=12).to_dict())), step=4)
    with pytest.raises(GanlabError, match="resume it with --steps 8"):  # 6 steps would begin the decay at 3
        check_resumable(saved, json.loads(json.dumps(teacher_config(steps=6).to_dict())), step=3)
    plain = json.loads(json.dumps(teacher_config(lr_decay=False).to_dict()))  # without the decay, a run may be extended
    check_resumable(plain, json.loads(json.dumps(teacher_config(lr_decay=False, steps=12).to_dict())))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A 4-step run with its training state, trained once for the damage cases below."""
    folder = tmp_path_factory.mktemp("finished")
    new_trainer(teacher_config(steps=4), images=synthetic_images(40), output_dir=folder).run()
    return folder


@pytest.mark.parametrize(
    "damage", ["no noise stream", "no scheduler", "a scheduler field too many", "a scheduler's rate as text", "a short optimiser", "bad batch offset"]
)
def test_an_incomplete_state_is_one_error_and_changes_nothing(finished_run, tmp_path, damage):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(finished_run / STATE_NAME), framework="pt") as handle:
        header = json.loads(handle.metadata()["state"])
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    if damage == "no noise stream":
        del tensors["random.noise"]
    elif damage == "no scheduler":
        del header["schedulers"]["scheduler_d"]
    elif damage == "a scheduler field too many":  # load_state_dict would set it on the scheduler as it is
        header["schedulers"]["scheduler_g"]["step"] = "anything"
    elif damage == "a scheduler's rate as text":
        header["schedulers"]["scheduler_g"]["base_lrs"] = ["0.1"]
    elif damage == "a short optimiser":
        header["optimizers"]["optimizer_d"]["param_groups"][0]["params"].pop()
    else:
        header["batch_position"] = 10**6
    save_file(tensors, str(tmp_path / STATE_NAME), metadata={"state": json.dumps(header)})

    trainer = new_trainer(teacher_config(), images=synthetic_images(40), output_dir=tmp_path)
    before = weights(trainer)
    lr = trainer.optimizer_g.param_groups[0]["lr"]
    with pytest.raises(GanlabError) as error:
        trainer.load_training_state(tmp_path)
    assert "\n" not in str(error.value)
    after = weights(trainer)
    assert all(torch.equal(before[name], after[name]) for name in before)  # not one module loaded
    assert trainer.step == 0 and not trainer.optimizer_d.state and trainer.optimizer_g.param_groups[0]["lr"] == lr
