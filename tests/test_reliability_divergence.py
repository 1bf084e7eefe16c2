"""Reliability: a run whose loss diverges stops itself, keeps its last good checkpoint, and the app keeps working."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from conftest import wait_for
from reliability_helpers import client, record_figure, served  # noqa: F401 (fixtures)

from ganlab.checkpoints import load_checkpoint


def test_a_diverging_run_stops_itself_keeps_its_last_good_checkpoint_and_the_app_keeps_working(served, client, monkeypatch):
    import ganlab.lab.settings
    import ganlab.gan_step

    _, lab = served
    wait_for(lambda: lab.slot.busy() is None)
    monkeypatch.setattr(ganlab.lab.settings, "CHECKPOINT_EVERY", 5)
    real_loss = ganlab.gan_step.generator_loss
    calls = [0]

    def exploding(*args, **kwargs):
        # what an absurd learning rate does after a while, without waiting for it: the loss becomes inf
        calls[0] += 1
        total, parts = real_loss(*args, **kwargs)
        if calls[0] > 12:
            parts = {**parts, "adversarial": math.inf}
        return total, parts

    monkeypatch.setattr(ganlab.gan_step, "generator_loss", exploding)
    client.predict(api_name="/start_run", steps=1000, batch_size=8, lr_generator=0.1, lr_discriminator=0.1)
    final = wait_for(lambda: (status := client.predict(api_name="/run_status"))[-2]["state"] == "failed" and status)
    details, message = final[-2], final[-1]
    assert "training diverged at step 13 (adversarial became NaN/inf)" in message and "lower the learning rates" in message
    assert not details["threads_alive"] and lab.slot.busy() is None
    checkpoint = Path(details["checkpoint"])
    training = json.loads((checkpoint.parent / "training.json").read_text())
    assert training["steps"] == 10 and training["status"] == "running"  # the last good one, at step 10
    assert torch.isfinite(next(load_checkpoint(checkpoint.parent).parameters())).all()
    # the app keeps working: Compare answers and the next run can start
    teacher, _, info = client.predict(0, 4, "last run's student", api_name="/generate")
    assert os.path.isfile(teacher) and "generation time (4)" in info
    monkeypatch.setattr(ganlab.gan_step, "generator_loss", real_loss)
    assert client.predict(api_name="/start_run", steps=3, batch_size=8)[-2]["state"] in ("preparing", "running", "finished")
    wait_for(lambda: lab.slot.busy() is None)
    record_figure("divergence", {"diverged_at_step": 13, "kept_checkpoint_step": training["steps"], "message": message})
