"""`Sampler`: the one place the Lab draws from a generator and reads digits with the classifier.

Threads: `torch.set_num_threads` acts per thread with PyTorch's OpenMP backend. Called in a
thread it sets that thread's OpenMP team size and the default that *later* threads pick up
on their first parallel op; threads that already ran an op keep their own. So the trainer
thread sets its own count (TrainConfig.num_threads) and every sampling call sets the
calling thread's count (`LabSettings.sample_threads`): neither can leak into the other.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import torch

from ganlab.datasets import DEFAULT_DATASET
from ganlab.lab.runs import TrainingSlot
from ganlab.lab.scope import current as current_dataset
from ganlab.lab.settings import DEFAULT_SAMPLES, LabSettings
from ganlab.lab.sources import LoadedModel, load_optional_classifier
from ganlab.models import Generator
from ganlab.sampling import generate, noise


class Sampler:
    """Draws images and predicts their labels with the thread count the machine's load calls for."""

    def __init__(self, settings: LabSettings, slot: TrainingSlot, classifier: torch.nn.Module | None) -> None:
        self.settings = settings
        self.slot = slot
        # per dataset: MNIST's as given (None: no labels, no digit search, no quality curve), another's on first use
        self.classifiers: dict[str, torch.nn.Module | None] = {DEFAULT_DATASET: classifier}
        self._lock = threading.Lock()

    @property
    def classifier(self) -> torch.nn.Module | None:
        """The evaluation classifier of this request's dataset (ganlab.lab.scope), or None."""
        return self.classifier_for(current_dataset())

    @classifier.setter
    def classifier(self, model: torch.nn.Module | None) -> None:
        self.classifiers[DEFAULT_DATASET] = model

    def classifier_for(self, dataset: str) -> torch.nn.Module | None:
        """`dataset`'s evaluation classifier (loaded once; None when absent: then no labels for it)."""
        with self._lock:
            if dataset not in self.classifiers:  # none for any dataset when MNIST's was turned off (tests)
                self.classifiers[dataset] = load_optional_classifier(dataset) if self.classifiers[DEFAULT_DATASET] is not None else None
            return self.classifiers[dataset]

    def threads(self) -> int:
        """GANLAB_SAMPLE_THREADS, or every core while idle and one fewer while a run trains:
        measured on 2 vCPUs with a run going, 1 sampling thread is faster than 2 (OpenMP teams
        that share a busy core spin and stall), and idle, 2 are faster than 1."""
        if self.settings.sample_threads:
            return self.settings.sample_threads
        cores = os.cpu_count() or 1
        return max(1, cores - 1) if self.slot.busy() is not None else cores

    def use_threads(self) -> None:
        count = self.threads()
        if torch.get_num_threads() != count:  # a per-thread setting, see the module doc
            torch.set_num_threads(count)

    def sample(self, model: Generator, z: torch.Tensor) -> tuple[torch.Tensor, float]:
        """(images (n, 1, 28, 28) in [-1, 1], seconds it took) for noise z (n, latent)."""
        self.use_threads()
        start = time.perf_counter()
        images = generate(model, z, self.settings.infer_precision)
        return images, time.perf_counter() - start

    def predict(self, images: torch.Tensor) -> np.ndarray | None:
        """The classifier's label of each image, or None without a classifier."""
        if self.classifier is None:
            return None
        with torch.inference_mode():
            return self.classifier(images).argmax(dim=1).numpy()

    def warm_up(self, *models: LoadedModel) -> None:
        """One throw-away pass per model at the default grid size, so the first visitor's
        "generation time" is the model's and not the first call's set-up (folding BatchNorm
        into the weights, oneDNN primitives for these shapes): cold, the teacher's first 64
        samples took 171 ms against ~20 ms warm."""
        z = noise(DEFAULT_SAMPLES, 0)
        images = [self.sample(loaded.model, z)[0] for loaded in models]
        self.predict(torch.cat(images))
