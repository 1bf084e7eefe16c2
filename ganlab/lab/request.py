"""`RunRequest`: one UI or API run's settings, checked once, kept on the run, shown back in the form.

Start's inputs arrive as text, numbers or None from a browser or an API client; `from_inputs`
checks each against the range TrainConfig declares (and the deployment's caps in LabSettings),
so the run, its progress line, its end message, its Hub card and the form after a reload all read
the same typed object. `train_config` is the one place a UI run becomes a TrainConfig.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ganlab.config import DISTILL_LAYERS, RECIPES, Limit, Recipe, TrainConfig, limit
from ganlab.datasets import DEFAULT_DATASET
from ganlab.lab.scope import current as current_dataset
from ganlab.errors import GanlabError
import ganlab.lab.settings as lab_settings
from ganlab.lab.settings import MAX_SAMPLE_EVERY, RUN_DEFAULTS, LabSettings
from ganlab.precision import resolve_precision
from ganlab.trainer import resolve_device


def _setting(name: str, value: Any, *, high: float | None = None) -> Any:
    """A run setting from the UI or API, checked against TrainConfig's declared range."""
    return limit(TrainConfig, name).check(value, high=high, text=True)


def count(label: str, value: Any, low: int, high: int) -> int:
    """A UI count (samples, frames, steps per Step) in [low, high]: the range is the Lab's own setting."""
    return Limit(label, low, high, integer=True).check(value, text=True)


def as_bool(name: str, value: Any) -> bool:
    # a checkbox sends true/false; None is an unticked box from a client that left it out
    if value is None or isinstance(value, bool):
        return bool(value)
    raise GanlabError(f"{name} must be true or false, got {value!r:.60}")


def as_layers(value: Any) -> tuple[str, ...]:
    """Distilled layers from a list or a comma-separated string, in the canonical order."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
        raise GanlabError(f"layers must be a list of layer names ({', '.join(DISTILL_LAYERS)}), got {value!r:.60}")
    for layer in value:
        if layer not in DISTILL_LAYERS:
            raise GanlabError(f"unknown distilled layer {layer!r:.60}: choose from {', '.join(DISTILL_LAYERS)}")
    # keep the canonical order, so ("pixels", "14x14") and ("14x14", "pixels") are one run
    return tuple(layer for layer in DISTILL_LAYERS if layer in value)


@dataclass(frozen=True)
class RunRequest:
    """What a visitor asked a run to be, checked; `cap_s` and `precision` are the deployment's."""

    steps: int
    time_budget_s: float  # 0: up to the cap
    batch_size: int
    lr_generator: float
    lr_discriminator: float
    alpha: float
    layers: tuple[str, ...]
    seed: int
    baseline: bool
    ema_decay: float
    sample_every: int
    precision: str  # "fp32" or "bf16", resolved for this machine
    cap_s: float  # the wall-clock cap of every run in this deployment
    dataset: str = DEFAULT_DATASET
    device: str = "cpu"  # where it trains: the deployment's GANLAB_DEVICE, resolved ("auto" -> cuda when there is a GPU)

    @classmethod
    def from_inputs(
        cls,
        limits: LabSettings,
        steps: Any = RUN_DEFAULTS.steps,
        time_budget_s: Any = RUN_DEFAULTS.time_budget_s,
        batch_size: Any = RUN_DEFAULTS.batch_size,
        lr_generator: Any = RUN_DEFAULTS.lr_generator,
        lr_discriminator: Any = RUN_DEFAULTS.lr_discriminator,
        alpha: Any = RUN_DEFAULTS.alpha,
        layers: Any = RUN_DEFAULTS.layers,
        seed: Any = RUN_DEFAULTS.seed,
        baseline: Any = RUN_DEFAULTS.baseline,
        ema_decay: Any = RUN_DEFAULTS.ema_decay,
        sample_every: Any = RUN_DEFAULTS.sample_every,
    ) -> RunRequest:
        """Start's inputs checked (text numbers read, ranges and caps applied), or a one-line GanlabError."""
        every = RUN_DEFAULTS.sample_every if sample_every is None else sample_every
        request = cls(
            steps=_setting("steps", steps, high=limits.max_steps),
            time_budget_s=_setting("time_budget_s", time_budget_s, high=limits.run_cap_s),
            batch_size=_setting("batch_size", batch_size, high=limits.max_batch_size),
            lr_generator=_setting("lr_generator", lr_generator),
            lr_discriminator=_setting("lr_discriminator", lr_discriminator),
            alpha=_setting("alpha", alpha),
            layers=as_layers(layers),
            seed=_setting("seed", seed),
            baseline=as_bool("baseline", baseline),
            ema_decay=_setting("ema_decay", ema_decay),
            sample_every=count("show every (steps)", every, 1, MAX_SAMPLE_EVERY),
            precision=resolve_precision(limits.train_precision),
            cap_s=limits.run_cap_s,
            device=str(resolve_device(limits.device)),
            dataset=current_dataset(),  # the visitor's choice (ganlab.lab.scope); the images may be blobs (GANLAB_TRAIN_DATA)
        )
        if request.alpha > 0 and not request.layers:
            raise GanlabError("α > 0 needs at least one distilled layer (or set α to 0)")
        return request

    @property
    def budget_s(self) -> float:
        """The seconds the run may train: its time budget, or the deployment's cap when it has none."""
        return min(self.time_budget_s, self.cap_s) if self.time_budget_s else self.cap_s

    @property
    def distills(self) -> bool:
        """Whether the student learns from the teacher at all (α 0 is a baseline, whatever its layers)."""
        return self.alpha > 0

    def train_config(self, *, threads: int) -> TrainConfig:
        """The trainer's config for this run's student (the baseline's is this with α 0)."""
        return TrainConfig(
            mode="distill", dataset=self.dataset, steps=self.steps, batch_size=self.batch_size,
            lr_generator=self.lr_generator, lr_discriminator=self.lr_discriminator, alpha=self.alpha,
            layers=self.layers, seed=self.seed, ema_decay=self.ema_decay, sample_every=self.sample_every,
            checkpoint_every=lab_settings.CHECKPOINT_EVERY, time_budget_s=self.budget_s, num_threads=threads, precision=self.precision,
            device=self.device,
        )  # fmt: skip

    def recipe(self) -> Recipe | None:
        """The named recipe whose values these are, if any (the form's recipe menu after a reload)."""
        values = (self.alpha, self.layers, self.lr_generator, self.lr_discriminator, self.ema_decay)
        return next((r for r in RECIPES.values() if (r.alpha, r.layers, r.lr_generator, r.lr_discriminator, r.ema_decay) == values), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (layers as a list): the run's raw status and the form's values."""
        return {**dataclasses.asdict(self), "layers": list(self.layers)}


def default_run_config(settings: LabSettings) -> TrainConfig:
    """The trainer's config of the run Start makes with every default in this deployment (its batch,
    precision, threads and device), open-ended and drawing no samples: what the training
    benchmarks (scripts/bench_compile.py, scripts/bench_threads.py) time step by step."""
    config = RunRequest.from_inputs(settings).train_config(threads=settings.train_threads)
    return dataclasses.replace(config, steps=10**6, sample_every=0, time_budget_s=0.0)
