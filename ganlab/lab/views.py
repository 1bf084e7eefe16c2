"""What one UI poll shows: view dataclasses, and the markdown and plotly figures they carry."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.config import GeneratorConfig
from ganlab.lab.runs import Run
from ganlab.lab.sources import LoadedModel
from ganlab.models import architecture_lines, count_parameters
from ganlab.sampling import grid


@dataclass
class CompareView:
    teacher_image: np.ndarray  # uint8 grid (H, W)
    student_image: np.ndarray
    info: str  # markdown
    details: dict[str, Any]


@dataclass
class RunView:
    state: str  # idle, running, paused, finished, stopped, failed
    message: str  # one line for people
    progress: float  # 0..1
    progress_text: str
    figure: Any  # a plotly Figure, or None before any run
    student_image: np.ndarray | None
    baseline_image: np.ndarray | None
    teacher_image: np.ndarray | None
    checkpoint: str | None  # the run's student model.safetensors once written
    active: bool  # whether the UI should keep polling
    details: dict[str, Any]


@dataclass
class WalkView:
    teacher_image: np.ndarray
    student_image: np.ndarray
    info: str


ABOUT_INTRO = """\
## What this lab shows
A DCGAN **teacher** trained on MNIST is distilled into a smaller **student**: the student is
trained against a discriminator *and* to match the teacher's intermediate feature maps on the
same noise z. Generator loss = (1 − α)·adversarial + α·distillation (mean feature MSE over the
chosen layers). Compare feeds both the same z; Distill from scratch trains a student live
(optionally next to a no-distillation baseline, α = 0); Latent walk moves both along one path.
"""


def scale_for(columns: int) -> int:
    """Nearest-neighbour scale (at least 2, so PNGs stay crisp when saved) for a grid ~500 px wide."""
    width = columns * 30 + 2
    return max(2, min(4, round(480 / width)))


def describe(loaded: LoadedModel, seconds: float) -> dict[str, Any]:
    return {
        "label": loaded.label,
        "parameters": loaded.parameters,
        "size_bytes": loaded.size_bytes,
        "generation_ms": round(seconds * 1000, 2),
        "source": loaded.source,
        "trained": loaded.trained,
    }


def digits_block(labels: Sequence[int], columns: int) -> str:
    rows = [" ".join(str(d) for d in labels[i : i + columns]) for i in range(0, len(labels), columns)]
    return "```\n" + "\n".join(rows) + "\n```"


def compare_markdown(details: dict[str, Any], columns: int, notes: str) -> str:
    teacher, student = details["teacher"], details["student"]
    n = details["n"]
    lines = [
        f"| seed {details['seed']}, {n} samples | {teacher['label']} | {student['label']} |",
        "|---|---:|---:|",
        f"| parameters | {teacher['parameters']:,} | {student['parameters']:,} |",
        f"| size on disk | {teacher['size_bytes'] / 1e6:.2f} MB | {student['size_bytes'] / 1e6:.2f} MB |",
        f"| generation time ({n}) | {teacher['generation_ms']:.1f} ms | {student['generation_ms']:.1f} ms |",
    ]
    text = "\n".join(lines)
    if "digit" in details:  # the teacher's images were chosen by the classifier: say how hard that was
        text = f"**{details['digit']['summary']}**; teacher and student render the same kept z.\n\n" + text
    if "agreement" in details:
        text += (
            f"\n\n**Teacher–student agreement** (same predicted digit): {details['agreement']:.0%}\n\n"
            f"Teacher digits:\n{digits_block(details['teacher_digits'], columns)}\n"
            f"Student digits:\n{digits_block(details['student_digits'], columns)}"
        )
    return text + ("\n\n" + notes if notes else "")


def sample_grid(snapshot: dict[str, Any] | None) -> np.ndarray | None:
    if snapshot is None or snapshot["samples"] is None:
        return None
    return grid(snapshot["samples"], columns=8, scale=2)


def thin(steps: list[int], values: list[float], max_points: int = 400) -> tuple[list[int], list[float]]:
    """Bucket means, so a 5,000-step curve stays a few hundred points (and is smoothed a little)."""
    if len(values) <= max_points:
        return steps, values
    size = math.ceil(len(values) / max_points)
    xs, ys = [], []
    for start in range(0, len(values), size):
        xs.append(steps[min(start + size, len(steps)) - 1])
        ys.append(float(np.mean(values[start : start + size])))
    return xs, ys


LOSS_CURVES = ("adversarial", "distillation", "discriminator")
COLOURS = {"adversarial": "#1f77b4", "distillation": "#2ca02c", "discriminator": "#d62728"}


def loss_figure(student: dict[str, Any], baseline: dict[str, Any] | None = None):
    """Plotly loss curves; a constant uirevision keeps the user's zoom across updates."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for label, snapshot, dash in (("", student, "solid"), ("baseline ", baseline, "dash")):
        if snapshot is None:
            continue
        for name in LOSS_CURVES:
            values = snapshot["history"].get(name)
            if not values:
                continue
            xs, ys = thin(snapshot["steps"][: len(values)], values)
            figure.add_trace(
                go.Scatter(x=xs, y=ys, mode="lines", name=f"{label}{name}", line={"color": COLOURS[name], "dash": dash})
            )
    figure.update_layout(
        uirevision="losses",
        height=320,
        margin={"l": 40, "r": 10, "t": 30, "b": 40},
        xaxis_title="step",
        yaxis_title="loss",
        legend={"orientation": "h", "y": -0.25},
        title={"text": "losses (dashed: no-distillation baseline)" if baseline else "losses", "font": {"size": 13}},
    )
    return figure


def architecture_markdown(config: GeneratorConfig) -> str:
    """The layer list of a generator config, one stage a line."""
    return "\n".join(f"- {line}" for line in architecture_lines(config))


def about_markdown(models: Sequence[LoadedModel], metrics_path: Path) -> str:
    """The About tab: what the lab shows, each model's architecture, the metrics table when present."""
    parts = [ABOUT_INTRO]
    for loaded in models:
        counts = count_parameters(loaded.model)
        parts.append(
            f"### {loaded.role.title()}: {counts['keras']:,} parameters "
            f"(with BatchNorm running statistics)\n\n{architecture_markdown(loaded.model.config)}\n\n"
            f"Loaded from `{loaded.source}`{' — ' + loaded.note if loaded.note else ''}."
        )
    parts.append("### Metrics\n\n" + metrics_markdown(metrics_path))
    return "\n\n".join(parts)


def model_notes(models: Sequence[LoadedModel]) -> str:
    """Markdown warning lines for any model that is untrained (empty when all are trained)."""
    lines = []
    for loaded in models:
        if not loaded.trained:
            lines.append(f"⚠️ **{loaded.role} is untrained**: {loaded.note}. Its samples are noise.")
        elif loaded.note:
            lines.append(f"ℹ️ {loaded.role} from {loaded.source} ({loaded.note})")
    return "\n\n".join(lines)


def idle_view(teacher_image: np.ndarray) -> RunView:
    return RunView(
        "idle", "No run yet: choose settings and press Start.", 0.0, "", None, None, None,
        teacher_image, None, False, {"state": "idle"},
    )  # fmt: skip


def run_view(run: Run, *, viewer: str, teacher_image: np.ndarray, checkpoint_name: str) -> RunView:
    """What the Distill tab shows for `run` now, as `viewer` sees it."""
    student = run.student_log.snapshot()
    baseline = run.baseline_log.snapshot() if run.baseline_log is not None else None
    state = run.state(student)
    progress, progress_text = run.progress(student)
    yours = viewer == run.owner
    holder = "you" if yours else "another visitor"  # the owner's token is never shown to anyone
    message = {
        "running": f"Training (started by {holder}).",
        "paused": f"Paused (started by {holder}); the slot is freed at the wall-clock cap.",
        "failed": f"Failed: {student['message']}",
    }.get(state, f"Done: {student['message']}.")
    checkpoint = run.output_dir / "student" / checkpoint_name
    details = {
        "state": state,
        "run_id": run.id,
        "yours": yours,
        "step": student["step"],
        "total_steps": student["total_steps"] or run.settings["steps"],
        "elapsed_s": round(student["elapsed"], 1),
        "progress": round(progress, 4),
        "settings": run.settings,
        "stop_reason": student["reason"] if state == "stopped" else "",
        "latest_losses": {k: round(v[-1], 4) for k, v in student["history"].items() if v},
        "baseline_step": baseline["step"] if baseline else None,
        "threads_alive": run.alive,
        "checkpoint": str(checkpoint) if checkpoint.is_file() and not run.alive else None,
    }
    return RunView(
        state=state,
        message=message,
        progress=progress,
        progress_text=progress_text,
        figure=loss_figure(student, baseline),
        student_image=sample_grid(student),
        baseline_image=sample_grid(baseline) if baseline else None,
        teacher_image=teacher_image,
        checkpoint=details["checkpoint"],
        active=run.alive,
        details=details,
    )


def metrics_markdown(path: Path) -> str:
    """checkpoints/metrics.json as a markdown table (a dict of rows or a list of rows)."""
    if not path.is_file():
        return f"_No metrics yet (`{path.name}` is written by the evaluation script)._"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return f"_`{path.name}` is unreadable: {error}_"
    if isinstance(data, dict) and {"meta", "floor", "models"} <= data.keys():
        from ganlab.report import checks_list, metrics_table

        try:  # the file scripts/evaluate.py writes: the README's own table and targets
            return metrics_table(data) + "\n\n" + checks_list(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # hand-edited or from another version: fall back to the generic table below
    if isinstance(data, dict) and isinstance(data.get("models"), (dict, list)):
        data = data["models"]
    if isinstance(data, dict):
        rows = [{"model": name, **row} if isinstance(row, dict) else {"model": name, "value": row} for name, row in data.items()]
    elif isinstance(data, list):
        rows = [row for row in data if isinstance(row, dict)]
    else:
        rows = []
    if not rows:
        return f"```json\n{json.dumps(data, indent=2)[:2000]}\n```"
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns and not isinstance(row[key], (dict, list))]

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else str(value)

    header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)
    return header + "\n" + "\n".join("| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows)
