"""Ask for a digit: keep the noise whose teacher image the evaluation classifier reads as that digit.

Rejection sampling on z. Candidates come in order from the seed's noise (candidate i is row i
of `sampling.noise(max_tries, seed)`), and a z is kept when the classifier gives the digit a
probability of at least 0.9 on the *teacher's* image of it. The kept z are returned, not
images, so the teacher and the student render identical noise and a comparison stays fair.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from ganlab.config import SEED
from ganlab.errors import GanlabError
from ganlab.sampling import generate

THRESHOLD = 0.9  # classifier probability of the digit on the teacher's image
MAX_TRIES = 300_000  # candidates examined at most: the search's bound on time
BATCH = 1024  # candidates per teacher + classifier pass; a multiple of 16 rows keeps them rows of noise()


@dataclass(frozen=True)
class DigitNoise:
    """The outcome of a digit search: the kept z and how many candidates it took."""

    digit: int
    wanted: int
    z: torch.Tensor  # (found, latent_dim), in candidate order
    tried: int  # candidates examined, up to and including the last one kept when the search completed
    timed_out: bool = False  # stopped by max_seconds before max_tries

    @property
    def found(self) -> int:
        return self.z.shape[0]

    @property
    def acceptance_rate(self) -> float:
        return self.found / self.tried if self.tried else 0.0

    @property
    def complete(self) -> bool:
        return self.found == self.wanted

    def summary(self, label: str = "") -> str:
        """One line for a user: how many were found, in how many tries, at what acceptance rate
        (`label` names the class, default "digit N")."""
        found = f"{self.found} of {self.wanted}" if self.complete else f"only {self.found} of {self.wanted}"
        cut = " before the search's time limit" if self.timed_out and not self.complete else ""
        return f"{label or f'digit {self.digit}'}: {found} found in {self.tried:,} tries{cut} (acceptance {self.acceptance_rate:.1%})"


@torch.inference_mode()
def digit_noise(
    teacher: nn.Module,
    classifier: nn.Module,
    digit: int,
    n: int,
    seed: int,
    *,
    threshold: float = THRESHOLD,
    max_tries: int = MAX_TRIES,
    max_seconds: float | None = None,
) -> DigitNoise:
    """The first n z of the seed's noise whose teacher image the classifier reads as `digit`.

    Stops after `max_tries` candidates and returns what it found (DigitNoise.summary says how
    many); the search is a pure function of its arguments, so the same call gives the same z.
    max_seconds also stops it after that much wall time (the app's bound on one visitor's share of
    the machine); a search cut by it returns the first z found, the same as a longer one would.
    """
    if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit <= 9:
        raise GanlabError(f"digit must be an integer in [0, 9], got {digit!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise GanlabError(f"n must be a positive integer, got {n!r}")
    latent_dim = teacher.latent_dim
    device = next(classifier.parameters()).device
    generator = torch.Generator().manual_seed(SEED.check(seed))  # the stream noise(n, seed) draws from
    kept: list[torch.Tensor] = []
    found = tried = 0
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    timed_out = False
    while found < n and tried < max_tries:
        if deadline is not None and time.monotonic() > deadline:
            timed_out = True
            break
        # 1. candidates: the next rows of the seed's noise, (B, latent_dim)
        z = torch.randn(min(BATCH, max_tries - tried), latent_dim, generator=generator)
        # 2. the teacher's images, read by the classifier: P(digit) for each, (B,)
        images = generate(teacher, z)  # (B, 1, 28, 28)
        probability = classifier(images.to(device)).float().softmax(dim=1)[:, digit].cpu()
        accepted = torch.nonzero(probability >= threshold).squeeze(1)[: n - found]  # indices, in order
        kept.append(z[accepted])
        found += len(accepted)
        # 3. count a completing batch only up to its last kept candidate
        tried += int(accepted[-1]) + 1 if found == n else len(z)
    z_kept = torch.cat(kept) if kept else torch.empty(0, latent_dim)
    return DigitNoise(digit=digit, wanted=n, z=z_kept, tried=tried, timed_out=timed_out)
