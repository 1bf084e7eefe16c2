"""Fair speed comparisons: interleaved repeats, medians, MACs from torch's flop counter.

Timing A fully and then B lets a thermal change or a background job favour one of them;
alternating A, B, B, A, A, B ... spreads any drift over both. Medians ignore outliers.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn


def interleaved_medians(
    tasks: dict[str, Callable[[], object]], *, repeats: int = 7, min_seconds: float = 0.25, warmup: int = 2
) -> dict[str, dict[str, float]]:
    """Median seconds per call of each task, timed in alternating order.

    Each task is first run `warmup` times, then calibrated so one timed loop lasts about
    `min_seconds`; each repeat times one loop of every task, reversing the order every
    other repeat. Returns {name: {"median_s", "min_s", "max_s", "calls_per_loop", "repeats"}}.
    """
    if not tasks or repeats < 1:
        raise ValueError("need at least one task and one repeat")
    calls = {}
    for name, task in tasks.items():
        for _ in range(warmup):
            task()
        start = time.perf_counter()
        task()
        once = max(time.perf_counter() - start, 1e-6)
        calls[name] = max(1, int(min_seconds / once))
    samples: dict[str, list[float]] = {name: [] for name in tasks}
    names = list(tasks)
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else reversed(names):
            task, count = tasks[name], calls[name]
            start = time.perf_counter()
            for _ in range(count):
                task()
            samples[name].append((time.perf_counter() - start) / count)
    return {
        name: {
            "median_s": statistics.median(values),
            "min_s": min(values),
            "max_s": max(values),
            "calls_per_loop": calls[name],
            "repeats": repeats,
        }
        for name, values in samples.items()
    }


def macs_per_image(model: nn.Module, example: torch.Tensor) -> float:
    """Multiply-accumulates of one forward pass per input row, from torch.utils.flop_counter."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    # Gradients on: count the architecture's own layers. Without gradients the generators run
    # a folded form (BN merged into weights, the output stage as matmul + fold) whose flop count
    # torch attributes differently; the MACs reported are the design's, not that implementation's.
    with torch.enable_grad(), counter:
        model(example)
    model.train(was_training)
    return counter.get_total_flops() / 2 / example.shape[0]  # a MAC is two flops


def file_size(path: str | os.PathLike) -> int:
    """Bytes of a checkpoint: its model.safetensors (folder) or the file itself."""
    path = Path(path)
    weights = path / "model.safetensors" if path.is_dir() else path
    return weights.stat().st_size
