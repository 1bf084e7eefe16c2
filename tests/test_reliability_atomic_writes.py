"""Reliability: an interrupted or killed writer leaves the previous metrics file or checkpoint loadable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from conftest import REPO

from ganlab.checkpoints import atomic_write_json, load_checkpoint


def test_an_interrupted_metrics_write_leaves_the_previous_file(tmp_path, monkeypatch):
    import ganlab.checkpoints

    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"student": {"fid": 12.5}})

    def power_cut(fd):
        raise KeyboardInterrupt("power cut during fsync")

    monkeypatch.setattr(ganlab.checkpoints.os, "fsync", power_cut)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_json(path, {"student": {"fid": 99.0}, "padding": "x" * 100_000})
    assert json.loads(path.read_text()) == {"student": {"fid": 12.5}}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # the temporary file is gone too


KILLED_WRITER = """
import os, sys, time
import ganlab.checkpoints as checkpoints
from pathlib import Path

def stall(source, target):  # the new bytes are on disk; die before the rename
    print("written", flush=True)
    time.sleep(60)

checkpoints.os.replace = stall
target = Path(sys.argv[1])
if sys.argv[2] == "metrics":
    checkpoints.atomic_write_json(target, {"student": {"fid": 99.0}})
else:
    import torch
    from ganlab.config import GeneratorConfig
    from ganlab.models import Generator
    model = Generator(GeneratorConfig.student(width=8))
    with torch.no_grad():
        model.blocks[0][0].weight.fill_(3.0)
    checkpoints.save_checkpoint(model, target)
"""


@pytest.mark.parametrize("what", ["metrics", "checkpoint"])
def test_a_writer_killed_mid_write_leaves_the_previous_file_loadable(tmp_path, tiny_checkpoint, what):
    target = tmp_path / "metrics.json" if what == "metrics" else tiny_checkpoint
    if what == "metrics":
        atomic_write_json(target, {"student": {"fid": 12.5}})
    before = load_checkpoint(target) if what == "checkpoint" else None
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(target), what], cwd=REPO, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        assert writer.stdout.readline().strip() == "written"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    if what == "metrics":
        assert json.loads(target.read_text()) == {"student": {"fid": 12.5}}
    else:
        after = load_checkpoint(target)
        for name, tensor in before.state_dict().items():
            assert torch.equal(tensor, after.state_dict()[name])
