"""A UI run, the one training slot of a process, and its watchdog: the only place the Lab starts threads.

One process holds at most one run at a time (`SLOT`), because a Hugging Face Space has two
vCPUs. Each trainer runs in its own daemon thread; the watchdog thread ends a run at the
wall-clock cap and when nobody has polled it for a while. Every stop goes through
Trainer.stop(reason), so why a run ended arrives in its Finished event and nowhere else.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganlab.config import TrainConfig
from ganlab.datasets import DEFAULT_DATASET, get_dataset
from ganlab.errors import GanlabError
from ganlab.events import Failed, Finished
from ganlab.lab.files import MAX_RUN_FOLDERS, RunFolders
from ganlab.lab.request import RunRequest
from ganlab.models import Generator
from ganlab.reporting import LogSnapshot, RunLog
from ganlab.trainer import Trainer, new_trainer


MAX_ADVANCE = 100  # steps one press of Step may run
PREPARE_GRACE_S = 30.0  # past the cap, a preparation that has not ended (a stalled download) is abandoned


@dataclass
class Run:
    """One UI run: the distilled student, optionally a no-distillation baseline beside it.

    A run starts in the "preparing" phase: its preparer thread fetches MNIST if needed (the first
    run of a fresh install downloads it), loads it, builds the trainers and starts them. Until
    then `student` is None and `note` says what the preparer is doing, for the phase line.
    """

    id: str
    owner: str
    request: RunRequest
    output_dir: Path
    student_log: RunLog
    baseline_log: RunLog | None = None
    teacher_image: Any = None  # the teacher's fixed-noise grid this run is compared with (its own teacher, Hub or not)
    student: Trainer | None = None
    baseline: Trainer | None = None
    note: str = "starting"  # what the preparer is doing (the phase line while preparing)
    note_since: float = field(default_factory=time.monotonic)
    quality_references: dict[str, dict[str, float]] = field(default_factory=dict)  # probe values of fixed models, set by `start`
    started: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    last_polled: float = field(default_factory=time.monotonic)
    _preparer: threading.Thread | None = field(default=None, repr=False)
    _stop_reason: str | None = field(default=None, repr=False)
    _start_paused: bool = field(default=False, repr=False)  # Pause pressed while preparing: start the trainers paused
    _abandoned: bool = field(default=False, repr=False)  # a preparer that outlived the cap no longer counts as alive
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def settings(self) -> dict[str, Any]:
        """The request as JSON-ready values (the raw status panel; read `request` in code)."""
        return self.request.to_dict()

    def polled(self) -> None:
        """Someone is watching: the watchdog's idle clock starts again."""
        self.last_polled = time.monotonic()

    @property
    def trainers(self) -> list[Trainer]:
        return [t for t in (self.student, self.baseline) if t is not None]

    @property
    def preparing(self) -> bool:
        return self._preparer is not None and self._preparer.is_alive() and not self._abandoned

    @property
    def alive(self) -> bool:
        return self.preparing or any(t.alive for t in self.trainers)

    @property
    def paused(self) -> bool:
        return self.student.paused if self.student is not None else self._start_paused

    @property
    def stopping(self) -> bool:
        """Whether a stop has been asked for (the preparer checks it between its phases)."""
        return self._stop_reason is not None

    def say(self, note: str) -> None:
        """The preparer's progress line (called from its thread); silent once a stop was asked for."""
        if self._stop_reason is None:
            self.note, self.note_since = note, time.monotonic()

    def abandon(self, reason: str) -> None:
        """Give up on a preparation that has not ended (a stalled download): the run fails and the slot is
        free; the preparer thread, if it ever returns, starts nothing (its stop reason is set)."""
        with self._lock:
            if self.student is not None or self._abandoned:
                return
            self._abandoned = True
            if self._stop_reason is None:
                self._stop_reason = reason
        self.student_log(Failed(step=0, error=reason))

    def start(self, prepare: Callable[[Run], Prepared | None]) -> None:
        """Run `prepare` in a thread of its own, then start the trainers it returns (unless stopped meanwhile)."""

        def preparer() -> None:
            try:
                prepared = prepare(self)  # None when it saw a stop between its phases
                student, baseline = (None, None) if prepared is None else (prepared.student, prepared.baseline)
            except Exception as error:  # MNIST unreachable, a teacher that will not load: the run fails, the app stays
                message = str(error) if isinstance(error, GanlabError) else f"{type(error).__name__}: {error}"
                self.student_log(Failed(step=0, error=message))
                return
            with self._lock:
                if self._abandoned:  # the watchdog gave up on it and has said so
                    return
                if self._stop_reason is not None or student is None:  # stopped while preparing: nothing trained
                    self.student_log(Finished(step=0, reason=self._stop_reason or "stopped", elapsed=0.0, losses={}))
                    return
                self.student, self.baseline = student, baseline
                self.quality_references = prepared.quality_references
                for trainer in self.trainers:
                    if self._start_paused:
                        trainer.pause()
                    trainer.start()

        self._preparer = threading.Thread(target=preparer, name="ganlab-prepare", daemon=True)
        self._preparer.start()

    def stop(self, reason: str, timeout: float = 5.0) -> bool:
        """Ask every trainer to end after its current step, for `reason`; True once all threads have ended."""
        with self._lock:
            first = self._stop_reason is None
            if first:
                if not self.trainers:  # still preparing: the step in flight (a download) ends, then nothing trains
                    self.say(f"stopping ({reason}) once the preparation step in flight ends")
                self._stop_reason = reason
            trainers = self.trainers
        for trainer in trainers:
            trainer.stop(reason, timeout=0)
        deadline = time.monotonic() + timeout
        if self._preparer is not None and not trainers:  # usually a second or two (loading MNIST); a download takes longer
            self._preparer.join(max(0.0, deadline - time.monotonic()))
        for trainer in trainers:
            trainer.join(max(0.0, deadline - time.monotonic()))
        return not self.alive

    def _training(self, action: str) -> list[Trainer]:
        if self.student is None:
            raise GanlabError(f"the run is still preparing ({self.note}): nothing to {action} yet")
        return self.trainers

    def pause(self) -> None:
        with self._lock:
            self._start_paused = True  # heard while preparing: the trainers start paused
            trainers = self.trainers
        for trainer in trainers:
            trainer.pause()

    def resume(self) -> None:
        with self._lock:
            self._start_paused = False
            trainers = self.trainers
        for trainer in trainers:
            trainer.resume()

    def advance(self, steps: int) -> None:
        """While paused: `steps` more steps for the student (and the baseline), then paused again."""
        if not self.paused:
            if any(trainer.stepping for trainer in self._training("step")):
                raise GanlabError("the run is still taking the steps of the last Step; it pauses after them, then Step again")
            raise GanlabError("Step works on a paused run: press Pause first")
        for trainer in self._training("step"):
            trainer.advance(steps)

    def state(self, snapshot: LogSnapshot) -> str:
        """preparing, running, paused, finished, stopped or failed, from the student's log snapshot."""
        if snapshot.status == "failed" and not any(t.alive for t in self.trainers):
            return "failed"
        if self.alive:
            if self.student is None:
                return "preparing"
            return "paused" if self.paused else "running"
        return snapshot.status if snapshot.status in ("finished", "stopped") else "stopped"

    def progress(self, snapshot: LogSnapshot, state: str) -> tuple[float, str]:
        """(fraction done, one plain line): the bar fills by whichever limit ends the run first, and says which."""
        total = snapshot.total_steps or self.request.steps
        step, elapsed = snapshot.step, snapshot.elapsed
        budget = self.request.budget_s
        by_steps = step / total if total else 0.0
        by_time = min(1.0, elapsed / budget) if budget else 0.0
        rate = step / elapsed if step and elapsed > 0 else 0.0
        # which limit ends the run: the budget when the steps cannot be reached within it at this pace
        time_bound = bool(budget) and (by_time > by_steps if not rate else total / rate > budget)
        if not rate and budget:  # no pace yet: both limits
            text = f"step {step:,} of {total:,} · {elapsed:.0f} s of the {budget:g} s budget"
        elif time_bound:
            text = f"step {step:,} · {elapsed:.0f} s of the {budget:g} s budget"
            if state in ("running", "paused"):
                text += f" (the budget ends the run first, near step {min(total, round(rate * budget)):,} of {total:,})"
        else:
            text = f"step {step:,} of {total:,} · {elapsed:.0f} s"
        if state == "running" and rate:
            left = (budget - elapsed) if time_bound else (total - step) / rate
            text += f" · {rate:.1f} steps/s · about {max(0.0, left):.0f} s left"
        if self.request.dataset != DEFAULT_DATASET:  # MNIST goes without saying; another dataset is named
            text += f" · {get_dataset(self.request.dataset).title}"
        if self.request.device != "cpu":
            text += f" · on {self.request.device}"
        if self.request.precision == "bf16":
            text += " · bf16 autocast"
        fraction = max(by_steps, by_time)
        if state == "finished":  # completed, or its time budget ran out
            fraction = 1.0
        return min(1.0, fraction), text


@dataclass(frozen=True)
class Prepared:
    """What a run's preparation hands back: its trainers and the quality curve's reference values."""

    student: Trainer
    baseline: Trainer | None = None
    quality_references: dict[str, dict[str, float]] = field(default_factory=dict)


def new_run(*, folders: RunFolders, owner: str, request: RunRequest, teacher_image: Any = None) -> Run:
    """A run in a folder of its own (`folders` deletes old ones nobody holds); its trainers come from `start`."""
    run_id = time.strftime("%H%M%S") + "-" + uuid.uuid4().hex[:6]
    output_dir = folders.new(run_id, owner)
    return Run(run_id, owner, request, output_dir, RunLog(), RunLog() if request.baseline else None, teacher_image=teacher_image)


def run_trainers(
    run: Run,
    config: TrainConfig,
    *,
    images: torch.Tensor,
    teacher: Generator,
    teacher_source: str,
    probe: Callable[..., dict[str, float]] | None = None,
    probe_every_s: float = 10.0,
) -> tuple[Trainer, Trainer | None]:
    """The student's trainer (and the baseline's when the run has one), writing into the run's folder and logs."""
    student = new_trainer(
        config, images=images, teacher=copy.deepcopy(teacher), output_dir=run.output_dir / "student",
        on_event=run.student_log, extra_info={"teacher": teacher_source, "ui_run": run.id},
        probe=probe, probe_every_s=probe_every_s,
    )  # fmt: skip
    baseline = None
    if run.baseline_log is not None:
        baseline = new_trainer(
            config.replace(alpha=0.0, layers=()), images=images, output_dir=run.output_dir / "baseline",
            on_event=run.baseline_log, extra_info={"ui_run": run.id, "baseline": True},
            probe=probe, probe_every_s=probe_every_s,
        )  # fmt: skip

        def end_with_the_student(event, baseline=baseline) -> None:  # a failed student ends the baseline beside it
            if isinstance(event, Failed):
                baseline.stop("the student's run failed", timeout=0)

        student.add_listener(end_with_the_student)
    return student, baseline


class TrainingSlot:
    """At most one run per process, claimed under a lock and watched by a daemon thread.

    The watchdog ends a run at the wall-clock cap (pauses included) and when nobody has polled
    it for `idle_stop_s`, so a closed tab never leaves a trainer running.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.run: Run | None = None
        # each visitor's latest run, so a finished run stays theirs (to push) after others start
        # runs; as many visitors as run folders are kept on disk, the least recent forgotten
        self._latest: OrderedDict[str, Run] = OrderedDict()

    def current(self) -> Run | None:
        with self._lock:
            return self.run

    def latest_of(self, owner: str) -> Run | None:
        """The last run `owner` started, or None (also once it is forgotten: see __init__)."""
        with self._lock:
            return self._latest.get(owner)

    def busy(self) -> Run | None:
        run = self.current()
        return run if run is not None and run.alive else None

    def active(self, action: str) -> Run:
        """The run in progress, or a GanlabError saying there is nothing to `action`."""
        run = self.busy()
        if run is None:
            raise GanlabError(f"no run is training: nothing to {action}")
        return run

    def claim(
        self, build: Callable[[], Run], prepare: Callable[[Run], Prepared | None], *,
        cap_s: float, idle_s: float, grace_s: float = PREPARE_GRACE_S,
    ) -> Run:  # fmt: skip
        """Build and start a run unless one is alive; raise GanlabError saying when it ends otherwise."""
        with self._lock:
            if self.run is not None and self.run.alive:
                raise GanlabError(busy_message(self.run, cap_s))
            run = build()
            run.start(prepare)
            self.run = run
            self._latest[run.owner] = run
            self._latest.move_to_end(run.owner)
            while len(self._latest) > MAX_RUN_FOLDERS:  # each owner's latest run: as many as folders are kept
                self._latest.popitem(last=False)
        watchdog = threading.Thread(target=self._watch, args=(run, cap_s, idle_s, grace_s), name="ganlab-watchdog", daemon=True)
        watchdog.start()
        return run

    @staticmethod
    def _watch(run: Run, cap_s: float, idle_s: float, grace_s: float) -> None:
        while run.alive:
            now = time.monotonic()
            if now - run.started >= cap_s + grace_s and run.student is None:
                run.abandon(f"the run was still preparing (MNIST download?) {cap_s + grace_s:g} s after it started; try again later")
            elif now - run.started >= cap_s:
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
    return max(0.0, min(cap_s, run.request.budget_s) - elapsed)


def busy_message(run: Run, cap_s: float) -> str:
    """Why the slot is taken, for anyone but the run's owner (who holds it is never named)."""
    snapshot = run.student_log.snapshot()
    return (
        f"a run is already training (held by another visitor, step {snapshot.step}/"
        f"{snapshot.total_steps or run.request.steps}, ends within {remaining_s(run, cap_s):.0f} s): "
        "one run at a time on this machine; watch it in the Distill tab, or duplicate the Space to train your own"
    )


def not_yours_message(run: Run, action: str, cap_s: float) -> str:
    """The refusal a visitor meets when they try to pause, resume or stop someone else's run."""
    return (
        f"this run belongs to another visitor: only the visitor who started it can {action} it. "
        f"It ends within {remaining_s(run, cap_s):.0f} s; watch it here meanwhile, or duplicate the Space to train your own"
    )
