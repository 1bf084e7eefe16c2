"""Consumers of trainer events: a tqdm progress bar for the CLI, a thread-safe run log for the UI.

The trainer only emits; whatever shows progress subscribes here, so the CLI and the app see
the same stream of Started / Step / Samples / Quality / CheckpointWritten / Finished / Failed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ganlab.events import COMPLETED_REASONS, CheckpointWritten, Event, Failed, Finished, Quality, Samples, Started, Step

MAX_SNAPSHOTS = 128  # sample grids a run log keeps for its history; beyond, every other one is dropped


class TqdmReporter:
    """Shows a run as a tqdm bar with the headline losses; prints checkpoints and the end."""

    def __init__(self, description: str = "train", *, disable: bool = False) -> None:
        self.description = description
        self.disable = disable
        self.bar = None

    def __call__(self, event: Event) -> None:
        from tqdm import tqdm

        if isinstance(event, Started):
            self.bar = tqdm(total=event.total_steps, desc=self.description, disable=self.disable, dynamic_ncols=True)
        elif isinstance(event, Step) and self.bar is not None:
            self.bar.update(event.step - self.bar.n)
            if event.step % 10 == 0:
                keys = ("generator", "adversarial", "distillation", "discriminator", "d_x", "d_g_z")
                self.bar.set_postfix({k: f"{event.losses[k]:.3f}" for k in keys if k in event.losses})
        elif isinstance(event, CheckpointWritten) and self.bar is not None:
            self.bar.write(f"checkpoint at step {event.step}: {event.path}")
        elif isinstance(event, (Finished, Failed)) and self.bar is not None:
            self.bar.close()


@dataclass(frozen=True)
class LogSnapshot:
    """One consistent copy of a RunLog, for a UI poll: what the page is drawn from."""

    total_steps: int = 0
    step: int = 0
    elapsed: float = 0.0
    status: str = "idle"
    message: str = ""
    reason: str = ""
    steps: list[int] = field(default_factory=list)
    history: dict[str, list[float]] = field(default_factory=dict)
    samples: np.ndarray | None = None
    samples_step: int = 0
    snapshot_steps: list[int] = field(default_factory=list)
    quality: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    probe_seconds: float = 0.0
    checkpoint: str | None = None

    def __getitem__(self, name: str):
        """snapshot["step"]: the mapping form earlier callers read (attributes are the typed way)."""
        return getattr(self, name)

    def get(self, name: str, default=None):
        return getattr(self, name, default)


@dataclass
class RunLog:
    """Everything a view needs about one run, built from its events; safe across threads."""

    total_steps: int = 0
    step: int = 0
    elapsed: float = 0.0
    status: str = "idle"  # idle, running, finished, stopped, failed
    message: str = ""
    reason: str = ""  # Finished.reason once the run has ended
    history: dict[str, list[float]] = field(default_factory=dict)  # loss name -> values per step
    steps: list[int] = field(default_factory=list)
    samples: np.ndarray | None = None
    samples_step: int = 0
    # the sample grids seen so far, oldest first: (step, uint8 images); thinned to MAX_SNAPSHOTS by
    # dropping every other one, so a long run keeps its whole arc at a bounded memory (~6 MB at most)
    snapshots: list[tuple[int, np.ndarray]] = field(default_factory=list)
    quality: list[tuple[int, dict[str, float]]] = field(default_factory=list)  # (step, probe values)
    probe_seconds: float = 0.0  # what the quality probe has cost so far
    checkpoint: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, Started):
                self.total_steps, self.status = event.total_steps, "running"
            elif isinstance(event, Step):
                self.step, self.elapsed = event.step, event.elapsed
                self.steps.append(event.step)
                for name, value in event.losses.items():
                    self.history.setdefault(name, []).append(value)
            elif isinstance(event, Samples):
                self.samples, self.samples_step = event.images, event.step
                if self.snapshots and self.snapshots[-1][0] == event.step:
                    self.snapshots[-1] = (event.step, event.images)
                else:
                    self.snapshots.append((event.step, event.images))
                if len(self.snapshots) > MAX_SNAPSHOTS:  # keep the first and the latest
                    self.snapshots = self.snapshots[:-1:2] + self.snapshots[-1:]
            elif isinstance(event, Quality):
                self.quality.append((event.step, dict(event.values)))
                self.probe_seconds += event.seconds
            elif isinstance(event, CheckpointWritten):
                self.checkpoint = event.path
            elif isinstance(event, Finished):
                self.status = "finished" if event.reason in COMPLETED_REASONS else "stopped"
                self.reason = event.reason
                self.elapsed = event.elapsed
                self.message = f"{event.reason} after {event.step} steps in {event.elapsed:.1f} s"
            elif isinstance(event, Failed):
                self.status, self.message = "failed", event.error

    def snapshot_count(self) -> int:
        """How many sample grids the history holds (cheap: no copy, unlike snapshot())."""
        with self._lock:
            return len(self.snapshots)

    def snapshot_images(self, index: int) -> tuple[int, np.ndarray] | None:
        """The history's sample grid number `index` (clamped) as (step, images), or None before any."""
        with self._lock:
            if not self.snapshots:
                return None
            return self.snapshots[max(0, min(index, len(self.snapshots) - 1))]

    def snapshot(self) -> LogSnapshot:
        """A consistent copy for a UI poll."""
        with self._lock:
            return LogSnapshot(
                total_steps=self.total_steps,
                step=self.step,
                elapsed=self.elapsed,
                status=self.status,
                message=self.message,
                reason=self.reason,
                steps=list(self.steps),
                history={k: list(v) for k, v in self.history.items()},
                samples=None if self.samples is None else self.samples.copy(),
                samples_step=self.samples_step,
                snapshot_steps=[step for step, _ in self.snapshots],
                quality=[(step, dict(values)) for step, values in self.quality],
                probe_seconds=self.probe_seconds,
                checkpoint=self.checkpoint,
            )
