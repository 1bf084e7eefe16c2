"""Tiny teacher/student checkpoints and a Lab pointed at them, for the app tests."""

from __future__ import annotations

from pathlib import Path

import torch

from ganlab.checkpoints import save_checkpoint
from ganlab.config import GeneratorConfig
from ganlab.lab import Lab, LabSettings, TrainingSlot
from ganlab.models import Generator, init_weights

# a teacher with the real stage layout (one stride-1 stage) but 8x fewer channels
TINY_TEACHER = GeneratorConfig(channels=(32, 16, 8), strides=(1, 2, 2))
TINY_STUDENT = GeneratorConfig.student(width=8)


def tiny_checkpoints(folder: Path) -> tuple[Path, Path]:
    """Save an initialised tiny teacher and student into folder/teacher and folder/student."""
    paths = []
    for name, config in (("teacher", TINY_TEACHER), ("student", TINY_STUDENT)):
        model = Generator(config)
        init_weights(model, torch.Generator().manual_seed(0))
        paths.append(save_checkpoint(model, folder / name, training={"steps": 0}))
    return paths[0], paths[1]


def tiny_lab(folder: Path, *, classifier: bool = False, **overrides) -> Lab:
    """A Lab on tiny checkpoints, a small real-MNIST subset and its own training slot
    (with the bundled classifier, and so the quality curve, when `classifier`)."""
    teacher, student = tiny_checkpoints(folder)
    values = dict(
        teacher=str(teacher),
        student=str(student),
        train_images=512,
        runs_dir=str(folder / "runs"),
        train_threads=1,
        sample_threads=1,
        max_samples=64,
    )
    values.update(overrides)
    return Lab(LabSettings(**values), slot=TrainingSlot(), metrics_path=folder / "metrics.json", classifier=True if classifier else None)
