"""`Sampler`: the one place the Lab draws from a generator and reads digits with the classifier.

Threads: `torch.set_num_threads` acts per thread with PyTorch's OpenMP backend, so the trainer
thread sets its own count (TrainConfig.num_threads) and the sampler sets its own
(`LabSettings.sample_threads`): neither can leak into the other. Where the sampler's work runs
matters too: libgomp (PyTorch's OpenMP) keeps a team of worker threads for every thread that
has run a parallel op on more than one thread, for as long as that thread lives, and once those
workers and the process's first thread outnumber the CPUs it lets a waiting thread spin ~100
times instead of ~300,000 before it sleeps, so every team wakes from a sleep at each op. Measured
on a 2-core Xeon, the app's default training step in a background thread: 71.6 ms alone, 93.7
ms once the main thread had run one 2-thread op (`python scripts/bench_threads.py`). So sampling
on more than one thread runs in the sampler's own thread, the one team besides a run's, which a
starting run retires; during a run sampling gets the cores the trainer leaves (on 2 cores: one
thread, inline, no team), and Gradio's handler threads run on one thread (ganlab.ui.common.guarded).
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import torch

from ganlab.datasets import DEFAULT_DATASET
from ganlab.lab.runs import TrainingSlot
from ganlab.lab.scope import current as current_dataset
from ganlab.lab.settings import DEFAULT_SAMPLES, LabSettings
from ganlab.lab.sources import LoadedModel, load_optional_classifier
from ganlab.models import Generator
from ganlab.sampling import generate, noise

T = TypeVar("T")


class Sampler:
    """Draws images and predicts their labels with the thread count the machine's load calls for."""

    def __init__(self, settings: LabSettings, slot: TrainingSlot, classifier: torch.nn.Module | None) -> None:
        self.settings = settings
        self.slot = slot
        # per dataset: MNIST's as given (None: no labels, no digit search, no quality curve), another's on first use
        self.classifiers: dict[str, torch.nn.Module | None] = {DEFAULT_DATASET: classifier}
        self._lock = threading.Lock()
        self._worker: ThreadPoolExecutor | None = None  # the one thread that samples with several (see the module doc)
        self._worker_lock = threading.Lock()
        self._in_worker = threading.local()

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
        """GANLAB_SAMPLE_THREADS, or every core while idle and the cores the trainer leaves while a
        run trains (at least one): measured on 2 vCPUs with a run going, 1 sampling thread is faster
        than 2 (OpenMP teams that share a busy core stall), and idle, 2 are faster than 1."""
        if self.settings.sample_threads:
            return self.settings.sample_threads
        cores = usable_cores()
        return max(1, cores - self.settings.train_threads) if self.slot.busy() is not None else cores

    def run(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """work(*args, **kwargs) at `threads()`: one thread inline (no OpenMP team), more in the
        sampler's own thread (the process's one team beside a run's; see the module doc)."""
        if getattr(self._in_worker, "active", False):  # already in the sampler's thread: go on there
            return work(*args, **kwargs)
        with self._worker_lock:  # read and submitted under the lock: a run claims the slot, then retire() takes it
            count = self.threads()
            if count > 1:
                if self._worker is None:
                    self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ganlab-sampler")
                future = self._worker.submit(contextvars.copy_context().run, self._in_own_thread, count, work, args, kwargs)
        if count > 1:
            return future.result()
        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)
        return work(*args, **kwargs)

    def _in_own_thread(self, count: int, work: Callable[..., T], args: tuple, kwargs: dict) -> T:
        self._in_worker.active = True
        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
        return work(*args, **kwargs)

    def retire(self) -> None:
        """A run is starting: the sampler's own thread ends once its queued work is done, and its
        OpenMP team with it (sampling during the run is single-threaded and inline)."""
        with self._worker_lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=False)

    def sample(self, model: Generator, z: torch.Tensor) -> tuple[torch.Tensor, float]:
        """(images (n, 1, 28, 28) in [-1, 1], seconds it took) for noise z (n, latent)."""
        return self.run(self._timed, model, z)

    def _timed(self, model: Generator, z: torch.Tensor) -> tuple[torch.Tensor, float]:
        start = time.perf_counter()
        images = generate(model, z, self.settings.infer_precision)
        return images, time.perf_counter() - start

    def predict(self, images: torch.Tensor) -> np.ndarray | None:
        """The classifier's label of each image, or None without a classifier."""
        classifier = self.classifier  # this request's dataset's, read in the request's thread (its context)
        if classifier is None:
            return None
        return self.run(_labels, classifier, images)

    def warm_up(self, *models: LoadedModel) -> None:
        """One throw-away pass per model at the default grid size, so the first visitor's
        "generation time" is the model's and not the first call's set-up (folding BatchNorm
        into the weights, oneDNN primitives for these shapes): cold, the teacher's first 64
        samples took 171 ms against ~20 ms warm."""
        z = noise(DEFAULT_SAMPLES, 0)
        images = [self.sample(loaded.model, z)[0] for loaded in models]
        self.predict(torch.cat(images))


@torch.inference_mode()
def _labels(classifier: torch.nn.Module, images: torch.Tensor) -> np.ndarray:
    return classifier(images).argmax(dim=1).numpy()


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask, as libgomp counts them), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1
