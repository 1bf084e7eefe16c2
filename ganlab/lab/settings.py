"""The Lab's settings: every GANLAB_* variable it reads, and the defaults of a UI run."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganlab.paths import REPO_ROOT, models_file
from ganlab.config import FAST, PRECISIONS
from ganlab.datasets import DATASETS, MNIST, get_dataset
from ganlab.errors import GanlabError

METRICS_PATH = REPO_ROOT / MNIST.models_dir / "metrics.json"
DEFAULT_SAMPLES = 64  # the Compare grid's default size (8 x 8)
ANY_DIGIT = "any"
DIGIT_CHOICES = (ANY_DIGIT, *MNIST.class_names)  # Compare's digit choice: any noise, or the z whose teacher image reads as d


def class_choices(dataset: str) -> tuple[str, ...]:
    """Compare's class choice for `dataset`: "any", then its class names (MNIST's: the digits)."""
    return (ANY_DIGIT, *get_dataset(dataset).class_names)


def metrics_path(dataset: str) -> Path:
    """The About tables' figures of `dataset` (written by ganlab-evaluate into its models folder)."""
    return models_file(dataset, "metrics.json")


# candidates one Compare request may examine for a digit. The bundled teacher keeps 7.4% (digit 5)
# to 9.6% (digit 1) of its z, so 256 samples of the rarest digit take ~3,500 tries; an untrained
# or Hub teacher that draws no such digit stops here and the view says how many it found. Cost:
# ~1-5 s per 1,024 candidates at 1 thread (teacher + classifier; 5 s on a shared 2-core machine)
DIGIT_MAX_TRIES = 8_192
# and at most this much wall time: one visitor's search must not hold a place in the draw queue
# for long (the digits found by then are drawn, and the view says the search was cut)
DIGIT_MAX_SECONDS = 3.0
SAMPLE_EVERY = 20  # steps between the live sample grids of a UI run (the default of its "show every")
MAX_SAMPLE_EVERY = 500
SMOOTHING = 0.6  # the loss curves' default EMA smoothing (raw lines stay, faint)
CHECKPOINT_EVERY = 500  # steps between a UI run's checkpoints: a diverged or crashed run keeps the last good one


def setting(default: Any, variable: str, meaning: str) -> Any:
    """A LabSettings field, its environment variable and what it sets, declared once: `from_env` reads
    the variable, and docs/reliability.md's limits table (scripts/results.py) prints the meaning."""
    return dataclasses.field(default=default, metadata={"env": variable, "meaning": meaning})


@dataclass(frozen=True)
class LabSettings:
    """Caps and locations, each field's GANLAB_* variable and meaning in its metadata (`setting`)."""

    max_samples: int = setting(256, "GANLAB_MAX_SAMPLES", "samples per model per Compare request")
    max_frames: int = setting(32, "GANLAB_MAX_FRAMES", "latent-walk frames")
    max_steps: int = setting(20_000, "GANLAB_MAX_STEPS", "steps of one UI run")
    max_batch_size: int = setting(512, "GANLAB_MAX_BATCH", "batch size of one UI run")
    run_cap_s: float = setting(600.0, "GANLAB_RUN_CAP_S", "wall-clock cap of one run, pauses included")
    idle_stop_s: float = setting(120.0, "GANLAB_RUN_IDLE_S", "stop a run nobody has polled for this long")
    train_threads: int = setting(2, "GANLAB_TRAIN_THREADS", "torch threads of the trainer thread(s)")
    device: str = setting("auto", "GANLAB_DEVICE", "where UI runs train: auto (CUDA when there is a GPU, else the CPU), cpu, cuda or cuda:N")
    train_precision: str = setting("auto", "GANLAB_TRAIN_PRECISION", "fp32, bf16 or auto (bf16 where the CPU has AMX / AVX512-BF16)")
    probe_every_s: float = setting(10.0, "GANLAB_PROBE_EVERY_S", "seconds of training between quality-curve points (0: no curve)")
    infer_precision: str = setting("auto", "GANLAB_INFER_PRECISION", "fp32, bf16 or auto (bf16 where the CPU has AMX / AVX512-BF16) for sampling")
    sample_threads: int = setting(0, "GANLAB_SAMPLE_THREADS", "torch threads of each sampling request (0: every core, and the cores the trainer leaves while a run trains)")
    train_images: int = setting(0, "GANLAB_TRAIN_IMAGES", "first N training images for UI runs (0: all; MNIST has 60,000)")
    data_source: str = setting("mnist", "GANLAB_TRAIN_DATA", "\"synthetic\": UI runs train on blobs; a dataset name: on the dataset each visitor chose")
    runs_dir: str = setting("", "GANLAB_RUNS_DIR", "where this process makes its own folder for UI runs (default: the OS temp dir; never the repo)")
    teacher: str = setting("", "GANLAB_TEACHER", "teacher checkpoint folder (default checkpoints/teacher)")
    student: str = setting("", "GANLAB_STUDENT", "student checkpoint folder (default checkpoints/student)")
    teacher_repo: str = setting("", "GANLAB_TEACHER_REPO", "Hub repo of the default teacher (bundled folder if unreachable)")
    student_repo: str = setting("", "GANLAB_STUDENT_REPO", "Hub repo of the default student (bundled folder if unreachable)")
    teacher_revision: str = setting("", "GANLAB_TEACHER_REVISION", "branch, tag or commit of that repo")
    student_revision: str = setting("", "GANLAB_STUDENT_REVISION", "branch, tag or commit of that repo")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> LabSettings:
        environ = dict(os.environ if environ is None else environ)
        kinds = {"int": int, "float": float, "str": str}
        values: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            variable, kind = item.metadata["env"], kinds[str(item.type)]
            text = environ.get(variable, "").strip()
            if not text:
                continue
            try:
                values[item.name] = kind(text)
            except ValueError:
                raise GanlabError(f"{variable} must be a{'n integer' if kind is int else ' number'}, got {text!r}") from None
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        for name in ("max_samples", "max_frames", "max_steps", "max_batch_size", "train_threads"):
            if getattr(self, name) < 1:
                raise GanlabError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.sample_threads < 0:
            raise GanlabError(f"sample_threads must be 0 (automatic) or more, got {self.sample_threads}")
        # NaN compares false with everything: a NaN cap would never fire and would refuse every run
        for name, variable in (("run_cap_s", "GANLAB_RUN_CAP_S"), ("idle_stop_s", "GANLAB_RUN_IDLE_S")):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise GanlabError(f"{variable} ({name}) must be a positive number of seconds, got {value!r}")
        if not (math.isfinite(self.probe_every_s) and self.probe_every_s >= 0):
            raise GanlabError(f"GANLAB_PROBE_EVERY_S (probe_every_s) must be 0 (no quality curve) or more seconds, got {self.probe_every_s!r}")
        if self.data_source != "synthetic" and self.data_source not in DATASETS:
            choices = ", ".join(repr(name) for name in (*DATASETS, "synthetic"))
            raise GanlabError(f"GANLAB_TRAIN_DATA must be one of {choices}, got {self.data_source!r}")
        if self.infer_precision not in ("auto", *PRECISIONS):
            choices = ", ".join(repr(name) for name in PRECISIONS)
            raise GanlabError(f"GANLAB_INFER_PRECISION must be {choices} or 'auto', got {self.infer_precision!r}")
        if not (self.device in ("auto", "cpu", "cuda") or (self.device.startswith("cuda:") and self.device[5:].isdigit())):
            raise GanlabError(f"GANLAB_DEVICE must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise GanlabError(f"GANLAB_DEVICE is {self.device!r} but this machine has no CUDA GPU: use 'auto' or 'cpu'")
        if self.train_precision not in ("auto", *PRECISIONS):
            choices = ", ".join(repr(name) for name in PRECISIONS)
            raise GanlabError(f"GANLAB_TRAIN_PRECISION must be {choices} or 'auto', got {self.train_precision!r}")


@dataclass(frozen=True)
class RunDefaults:
    """The settings `start_run` uses when called without arguments (the UI's initial values)."""

    steps: int = 5000
    time_budget_s: float = 120.0
    # batch 64 on the trainer's 2 threads: ~1,400 steps in the default 120 s where batch 128 on one
    # thread made ~440, and steps are what a two-minute run lacks (docs/results.md, the default run)
    batch_size: int = 64
    lr_generator: float = FAST.lr_generator
    lr_discriminator: float = FAST.lr_discriminator
    alpha: float = FAST.alpha
    layers: tuple[str, ...] = FAST.layers
    seed: int = 0
    baseline: bool = False
    ema_decay: float = FAST.ema_decay
    sample_every: int = SAMPLE_EVERY


RUN_DEFAULTS = RunDefaults()
