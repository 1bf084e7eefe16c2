"""A UI run, the one training slot of a process, and its watchdog: the only place the Lab starts threads.

One process holds at most one run at a time (`SLOT`), because a Hugging Face Space has two
vCPUs. Each trainer runs in its own daemon thread; the watchdog thread ends a run at the
wall-clock cap and when nobody has polled it for a while. Every stop goes through
Trainer.stop(reason), so why a run ended arrives in its Finished event and nowhere else.
"""

from __future__ import annotations

import copy
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganlab.config import TrainConfig
from ganlab.errors import GanlabError
from ganlab.lab.files import RunFolders
from ganlab.models import Generator
from ganlab.reporting import RunLog
from ganlab.trainer import Trainer, new_trainer


@dataclass
class Run:
    """One UI run: the distilled student, optionally a no-distillation baseline beside it."""

    id: str
    owner: str
    settings: dict[str, Any]
    output_dir: Path
    student: Trainer
    student_log: RunLog
    baseline: Trainer | None = None
    baseline_log: RunLog | None = None
    started: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    last_polled: float = field(default_factory=time.monotonic)

    @property
    def trainers(self) -> list[Trainer]:
        return [t for t in (self.student, self.baseline) if t is not None]

    @property
    def alive(self) -> bool:
        return any(t.alive for t in self.trainers)

    @property
    def paused(self) -> bool:
        return self.student.paused

    def start(self) -> None:
        for trainer in self.trainers:
            trainer.start()

    def stop(self, reason: str, timeout: float = 5.0) -> bool:
        """Ask every trainer to end after its current step, for `reason`; True once all threads have ended."""
        for trainer in self.trainers:
            trainer.stop(reason, timeout=0)
        deadline = time.monotonic() + timeout
        for trainer in self.trainers:
            trainer.join(max(0.0, deadline - time.monotonic()))
        return not self.alive

    def pause(self) -> None:
        for trainer in self.trainers:
            trainer.pause()

    def resume(self) -> None:
        for trainer in self.trainers:
            trainer.resume()

    def state(self, snapshot: dict[str, Any]) -> str:
        """idle, running, paused, finished, stopped or failed, from the student's log snapshot."""
        if self.alive:
            return "paused" if self.paused else "running"
        return snapshot["status"] if snapshot["status"] in ("finished", "stopped", "failed") else "stopped"

    def progress(self, snapshot: dict[str, Any]) -> tuple[float, str]:
        """(fraction done, one line of step, time, speed and ETA)."""
        total = snapshot["total_steps"] or self.settings["steps"]
        step, elapsed = snapshot["step"], snapshot["elapsed"]
        budget = self.settings["time_budget_s"]
        fraction = step / total if total else 0.0
        eta = (total - step) * elapsed / step if step else math.inf
        if budget:
            fraction = max(fraction, min(1.0, elapsed / budget))
            eta = min(eta, max(0.0, budget - elapsed))
        text = f"step {step:,} / {total:,} · {elapsed:.0f} s elapsed"
        if step:
            text += f" · {step / max(elapsed, 1e-9):.1f} steps/s"
        if self.settings.get("precision") == "bf16":
            text += " · bf16 autocast"
        if self.alive and math.isfinite(eta):
            text += f" · ETA {eta:.0f} s"
        if not self.alive and snapshot["status"] == "finished":  # completed, or its time budget ran out
            fraction = 1.0
        return min(1.0, fraction), text


def new_run(
    config: TrainConfig,
    *,
    images: torch.Tensor,
    teacher: Generator,
    teacher_source: str,
    folders: RunFolders,
    owner: str,
    settings: dict[str, Any],
    baseline: bool,
) -> Run:
    """A run's trainers, not yet started, in a folder of its own (`folders` deletes old ones nobody holds)."""
    run_id = time.strftime("%H%M%S") + "-" + uuid.uuid4().hex[:6]
    output_dir = folders.new(run_id)
    student_log = RunLog()
    student = new_trainer(
        config, images=images, teacher=copy.deepcopy(teacher), output_dir=output_dir / "student",
        on_event=student_log, extra_info={"teacher": teacher_source, "ui_run": run_id},
    )  # fmt: skip
    run = Run(run_id, owner, settings, output_dir, student, student_log)
    if baseline:
        run.baseline_log = RunLog()
        run.baseline = new_trainer(
            config.replace(alpha=0.0, layers=()), images=images, output_dir=output_dir / "baseline",
            on_event=run.baseline_log, extra_info={"ui_run": run_id, "baseline": True},
        )  # fmt: skip
    return run


class TrainingSlot:
    """At most one run per process, claimed under a lock and watched by a daemon thread.

    The watchdog ends a run at the wall-clock cap (pauses included) and when nobody has polled
    it for `idle_stop_s`, so a closed tab never leaves a trainer running.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.run: Run | None = None

    def current(self) -> Run | None:
        with self._lock:
            return self.run

    def busy(self) -> Run | None:
        run = self.current()
        return run if run is not None and run.alive else None

    def active(self, action: str) -> Run:
        """The run in progress, or a GanlabError saying there is nothing to `action`."""
        run = self.busy()
        if run is None:
            raise GanlabError(f"no run is training: nothing to {action}")
        return run

    def claim(self, build: Callable[[], Run], *, cap_s: float, idle_s: float) -> Run:
        """Build and start a run unless one is alive; raise GanlabError saying when it ends otherwise."""
        with self._lock:
            if self.run is not None and self.run.alive:
                raise GanlabError(busy_message(self.run, cap_s))
            run = build()
            run.start()
            self.run = run
        watchdog = threading.Thread(target=self._watch, args=(run, cap_s, idle_s), name="ganlab-watchdog", daemon=True)
        watchdog.start()
        return run

    @staticmethod
    def _watch(run: Run, cap_s: float, idle_s: float) -> None:
        while run.alive:
            now = time.monotonic()
            if now - run.started >= cap_s:
                run.stop(f"wall-clock cap of {cap_s:g} s reached", timeout=0)
            elif now - run.last_polled >= idle_s:
                run.stop(f"nobody watched it for {idle_s:g} s", timeout=0)
            time.sleep(0.25)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the run if any (tests and process exit)."""
        run = self.current()
        if run is not None and run.alive:
            run.stop("shut down", timeout=timeout)


SLOT = TrainingSlot()


def remaining_s(run: Run, cap_s: float) -> float:
    """Seconds until `run` ends at the latest: its time budget or the wall-clock cap, whichever comes first."""
    elapsed = time.monotonic() - run.started
    left = cap_s - elapsed
    budget = run.settings.get("time_budget_s") or 0
    if budget:
        left = min(left, budget - elapsed)
    return max(0.0, left)


def busy_message(run: Run, cap_s: float) -> str:
    """Why the slot is taken, for anyone but the run's owner (who holds it is never named)."""
    snapshot = run.student_log.snapshot()
    return (
        f"a run is already training (held by another visitor, step {snapshot['step']}/"
        f"{snapshot['total_steps'] or run.settings['steps']}, ends within {remaining_s(run, cap_s):.0f} s): "
        "one run at a time on this machine; watch it in the Distill tab, or duplicate the Space to train your own"
    )


def not_yours_message(run: Run, action: str, cap_s: float) -> str:
    """The refusal a visitor meets when they try to pause, resume or stop someone else's run."""
    return (
        f"this run belongs to another visitor: only the visitor who started it can {action} it. "
        f"It ends within {remaining_s(run, cap_s):.0f} s; watch it here meanwhile, or duplicate the Space to train your own"
    )
