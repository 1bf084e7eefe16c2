"""Which arithmetic this machine does fast: the one place training and sampling ask.

bf16 halves the bytes moved and, on CPUs with AMX or AVX512-BF16, multiplies several times
faster than fp32. Without them torch falls back to reference kernels, slower than fp32 (measured on a
2-core AVX2 AMD EPYC: a teacher training step 12 s under bf16 autocast against 0.64 s in fp32;
the student's 128->64 transposed convolution at batch 256, 279 ms against 43 ms), so "auto"
stays fp32 there.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

import torch

from ganlab.errors import GanlabError

CHOICES = ("auto", "fp32", "bf16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@functools.cache  # the CPU does not change while the process runs
def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AMX or AVX512-BF16), read from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace").split()
    except OSError:  # not Linux: stay on the safe side
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def cpu_name() -> str:
    """The CPU's model name (figures differ ~3x between the machines this project has run on)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor() or platform.system()}"


def machine() -> str:
    """One line for a result's meta block: CPU model, logical CPUs, whether bf16 is native."""
    import os

    return f"{cpu_name()}, {os.cpu_count()} logical CPUs, {'native' if cpu_has_fast_bf16() else 'no native'} bf16"


def resolve_precision(name: str) -> str:
    """'auto' -> 'bf16' on a CPU with native bf16 arithmetic, else 'fp32'; others pass through
    (TrainConfig checks them against config.PRECISIONS)."""
    if name == "auto":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return name


def inference_dtype(name: str, device: torch.device | str = "cpu") -> torch.dtype:
    """The dtype a generator samples in: 'auto' is bf16 only on a CPU that multiplies it natively."""
    if name not in CHOICES:
        raise GanlabError(f"precision must be one of {', '.join(CHOICES)}, got {name!r:.40}")
    if name == "auto":
        return torch.bfloat16 if torch.device(device).type == "cpu" and cpu_has_fast_bf16() else torch.float32
    return DTYPES[name]
