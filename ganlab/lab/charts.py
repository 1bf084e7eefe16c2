"""The Distill tab's charts: loss curves and the live quality curve (plotly), and the cache that keeps
the quality figure from being rebuilt on every poll."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ganlab.lab.quality import QUALITY_CURVES
from ganlab.lab.runs import Run
from ganlab.reporting import LogSnapshot


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


def smooth(values: list[float], weight: float) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing (the first points are not pulled to 0)."""
    out, average = [], 0.0
    for count, value in enumerate(values, start=1):
        average = weight * average + (1.0 - weight) * value
        out.append(average / (1.0 - weight**count) if weight else value)
    return out


LOSS_CURVES = ("adversarial", "distillation", "discriminator")
COLOURS = {"adversarial": "#1f77b4", "distillation": "#2ca02c", "discriminator": "#d62728"}


def _up_to(snapshot: LogSnapshot, name: str, last_step: int | None) -> tuple[list[int], list[float]]:
    values = snapshot.history.get(name) or []
    steps = snapshot.steps[: len(values)]
    if last_step is not None:  # the baseline runs faster (no teacher pass): show it at the student's steps only
        keep = sum(1 for step in steps if step <= last_step)
        steps, values = steps[:keep], values[:keep]
    return steps, values


def loss_figure(student: LogSnapshot, baseline: LogSnapshot | None = None, smoothing: float = 0.6):
    """Plotly loss curves on one step axis: smoothed lines over faint raw ones; a constant uirevision
    keeps the user's zoom across updates."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for label, snapshot, dash in (("", student, "solid"), ("baseline ", baseline, "dash")):
        if snapshot is None:
            continue
        for name in LOSS_CURVES:
            xs, ys = thin(*_up_to(snapshot, name, student.step if snapshot is baseline else None))
            if not ys:
                continue
            line = {"color": COLOURS[name], "dash": dash}
            if smoothing:
                figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={**line, "width": 1}, opacity=0.25, hoverinfo="skip", showlegend=False))
                ys = smooth(ys, smoothing)
            figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{label}{name}", line=line))
    title = "losses" + (f" (smoothed {smoothing:g}; faint: raw)" if smoothing else "")
    if baseline:
        title += "; dashed: no-distillation baseline, shown up to the student's step"
    figure.update_layout(
        uirevision="losses",
        modebar={"orientation": "v"},  # down the right edge: across the top it covered the title
        height=320,
        margin={"l": 40, "r": 10, "t": 30, "b": 40},
        xaxis_title="step",
        yaxis_title="loss",
        legend={"orientation": "h", "y": -0.25},
        title={"text": title, "font": {"size": 13}},
    )
    return figure


QUALITY_LABELS = {"balanced": "recognizable, ≤ 10 % per digit", "agreement": "agreement with the teacher", "fid": "FID"}
QUALITY_COLOURS = {"balanced": "#9467bd", "agreement": "#ff7f0e", "fid": "#8c564b"}
REFERENCE_DASH = {"teacher": "dot", "committed student": "dashdot"}
REFERENCE_LABEL_AT = {"teacher": "top left", "committed student": "bottom left"}  # apart, so close lines stay legible


def quality_figure(student: LogSnapshot, baseline: LogSnapshot | None, references: dict[str, dict[str, float]]):
    """The live quality curve: recognizable and agreement (left, 0-1) and FID (right) against steps,
    with the teacher's and the committed student's values as horizontal reference lines."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=("digits (higher is better)", "FID (log scale, lower is better)"))
    last_step = student.step
    fids: list[float] = []
    for label, snapshot, dash in (("", student, "solid"), ("baseline ", baseline, "dash")):
        if snapshot is None or not snapshot.quality:
            continue
        points = [(step, values) for step, values in snapshot.quality if step <= last_step or snapshot is student]
        xs = [step for step, _ in points]
        for name in QUALITY_CURVES:
            ys = [values.get(name) for _, values in points]
            fids += [y for y in ys if name == "fid" and y]
            figure.add_trace(
                go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"{label}{QUALITY_LABELS[name]}",
                           line={"color": QUALITY_COLOURS[name], "dash": dash}, marker={"size": 4}),
                row=1, col=2 if name == "fid" else 1,
            )  # fmt: skip
    span = [0, max(1, last_step)]
    for label, values in references.items():
        for name in QUALITY_CURVES:
            if name == "agreement" and label == "teacher" or name not in values:
                continue  # the teacher agrees with itself
            value = values[name]
            fids += [value] if name == "fid" and value else []
            # a two-point line in data coordinates: correct on a log axis too (a shape's y on a log
            # axis is read as an exponent, which once stretched this axis to 10^67)
            figure.add_trace(
                go.Scatter(x=span, y=[value, value], mode="lines+text", text=["", f"{label} {value:.2f}" if name != "fid" else f"{label} {value:.0f}"],
                           textposition=REFERENCE_LABEL_AT[label], textfont={"size": 10, "color": QUALITY_COLOURS[name]}, showlegend=False, hoverinfo="skip",
                           line={"color": QUALITY_COLOURS[name], "dash": REFERENCE_DASH[label], "width": 1}),
                row=1, col=2 if name == "fid" else 1,
            )  # fmt: skip
    figure.update_yaxes(range=[0, 1.02], row=1, col=1)
    figure.update_yaxes(type="log", row=1, col=2, range=fid_axis_range(fids))
    figure.update_xaxes(title_text="step")
    figure.update_layout(
        uirevision="quality", modebar={"orientation": "v"}, height=300, margin={"l": 40, "r": 10, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.3}, font={"size": 11},
    )  # fmt: skip
    return figure


def fid_axis_range(values: Sequence[float]) -> list[float] | None:
    """The FID panel's log-axis range, in decades (plotly's unit for a log axis): the data's, padded by ~25 %."""
    import math

    finite = [value for value in values if value and value > 0 and math.isfinite(value)]
    if not finite:
        return None
    return [math.log10(min(finite) / 1.25), math.log10(max(finite) * 1.25)]


class QualityFigures:
    """The live quality figure of the run on screen, rebuilt only when a quality point arrives: a
    plotly figure with subplots takes tens of ms of Python, which, polled every second, holds the
    GIL against the trainer thread (measured: 59 steps against 69 in 60 s with it rebuilt every poll)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[Any, Any] | None = None  # ((run id, what it shows), the figure)

    def figure(self, run: Run, student: LogSnapshot, baseline: LogSnapshot | None) -> Any:
        shown_baseline = sum(1 for step, _ in baseline.quality if step <= student.step) if baseline else 0
        key = (run.id, len(student.quality), shown_baseline, tuple(run.quality_references))
        with self._lock:
            if self._cached is None or self._cached[0] != key:
                self._cached = (key, quality_figure(student, baseline, run.quality_references))
            return self._cached[1]
