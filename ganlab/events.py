"""What a trainer says while it runs: Started, Step, Samples, Quality, CheckpointWritten, then Finished or Failed.

The trainer only emits these; the CLI's progress bar and the UI's run log consume them
(ganlab.reporting), so both see the same stream. A run's end and its reason travel in one
event: Finished.reason says why it stopped (completed, time budget, or what stop() was told).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

COMPLETED_REASONS = ("completed", "time budget")  # a Finished with any other reason was stopped


@dataclass(frozen=True)
class Started:
    total_steps: int
    config: dict[str, Any]


@dataclass(frozen=True)
class Step:
    step: int  # steps completed
    losses: dict[str, float]  # every loss part, plus d_x and d_g_z
    elapsed: float  # seconds since the run started (pauses excluded)
    lr_generator: float


@dataclass(frozen=True)
class Samples:
    step: int
    images: np.ndarray  # uint8 (n, 28, 28) from the fixed noise batch


@dataclass(frozen=True)
class Quality:
    step: int
    values: dict[str, float]  # what the trainer's probe measured on the sampling generator
    seconds: float  # what the probe cost (part of the run's elapsed time)


@dataclass(frozen=True)
class CheckpointWritten:
    step: int
    path: str


@dataclass(frozen=True)
class Finished:
    step: int
    reason: str  # "completed", "time budget", or the reason given to Trainer.stop (default "stopped")
    elapsed: float
    losses: dict[str, float]


@dataclass(frozen=True)
class Failed:
    step: int
    error: str


Event = Started | Step | Samples | Quality | CheckpointWritten | Finished | Failed
