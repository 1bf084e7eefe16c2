"""What one UI poll shows: view dataclasses, and the markdown and plotly figures they carry."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.config import GeneratorConfig
from ganlab.datasets import DEFAULT_DATASET, get_dataset
from ganlab.lab.charts import QualityFigures, fid_axis_range, loss_figure, quality_figure, smooth, thin  # noqa: F401 (also importable from here)
from ganlab.lab.request import RunRequest
from ganlab.lab.runs import Run
from ganlab.lab.sources import LoadedModel
from ganlab.models import architecture_lines, count_parameters
from ganlab.reporting import LogSnapshot
from ganlab.sampling import grid


@dataclass
class CompareView:
    teacher_image: np.ndarray  # uint8 grid (H, W)
    student_image: np.ndarray
    info: str  # markdown
    details: dict[str, Any]


@dataclass
class RunView:
    state: str  # idle, preparing, running, paused, finished, stopped, failed
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
    phase: str = ""  # the phase line: what the run is doing now, in words
    controls: dict[str, bool] = field(default_factory=lambda: dict(IDLE_CONTROLS))  # which buttons act now
    quality_figure: Any = None  # the live quality curve (a plotly Figure), or None without one
    history_count: int = 0  # sample grids in the run's history (the slider's range)
    real_image: np.ndarray | None = None  # real MNIST digits, beside the live samples


IDLE_CONTROLS = {"start": True, "pause": False, "resume": False, "step": False, "stop": False}


@dataclass
class WalkView:
    teacher_image: np.ndarray
    student_image: np.ndarray
    info: str


ABOUT_INTRO = """\
## What this lab shows
A DCGAN **teacher** trained on {dataset} is distilled into a smaller **student**: the student is
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


def compare_markdown(details: dict[str, Any], notes: str) -> str:
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
        differ = sum(a != b for a, b in zip(details["teacher_digits"], details["student_digits"]))
        item = details.get("item", "digit")
        text += (
            f"\n\n**Teacher–student agreement** (same predicted {item}): {details['agreement']:.0%}. Under each {item}: "
            f"the classifier's reading; the {differ} where teacher and student differ are dark on a light box."
        )
    return text + ("\n\n" + notes if notes else "")


WALK_COLUMNS = 8  # at most this many frames a row of a walk strip: 8 x 84 px fits the panel, so no frame is shown under 56 px
WALK_SCALE = 3


def balanced_columns(n: int, most: int = WALK_COLUMNS) -> int:
    """Columns for n frames in rows of at most `most`, the rows as even as they can be (10 -> 5 + 5, not 8 + 2)."""
    rows = max(1, math.ceil(n / most))
    return max(1, math.ceil(n / rows))


def labelled_frames(
    images: np.ndarray, labels: Sequence[int] | None, *, columns: int | None = None, scale: int = WALK_SCALE,
    marked: Sequence[bool] | None = None,
) -> np.ndarray:  # fmt: skip
    """Frames (n, 28, 28) uint8 in rows of `columns` (default: balanced rows of at most WALK_COLUMNS),
    each scaled up with its predicted digit written under it; a `marked` frame's digit is shown
    dark on a light box (Compare marks where teacher and student read differently)."""
    from PIL import Image, ImageDraw, ImageFont

    n = len(images)
    columns = min(columns or balanced_columns(n), n)
    rows = math.ceil(n / columns)
    cell, pad = 28 * scale, 2 * scale
    band = 0 if labels is None else 9 * scale  # room for the digit under each frame
    canvas = Image.new("L", (columns * (cell + pad) + pad, rows * (cell + band + pad) + pad), 0)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=7 * scale)
    for index, image in enumerate(images):
        x = pad + (index % columns) * (cell + pad)
        y = pad + (index // columns) * (cell + band + pad)
        canvas.paste(Image.fromarray(image).resize((cell, cell), Image.NEAREST), (x, y))
        if labels is None:
            continue
        centre = (x + cell // 2, y + cell + band // 2)
        if marked is not None and marked[index]:
            draw.rectangle((x, y + cell, x + cell - 1, y + cell + band - 1), fill=230)
            draw.text(centre, str(int(labels[index])), fill=0, font=font, anchor="mm")
        else:
            draw.text(centre, str(int(labels[index])), fill=200, font=font, anchor="mm")
    return np.asarray(canvas)


def sample_grid(snapshot: LogSnapshot | None) -> np.ndarray | None:
    if snapshot is None or snapshot.samples is None:
        return None
    return grid(snapshot.samples, columns=8, scale=2)


def architecture_markdown(config: GeneratorConfig) -> str:
    """The layer list of a generator config, one stage a line."""
    return "\n".join(f"- {line}" for line in architecture_lines(config))


def about_markdown(models: Sequence[LoadedModel], metrics_path: Path, dataset: str = DEFAULT_DATASET) -> str:
    """The About tab for `dataset`: what the lab shows, each model's architecture, the metrics table when present."""
    parts = [ABOUT_INTRO.format(dataset=get_dataset(dataset).title)]
    for loaded in models:
        counts = count_parameters(loaded.model)
        parts.append(
            f"### {loaded.role.title()}: {counts['keras']:,} parameters "
            f"(with BatchNorm running statistics)\n\n{architecture_markdown(loaded.model.config)}\n\n"
            f"Loaded from `{loaded.source}`{' — ' + loaded.note if loaded.note else ''}."
        )
    parts.append(f"### Metrics ({get_dataset(dataset).title})\n\n_A wide table: on a narrow screen, scroll it sideways for every column._\n\n" + metrics_markdown(metrics_path))
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
        teacher_image, None, False, {"state": "idle"}, phase="idle: no run yet",
    )  # fmt: skip


def end_words(snapshot: LogSnapshot, request: RunRequest, *, yours: bool) -> str:
    """Why a run ended, in plain words."""
    step, elapsed, reason = snapshot.step, snapshot.elapsed, snapshot.reason
    if reason == "completed":
        return f"Finished: all {step:,} steps done in {elapsed:.0f} s."
    if reason == "time budget":
        return f"Finished: its {request.budget_s:g} s time budget ran out at step {step:,}."
    if reason.startswith("wall-clock cap"):
        return f"Stopped at step {step:,}: this app ends every run {request.cap_s:g} s after it starts, pauses included."
    if reason.startswith("nobody watched"):
        return f"Stopped at step {step:,}: {reason} (closing the tab stops a run)."
    if reason == "stopped by you":
        return f"Stopped at step {step:,} by {'you' if yours else 'the visitor who started it'}."
    return f"Stopped at step {step:,}: {reason}."


def phase_line(run: Run, state: str, snapshot: LogSnapshot, downloaded: int | None) -> str:
    """What the run is doing now, in words: preparing (with the download's progress), training, or how it ended."""
    if state == "preparing":
        seconds = time.monotonic() - run.note_since
        line = f"preparing: {run.note} ({seconds:.0f} s)"
        if downloaded is not None and run.note.startswith("downloading"):
            line = f"preparing: {run.note}: {downloaded / 1e6:.1f} MB so far ({seconds:.0f} s)"
        return line
    if state == "running":
        return "training"
    if state == "paused":
        return f"paused at step {snapshot.step:,}"
    return {"finished": "finished", "failed": "failed"}.get(state, "stopped")


def run_view(
    run: Run, *, viewer: str, teacher_image: np.ndarray, checkpoint_name: str, real_image: np.ndarray | None = None,
    smoothing: float = 0.6, downloaded: int | None = None, figures: QualityFigures | None = None,
) -> RunView:
    """What the Distill tab shows for `run` now, as `viewer` sees it."""
    student = run.student_log.snapshot()
    baseline = run.baseline_log.snapshot() if run.baseline_log is not None else None
    state = run.state(student)
    progress, progress_text = run.progress(student, state)
    yours = viewer == run.owner
    holder = "you" if yours else "another visitor"  # the owner's token is never shown to anyone
    if state in ("running", "paused", "preparing") and not yours:
        watch = " Only they can pause, step or stop it; watch it here."
    else:
        watch = ""
    message = {
        "preparing": f"Preparing the run (started by {holder}).{watch}",
        "running": f"Training (started by {holder}).{watch}",
        "paused": f"Paused at step {student.step:,} (started by {holder})"
        + (": Resume goes on; Step runs a few steps and pauses again." if yours else f".{watch}"),
        "failed": f"Failed: {student.message}",
    }.get(state) or end_words(student, run.request, yours=yours)
    checkpoint = run.output_dir / "student" / checkpoint_name
    live = state in ("preparing", "running", "paused")
    controls = {
        "start": not live,
        "pause": yours and state == "running",
        "resume": yours and state == "paused",
        "step": yours and state == "paused",
        "stop": yours and live,
    }
    probe_share = student.probe_seconds / student.elapsed if student.elapsed else 0.0
    details = {
        "state": state,
        "phase": phase_line(run, state, student, downloaded),
        "run_id": run.id,
        "yours": yours,
        "step": student.step,
        "total_steps": student.total_steps or run.request.steps,
        "elapsed_s": round(student.elapsed, 1),
        "progress": round(progress, 4),
        "settings": run.settings,
        "stop_reason": student.reason if state == "stopped" else "",
        "latest_losses": {k: round(v[-1], 4) for k, v in student.history.items() if v},
        "latest_quality": {k: round(v, 4) for k, v in student.quality[-1][1].items()} if student.quality else {},
        "quality_points": len(student.quality),
        "quality_cost": round(probe_share, 4),  # share of the run's time the quality curve took
        "history": len(student.snapshot_steps),
        "baseline_step": baseline.step if baseline else None,
        "threads_alive": run.alive,
        "controls": controls,
        "checkpoint": str(checkpoint) if checkpoint.is_file() and not run.alive else None,
    }
    quality = (figures or QualityFigures()).figure(run, student, baseline) if student.quality else None
    return RunView(
        state=state,
        message=message,
        progress=progress,
        progress_text=progress_text,
        figure=loss_figure(student, baseline, smoothing) if student.steps else None,
        student_image=sample_grid(student),
        baseline_image=sample_grid(baseline) if baseline else None,
        teacher_image=teacher_image,
        checkpoint=details["checkpoint"],
        active=state in ("preparing", "running", "paused"),  # from the same reading as the state: a run read as running is polled again
        details=details,
        phase=details["phase"],
        controls=controls,
        quality_figure=quality,
        history_count=details["history"],
        real_image=real_image,
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
