"""Seed-exact noise and sampling, shared by the trainer, the scripts and the app.

Noise is drawn on the CPU from its own torch.Generator, so a seed gives the same z on every
device and for every model: teacher and student from one seed see identical noise.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ganlab.config import LATENT_DIM, SEED
from ganlab.errors import GanlabError


def noise(n: int, seed: int, latent_dim: int = LATENT_DIM) -> torch.Tensor:
    """z ~ N(0, I) of shape (n, latent_dim), a pure function of (n, seed, latent_dim).

    Sample i depends only on the seed and i's position: the first k rows of noise(n, s) are
    noise(k, s), so a grid of 16 is the top of the grid of 64.
    """
    generator = torch.Generator().manual_seed(SEED.check(seed))
    return torch.randn(n, latent_dim, generator=generator)


# On a CPU a batch runs in chunks this size: a chunk's activations stay in cache, where a batch
# of 1,024 in one piece ran at 0.65x (student) and 0.69x (teacher) of batch 256's images/s (bf16,
# a 2-core Xeon with AMX, before chunking). scripts/bench_precision.py times each chunk size
# (docs/development.md, "How the student's layers run"). A GPU takes the batch whole.
CPU_CHUNK = 128


@torch.inference_mode()
def generate(model: nn.Module, z: torch.Tensor, precision: str = "fp32", *, chunk: int | None = None) -> torch.Tensor:
    """Images (n, 1, 28, 28) in [-1, 1] for noise z, with the model in eval mode; `precision`
    fp32, bf16 or auto (bf16 where the CPU multiplies it natively, see ganlab.precision).

    Each sample depends only on its own z (BatchNorm in eval mode), so chunks (`chunk`, default
    CPU_CHUNK on a CPU, the whole batch on a GPU) give the same images up to float rounding
    (torch picks its kernels by batch size); a batch of at most one chunk runs as it always did."""
    from ganlab.precision import inference_dtype

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    dtype = inference_dtype(precision, device)
    if chunk is not None and chunk < 1:
        raise GanlabError(f"chunk must be at least 1, got {chunk}")
    size = chunk if chunk is not None else (CPU_CHUNK if device.type == "cpu" else len(z))
    # a Generator has its folded inference path, run in that dtype
    run = (lambda part: model.infer(part, dtype=dtype)) if hasattr(model, "infer") else model
    try:
        if len(z) <= size:
            return run(z.to(device)).float().cpu()
        parts = z.split(size)
        first = run(parts[0].to(device)).float().cpu()
        images = first.new_empty((len(z), *first.shape[1:]))  # one output, filled chunk by chunk
        images[: len(first)] = first
        start = len(first)
        for part in parts[1:]:
            images[start : start + len(part)] = run(part.to(device))
            start += len(part)
        return images
    finally:
        model.train(was_training)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float (n, 1, 28, 28) in [-1, 1] -> uint8 (n, 28, 28)."""
    scaled = (images.detach().float().clamp(-1, 1) + 1) * 127.5
    return scaled.round().to(torch.uint8).squeeze(1).cpu().numpy()


# A grid is one uint8 canvas held in memory (then a PNG): 100 M pixels is 100 MB, enough for
# 100,000 digits at scale 1; 100,000 at scale 16 would be 23 GB.
MAX_GRID_PIXELS = 100_000_000


def grid_size(n: int, *, height: int = 28, width: int = 28, columns: int | None = None, scale: int = 1, padding: int = 2) -> tuple[int, int]:
    """(H, W) of the grid `grid` draws for n images, or a GanlabError past MAX_GRID_PIXELS; nothing allocated."""
    columns = columns or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / columns))
    size = ((rows * (height + padding) + padding) * scale, (columns * (width + padding) + padding) * scale)
    if size[0] * size[1] > MAX_GRID_PIXELS:
        raise GanlabError(
            f"a grid of {n} images at scale {scale} would be {size[1]:,} x {size[0]:,} pixels; "
            f"at most {MAX_GRID_PIXELS:,}: draw fewer images or use a smaller scale"
        )
    return size


def grid(images: np.ndarray, *, columns: int | None = None, scale: int = 1, padding: int = 2) -> np.ndarray:
    """uint8 (n, 28, 28) -> one uint8 (H, W) grid; nearest-neighbour upscaling keeps pixels crisp."""
    if images.ndim != 3 or images.dtype != np.uint8:
        raise GanlabError(f"grid needs uint8 images of shape (n, h, w), got {images.dtype} {images.shape}")
    n, height, width = images.shape
    grid_size(n, height=height, width=width, columns=columns, scale=scale, padding=padding)  # refuse before allocating
    from torchvision.utils import make_grid

    columns = columns or max(1, math.ceil(math.sqrt(n)))
    tiles = torch.from_numpy(images).unsqueeze(1)  # (n, 1, h, w)
    if n < columns or n == 1:
        # make_grid draws min(n, columns) columns and returns a lone image unpadded: add blank
        # tiles so the grid keeps `columns` columns and its border, as every caller expects
        tiles = torch.cat([tiles, tiles.new_zeros((max(columns, 2) - n, 1, height, width))])
    canvas = make_grid(tiles, nrow=columns, padding=padding)[0].numpy()  # make_grid repeats 1 channel to 3
    if n == 1 and columns == 1:
        canvas = canvas[: height + 2 * padding]  # the blank tile added below the lone image
    if scale > 1:
        canvas = canvas.repeat(scale, axis=0).repeat(scale, axis=1)
    return canvas


def save_png(canvas: np.ndarray, path) -> None:
    from PIL import Image

    Image.fromarray(canvas, mode="L").save(path, format="PNG")  # a path or a file object, any suffix


def interpolate(seed_a: int, seed_b: int, frames: int, latent_dim: int = LATENT_DIM) -> torch.Tensor:
    """Spherical interpolation between the noise of two seeds: (frames, latent_dim).

    Gaussian z concentrates near a sphere, so slerp keeps every frame at a typical norm,
    where a straight line would pass through low-norm, atypical noise.
    """
    a, b = noise(1, seed_a, latent_dim)[0], noise(1, seed_b, latent_dim)[0]
    cosine = torch.dot(a, b) / (a.norm() * b.norm())
    omega = torch.arccos(cosine.clamp(-1 + 1e-7, 1 - 1e-7))
    steps = torch.linspace(0, 1, frames).unsqueeze(1)
    return (torch.sin((1 - steps) * omega) * a + torch.sin(steps * omega) * b) / torch.sin(omega)
