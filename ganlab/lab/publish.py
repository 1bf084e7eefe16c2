"""Pushing a UI run's student to the Hub: whose run it is, whether it has ended, what its card reports.

The push itself is ganlab.hub.publish, the same as scripts/push_to_hub.py's: the same model card
(role, recipe from the run's training.json, metrics, a sample grid), the same files.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ganlab.checkpoints import WEIGHTS_NAME
from ganlab.errors import GanlabError
from ganlab.lab.runs import Run

NOT_LOGGED_IN = (
    "not logged in to the Hugging Face Hub: on the Space, press 'Sign in with Hugging Face' above; "
    "run locally, run `hf auth login` (or start the app with HF_TOKEN set to a token with write access)"
)


def finished_student(run: Run | None, viewer: str) -> Path:
    """The student checkpoint folder of `run` if `viewer` started it and it has ended; else a GanlabError why not.

    Only the visitor who started a run may publish it, like pausing or stopping it (ganlab.lab.runs).
    """
    if run is None:
        raise GanlabError("no run of yours yet: start one in this tab, then push its student once it has finished")
    if viewer != run.owner:
        raise GanlabError("this run belongs to another visitor: only the visitor who started it can push its student")
    if run.alive:
        raise GanlabError("your run is still training: push its student once it has ended (or stop it first)")
    if not run.output_dir.is_dir():
        raise GanlabError("your run's files were cleared to make room for newer runs; start a new run and push that one")
    folder = run.output_dir / "student"
    if not (folder / WEIGHTS_NAME).is_file():
        raise GanlabError("your run ended before it saved a student checkpoint; start a new run and push that one")
    return folder


def card_kind(run: Run) -> str:
    """The card's role: a run with α = 0 trained no distillation, so it is a baseline, not a student."""
    return "student" if run.request.distills else "baseline"


def run_metrics(run: Run) -> dict[str, Any]:
    """What the run itself measured, for its card: steps, time, how it ended, its last losses.

    All under "training": these are not evaluation results (scripts/evaluate.py's FID on 10,000
    samples), so the card lists them but does not declare them as model-index results.
    """
    snapshot = run.student_log.snapshot()
    measured: dict[str, Any] = {
        "steps": snapshot.step,
        "wall_time_s": round(snapshot.elapsed, 1),
        "ended": snapshot.reason or snapshot.status,
    }
    last_losses = {name: values[-1] for name, values in snapshot.history.items() if values and math.isfinite(values[-1])}
    if last_losses:
        measured["final_losses"] = {name: round(value, 5) for name, value in last_losses.items()}
    quality = snapshot.quality  # the live quality probe's points, when the run had one: [(step, values)]
    if quality:
        step, values = quality[-1]
        measured[f"quality_probe_at_step_{step}"] = {name: value for name, value in values.items() if math.isfinite(value)}
    return {"training": measured}
