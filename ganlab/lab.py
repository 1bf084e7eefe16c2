"""The app's logic behind one facade: `Lab` methods mirror the UI's inputs exactly.

app.py only wires Gradio components to these methods, so tests call the same functions the
buttons do. Training uses the core trainer in its daemon thread; one process holds at most
one run at a time (`SLOT`), because a Hugging Face Space has two vCPUs.

Threads: `torch.set_num_threads` acts per thread with PyTorch's OpenMP backend. Called in a
thread it sets that thread's OpenMP team size and the default that *later* threads pick up
on their first parallel op; threads that already ran an op keep their own. So the trainer
thread sets its own count (TrainConfig.num_threads) and every sampling call sets the
calling thread's count (`LabSettings.sample_threads`): neither can leak into the other.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlab.checkpoints import BUNDLED, REPO_ROOT, WEIGHTS_NAME, display_path, load_checkpoint, read_training_info
from ganlab.config import DISTILL_LAYERS, PRECISIONS, GeneratorConfig, TrainConfig
from ganlab.errors import GanlabError
from ganlab.events import RunLog
from ganlab.models import Generator, count_parameters, generator_stages
from ganlab.sampling import MAX_SEED, check_seed, generate, grid, interpolate, noise, to_uint8
from ganlab.trainer import FIXED_NOISE_SEED, Trainer, new_trainer, resolve_precision

METRICS_PATH = REPO_ROOT / "checkpoints" / "metrics.json"
STUDENT_CHOICES = ("bundled student", "last run's student", "last run's baseline", "bundled student, original loss (α 0.5)")
DEFAULT_SAMPLES = 64  # the Compare grid's default size (8 x 8)
SAMPLE_EVERY = 20  # steps between the live sample grids of a UI run
CHECKPOINT_EVERY = 500  # steps between a UI run's checkpoints: a diverged or crashed run keeps the last good one


# ---- settings: every GANLAB_* variable the app reads, in one place ---------------------------
@dataclass(frozen=True)
class LabSettings:
    """Caps and locations; `from_env` documents each GANLAB_* variable and its default."""

    max_samples: int = 256  # GANLAB_MAX_SAMPLES: samples per model per Compare request
    max_frames: int = 32  # GANLAB_MAX_FRAMES: latent-walk frames
    max_steps: int = 20_000  # GANLAB_MAX_STEPS: steps of one UI run
    max_batch_size: int = 512  # GANLAB_MAX_BATCH: batch size of one UI run
    run_cap_s: float = 600.0  # GANLAB_RUN_CAP_S: wall-clock cap of one run, pauses included
    idle_stop_s: float = 120.0  # GANLAB_RUN_IDLE_S: stop a run nobody has polled for this long
    train_threads: int = 1  # GANLAB_TRAIN_THREADS: torch threads of the trainer thread(s)
    train_precision: str = "auto"  # GANLAB_TRAIN_PRECISION: fp32, bf16 or auto (bf16 where the CPU has AMX / AVX512-BF16)
    sample_threads: int = 0  # GANLAB_SAMPLE_THREADS: torch threads of each sampling request (0: every core, one fewer while a run trains)
    train_images: int = 0  # GANLAB_TRAIN_IMAGES: first N MNIST images for UI runs (0: all 60,000)
    data_source: str = "mnist"  # GANLAB_TRAIN_DATA: "mnist" or "synthetic"
    runs_dir: str = ""  # GANLAB_RUNS_DIR: where UI runs write checkpoints (default: a temp folder)
    teacher: str = ""  # GANLAB_TEACHER: teacher checkpoint folder (default checkpoints/teacher)
    student: str = ""  # GANLAB_STUDENT: student checkpoint folder (default checkpoints/student)
    teacher_repo: str = ""  # GANLAB_TEACHER_REPO: Hub repo of the default teacher (bundled folder if unreachable)
    student_repo: str = ""  # GANLAB_STUDENT_REPO: Hub repo of the default student (bundled folder if unreachable)
    teacher_revision: str = ""  # GANLAB_TEACHER_REVISION: branch, tag or commit of that repo
    student_revision: str = ""  # GANLAB_STUDENT_REVISION

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> LabSettings:
        environ = dict(os.environ if environ is None else environ)
        names = {
            "max_samples": ("GANLAB_MAX_SAMPLES", int),
            "max_frames": ("GANLAB_MAX_FRAMES", int),
            "max_steps": ("GANLAB_MAX_STEPS", int),
            "max_batch_size": ("GANLAB_MAX_BATCH", int),
            "run_cap_s": ("GANLAB_RUN_CAP_S", float),
            "idle_stop_s": ("GANLAB_RUN_IDLE_S", float),
            "train_threads": ("GANLAB_TRAIN_THREADS", int),
            "train_precision": ("GANLAB_TRAIN_PRECISION", str),
            "sample_threads": ("GANLAB_SAMPLE_THREADS", int),
            "train_images": ("GANLAB_TRAIN_IMAGES", int),
            "data_source": ("GANLAB_TRAIN_DATA", str),
            "runs_dir": ("GANLAB_RUNS_DIR", str),
            "teacher": ("GANLAB_TEACHER", str),
            "student": ("GANLAB_STUDENT", str),
            "teacher_repo": ("GANLAB_TEACHER_REPO", str),
            "student_repo": ("GANLAB_STUDENT_REPO", str),
            "teacher_revision": ("GANLAB_TEACHER_REVISION", str),
            "student_revision": ("GANLAB_STUDENT_REVISION", str),
        }
        values: dict[str, Any] = {}
        for attribute, (variable, kind) in names.items():
            text = environ.get(variable, "").strip()
            if not text:
                continue
            try:
                values[attribute] = kind(text)
            except ValueError:
                raise GanlabError(f"{variable} must be a{'n integer' if kind is int else ' number'}, got {text!r}") from None
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        for name in ("max_samples", "max_frames", "max_steps", "max_batch_size", "train_threads"):
            if getattr(self, name) < 1:
                raise GanlabError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.sample_threads < 0:
            raise GanlabError(f"sample_threads must be 0 (automatic) or more, got {self.sample_threads}")
        # NaN compares false with everything: a NaN cap would never fire and would refuse every run
        for name, variable in (("run_cap_s", "GANLAB_RUN_CAP_S"), ("idle_stop_s", "GANLAB_RUN_IDLE_S")):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise GanlabError(f"{variable} ({name}) must be a positive number of seconds, got {value!r}")
        if self.data_source not in ("mnist", "synthetic"):
            raise GanlabError(f"GANLAB_TRAIN_DATA must be 'mnist' or 'synthetic', got {self.data_source!r}")
        if self.train_precision not in ("auto", *PRECISIONS):
            choices = ", ".join(repr(name) for name in PRECISIONS)
            raise GanlabError(f"GANLAB_TRAIN_PRECISION must be {choices} or 'auto', got {self.train_precision!r}")


# ---- training recipes --------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipe:
    label: str
    alpha: float
    layers: tuple[str, ...]
    lr_generator: float
    lr_discriminator: float
    ema_decay: float = 0.0  # sample and save an exponential moving average of G's weights; 0: off


# Measured at the default 120 s (one training thread, bf16, ~510 steps; FID over 2 x 10k samples):
# α 0.9 on 14x14 + pixels gave FID 131; adding the 7x7 pair 121; sampling an EMA of the weights
# (decay 0.99, ~100 steps of memory: short enough for a 500-step run) 114, label agreement 0.84.
FAST = Recipe("fast (α 0.9, 7x7 + 14x14 + pixels, lr 1e-3, EMA 0.99)", 0.9, ("7x7", "14x14", "pixels"), 1e-3, 2e-4, 0.99)
ORIGINAL = Recipe("original (α 0.5, 14x14, lr 2e-4)", 0.5, ("14x14",), 2e-4, 2e-4)
RECIPES = {recipe.label: recipe for recipe in (FAST, ORIGINAL)}


@dataclass(frozen=True)
class RunDefaults:
    """The settings `start_run` uses when called without arguments (the UI's initial values)."""

    steps: int = 5000
    time_budget_s: float = 120.0
    batch_size: int = 128
    lr_generator: float = FAST.lr_generator
    lr_discriminator: float = FAST.lr_discriminator
    alpha: float = FAST.alpha
    layers: tuple[str, ...] = FAST.layers
    seed: int = 0
    baseline: bool = False
    ema_decay: float = FAST.ema_decay


RUN_DEFAULTS = RunDefaults()


# ---- input checks: accept what a UI or an API client sends, refuse with a clear message ----
def _shown(value: Any, limit: int = 60) -> str:
    """repr(value), cut short: a 5,000-digit "number" must not become a 5,000-character message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _as_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:  # also a string of more than 4,300 digits
            pass
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise GanlabError(f"{name} must be an integer in [{low}, {high}], got {_shown(value)}")
    return value


def _as_float(name: str, value: Any, low: float, high: float, *, open_low: bool = False) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            pass
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low < value if open_low else low <= value) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise GanlabError(f"{name} must be a number in {bracket}{low:g}, {high:g}], got {_shown(value)}")
    return float(value)


def _as_seed(name: str, value: Any) -> int:
    return check_seed(_as_int(name, value, 0, MAX_SEED))


def _as_bool(name: str, value: Any) -> bool:
    # a checkbox sends true/false; None is an unticked box from a client that left it out
    if value is None or isinstance(value, bool):
        return bool(value)
    raise GanlabError(f"{name} must be true or false, got {_shown(value)}")


def _as_layers(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
        raise GanlabError(f"layers must be a list of layer names ({', '.join(DISTILL_LAYERS)}), got {_shown(value)}")
    layers = tuple(value)
    for layer in layers:
        if layer not in DISTILL_LAYERS:
            raise GanlabError(f"unknown distilled layer {_shown(layer)}: choose from {', '.join(DISTILL_LAYERS)}")
    # keep the canonical order, so ("pixels", "14x14") and ("14x14", "pixels") are one run
    return tuple(layer for layer in DISTILL_LAYERS if layer in layers)


def _use_threads(count: int) -> None:
    """Give the calling thread `count` torch threads (a per-thread setting, see the module doc)."""
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)


# ---- models --------------------------------------------------------------------------------------
@dataclass
class LoadedModel:
    """A generator plus what the UI says about it."""

    role: str  # "teacher" or "student"
    model: Generator
    trained: bool
    source: str  # a folder, a Hub repo, or "untrained"
    note: str = ""  # why it is untrained, when it is
    size_bytes: int = 0

    @property
    def parameters(self) -> int:
        return count_parameters(self.model)["keras"]

    @property
    def label(self) -> str:
        return self.role if self.trained else f"{self.role} (untrained)"


def _safetensors_size(model: Generator) -> int:
    from safetensors.torch import save

    return len(save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}))


def _load_from_folder(role: str, folder: Path) -> LoadedModel:
    model = load_checkpoint(folder, expect="generator")
    weights = folder / WEIGHTS_NAME if folder.is_dir() else folder
    return LoadedModel(role, model, True, display_path(folder), size_bytes=weights.stat().st_size)


def _load_from_hub(role: str, repo: str, revision: str | None = None) -> LoadedModel:
    from ganlab.hub import load_generator

    model = load_generator(repo, revision or None).eval()
    where = f"hub:{repo}" + (f"@{revision}" if revision else "")
    return LoadedModel(role, model, True, where, size_bytes=_safetensors_size(model))


def load_model(
    role: str, *, path: str | os.PathLike | None = None, repo: str = "", revision: str = ""
) -> LoadedModel:
    """The teacher or student for Compare: an explicit folder, else the Hub repo, else the bundled one.

    Never raises: a missing or broken checkpoint gives an untrained model whose `note` says why,
    so the app still starts.
    """
    fresh = GeneratorConfig.teacher() if role == "teacher" else GeneratorConfig.student()
    attempts: list[str] = []
    sources: list[tuple[str, Callable[[], LoadedModel]]] = []
    if path:
        sources.append((str(path), lambda: _load_from_folder(role, Path(path))))
    else:
        # a Space points at newer weights through the environment; offline, the bundled ones serve
        if repo:
            sources.append((repo, lambda: _load_from_hub(role, repo, revision)))
        bundled = BUNDLED[role]
        if (bundled / WEIGHTS_NAME).is_file():
            sources.append((str(bundled), lambda: _load_from_folder(role, bundled)))
        else:
            attempts.append(f"{bundled.relative_to(REPO_ROOT)} has no {WEIGHTS_NAME}")
    for where, load in sources:
        try:
            loaded = load()
            loaded.note = "; ".join(attempts)  # why an earlier source was passed over, if one was
            return loaded
        except Exception as error:  # a bad file, no network, no hub module: the app must still start
            attempts.append(f"{where}: {error}")
    model = Generator(fresh).eval()
    from ganlab.models import init_weights

    init_weights(model, torch.Generator().manual_seed(0))
    note = "; ".join(attempts) or "no checkpoint configured"
    return LoadedModel(role, model, False, "untrained", note=note, size_bytes=_safetensors_size(model))


def load_generators(settings: LabSettings) -> tuple[LoadedModel, LoadedModel]:
    """(teacher, student) for Compare, from the settings' paths, the bundled folders or the Hub."""
    teacher = load_model("teacher", path=settings.teacher or None, repo=settings.teacher_repo, revision=settings.teacher_revision)
    student = load_model("student", path=settings.student or None, repo=settings.student_repo, revision=settings.student_revision)
    return teacher, student


def load_optional_classifier() -> torch.nn.Module | None:
    """The evaluation classifier when its module and checkpoint exist, else None."""
    try:
        from ganlab.classifier import load_classifier

        return load_classifier().eval()
    except Exception:  # absent or unreadable: Compare simply shows no predicted digits
        return None


# ---- the training slot ------------------------------------------------------------------------
@dataclass
class Run:
    """One UI run: the distilled student, optionally a no-distillation baseline beside it."""

    id: str
    owner: str
    settings: dict[str, Any]
    output_dir: Path
    student: Trainer
    student_log: RunLog
    baseline: Trainer | None = None
    baseline_log: RunLog | None = None
    started: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    last_polled: float = field(default_factory=time.monotonic)
    stop_reason: str = ""

    @property
    def trainers(self) -> list[Trainer]:
        return [t for t in (self.student, self.baseline) if t is not None]

    @property
    def alive(self) -> bool:
        return any(t.alive for t in self.trainers)

    @property
    def paused(self) -> bool:
        return self.student.paused

    def start(self) -> None:
        for trainer in self.trainers:
            trainer.start()

    def stop(self, reason: str, timeout: float = 5.0) -> bool:
        """Ask every trainer to end after its current step; True once all threads have ended."""
        self.stop_reason = self.stop_reason or reason
        for trainer in self.trainers:
            trainer.stop(timeout=0)
        deadline = time.monotonic() + timeout
        for trainer in self.trainers:
            trainer.join(max(0.0, deadline - time.monotonic()))
        return not self.alive


class TrainingSlot:
    """At most one run per process, claimed under a lock and watched by a daemon thread.

    The watchdog ends a run at the wall-clock cap (pauses included) and when nobody has polled
    it for `idle_stop_s`, so a closed tab never leaves a trainer running.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.run: Run | None = None

    def current(self) -> Run | None:
        with self._lock:
            return self.run

    def busy(self) -> Run | None:
        run = self.current()
        return run if run is not None and run.alive else None

    def claim(self, build: Callable[[], Run], *, cap_s: float, idle_s: float) -> Run:
        """Build and start a run unless one is alive; raise GanlabError naming the holder otherwise."""
        with self._lock:
            if self.run is not None and self.run.alive:
                raise GanlabError(_busy_message(self.run))
            run = build()
            run.start()
            self.run = run
        watchdog = threading.Thread(target=self._watch, args=(run, cap_s, idle_s), name="ganlab-watchdog", daemon=True)
        watchdog.start()
        return run

    @staticmethod
    def _watch(run: Run, cap_s: float, idle_s: float) -> None:
        while run.alive:
            now = time.monotonic()
            if now - run.started >= cap_s:
                run.stop(f"wall-clock cap of {cap_s:g} s reached", timeout=0)
            elif now - run.last_polled >= idle_s:
                run.stop(f"nobody watched it for {idle_s:g} s", timeout=0)
            time.sleep(0.25)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the run if any (tests and process exit)."""
        run = self.current()
        if run is not None and run.alive:
            run.stop("shut down", timeout=timeout)


SLOT = TrainingSlot()


def _busy_message(run: Run) -> str:
    snapshot = run.student_log.snapshot()
    return (
        f"a run is already training (held by visitor {run.owner or 'api'}, step {snapshot['step']}/"
        f"{snapshot['total_steps'] or run.settings['steps']}): one run at a time on this machine; "
        "watch it in the Distill tab, or stop it first"
    )


# ---- views: what one UI poll shows ---------------------------------------------------------------
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


# ---- the facade -------------------------------------------------------------------------------------
class Lab:
    """Everything the app does, as plain methods with the UI's inputs."""

    def __init__(
        self,
        settings: LabSettings | None = None,
        *,
        slot: TrainingSlot | None = None,
        metrics_path: str | os.PathLike | None = None,
        classifier: torch.nn.Module | None | bool = True,
    ) -> None:
        self.settings = settings or LabSettings.from_env()
        self.slot = slot or SLOT
        self.metrics_path = Path(metrics_path) if metrics_path else METRICS_PATH
        self.teacher, self.student = load_generators(self.settings)
        # True: load it if present; None/False: none; a module: use it (tests)
        self.classifier = load_optional_classifier() if classifier is True else (classifier or None)
        self._images: torch.Tensor | None = None
        self._images_lock = threading.Lock()
        self._run_models: dict[str, tuple[float, LoadedModel]] = {}
        self._teacher_fixed: np.ndarray | None = None
        self._original: LoadedModel | None = None
        runs_dir = self.settings.runs_dir or os.path.join(tempfile.gettempdir(), "ganlab-runs")
        self.runs_dir = Path(runs_dir)
        self._warm_up(self.teacher, self.student)

    def _warm_up(self, *models: LoadedModel) -> None:
        """One throw-away pass per model at the default grid size, so the first visitor's
        "generation time" is the model's and not the first call's set-up (folding BatchNorm
        into the weights, oneDNN primitives for these shapes): cold, the teacher's first 64
        samples took 171 ms against ~20 ms warm."""
        z = noise(DEFAULT_SAMPLES, 0)
        images = [self._sample(loaded.model, z)[0] for loaded in models]
        self._predict(torch.cat(images))

    # ---- status lines ----
    def model_notes(self) -> str:
        """Markdown warning lines for any model that is untrained (empty when all are trained)."""
        lines = []
        for loaded in (self.teacher, self.student):
            if not loaded.trained:
                lines.append(f"⚠️ **{loaded.role} is untrained**: {loaded.note}. Its samples are noise.")
            elif loaded.note:
                lines.append(f"ℹ️ {loaded.role} from {loaded.source} ({loaded.note})")
        return "\n\n".join(lines)

    # ---- Hub ----
    def load_hub(
        self, teacher_repo: Any = "", teacher_revision: Any = "", student_repo: Any = "", student_revision: Any = ""
    ) -> str:
        """Swap Hub models into Compare; all requested models load before any is swapped in.

        Any failure (invalid id, offline, 404, wrong kind, bad weights) raises GanlabError and
        leaves the models the app had.
        """
        from ganlab.hub import validate_repo_id, validate_revision

        requests = []
        for role, repo, revision in (("teacher", teacher_repo, teacher_revision), ("student", student_repo, student_revision)):
            if repo is None or (isinstance(repo, str) and not repo.strip()):
                continue
            if not isinstance(repo, str):
                raise GanlabError(f"the {role} repo id must be text like 'user/name', got {type(repo).__name__}")
            requests.append((role, validate_repo_id(repo), validate_revision(revision if isinstance(revision, str) else None)))
        if not requests:
            raise GanlabError("enter a Hub repo id ('user/name') for the teacher, the student, or both")
        loaded = {role: _load_from_hub(role, repo, revision) for role, repo, revision in requests}
        if "teacher" in loaded:
            self.teacher = loaded["teacher"]
            self._teacher_fixed = None  # the run view's teacher grid comes from the new teacher
        if "student" in loaded:
            self.student = loaded["student"]
        self._warm_up(*loaded.values())
        return "Loaded " + ", ".join(f"{role} from {model.source}" for role, model in loaded.items())

    # ---- Compare ----
    @staticmethod
    def random_seed() -> int:
        return random.randint(0, MAX_SEED)

    def _student_for(self, student: str) -> LoadedModel:
        if student in (None, "", STUDENT_CHOICES[0]):
            return self.student
        if student not in STUDENT_CHOICES:
            raise GanlabError(f"student must be one of {', '.join(STUDENT_CHOICES)}, got {student!r}")
        if student == STUDENT_CHOICES[3]:
            return self._original_student()
        which = "baseline" if student == STUDENT_CHOICES[2] else "student"
        run = self.slot.current()
        folder = None if run is None else run.output_dir / which
        if folder is None or not (folder / WEIGHTS_NAME).is_file():
            raise GanlabError(f"there is no {student!r} yet: finish a run in the Distill tab first")
        weights = folder / WEIGHTS_NAME
        mtime = weights.stat().st_mtime
        cached = self._run_models.get(which)
        if cached is None or cached[0] != mtime or cached[1].source != str(folder):
            info = read_training_info(folder)
            loaded = _load_from_folder("student", folder)
            loaded.note = f"{which} of run {run.id}: {info.get('steps', '?')} steps"
            self._warm_up(loaded)
            self._run_models[which] = (mtime, loaded)
        return self._run_models[which][1]

    def _original_student(self) -> LoadedModel:
        """The bundled student trained with the original design's loss, loaded on first use."""
        if self._original is None:
            folder = BUNDLED["original"]
            if not (folder / WEIGHTS_NAME).is_file():
                raise GanlabError(f"{display_path(folder)} has no {WEIGHTS_NAME}: this copy of ganlab lacks that checkpoint")
            loaded = _load_from_folder("student", folder)
            loaded.note = "original loss: 0.5·adversarial + 0.5·MSE on the 14×14×64 features"
            self._warm_up(loaded)
            self._original = loaded
        return self._original

    def _sampling_threads(self) -> int:
        """GANLAB_SAMPLE_THREADS, or every core while idle and one fewer while a run trains:
        measured on 2 vCPUs with a run going, 1 sampling thread is faster than 2 (OpenMP teams
        that share a busy core spin and stall), and idle, 2 are faster than 1."""
        if self.settings.sample_threads:
            return self.settings.sample_threads
        cores = os.cpu_count() or 1
        return max(1, cores - 1) if self.slot.busy() is not None else cores

    def _sample(self, model: Generator, z: torch.Tensor) -> tuple[torch.Tensor, float]:
        _use_threads(self._sampling_threads())
        start = time.perf_counter()
        images = generate(model, z)
        return images, time.perf_counter() - start

    def _predict(self, images: torch.Tensor) -> np.ndarray | None:
        if self.classifier is None:
            return None
        with torch.inference_mode():
            return self.classifier(images).argmax(dim=1).numpy()

    def generate(self, seed: Any = 0, n: Any = DEFAULT_SAMPLES, student: str = STUDENT_CHOICES[0]) -> CompareView:
        """Teacher and student grids from the same noise, with sizes, timings and predictions."""
        seed = _as_seed("seed", seed)
        n = _as_int("number of samples", n, 1, self.settings.max_samples)
        student_model = self._student_for(student)
        z = noise(n, seed)  # (n, latent): one batch, both models
        teacher_images, teacher_s = self._sample(self.teacher.model, z)
        student_images, student_s = self._sample(student_model.model, z)
        # one classifier pass over both grids: (2n, 1, 28, 28) -> 2n labels
        labels = self._predict(torch.cat([teacher_images, student_images]))
        columns = max(1, math.ceil(math.sqrt(n)))
        scale = _scale_for(columns)
        teacher_grid = grid(to_uint8(teacher_images), columns=columns, scale=scale)
        student_grid = grid(to_uint8(student_images), columns=columns, scale=scale)
        details: dict[str, Any] = {
            "seed": seed,
            "n": n,
            "teacher": _describe(self.teacher, teacher_s),
            "student": _describe(student_model, student_s),
        }
        if labels is not None:
            teacher_labels, student_labels = labels[:n], labels[n:]
            details["teacher_digits"] = teacher_labels.tolist()
            details["student_digits"] = student_labels.tolist()
            details["agreement"] = float((teacher_labels == student_labels).mean())
        return CompareView(teacher_grid, student_grid, _compare_markdown(details, columns, self.model_notes()), details)

    # ---- Latent walk ----
    def latent_walk(self, seed_a: Any = 0, seed_b: Any = 1, frames: Any = 10, student: str = STUDENT_CHOICES[0]) -> WalkView:
        """Teacher and student along the same slerp path between two seeds' noise, as strips."""
        seed_a, seed_b = _as_seed("first seed", seed_a), _as_seed("second seed", seed_b)
        frames = _as_int("frames", frames, 2, self.settings.max_frames)
        student_model = self._student_for(student)
        z = interpolate(seed_a, seed_b, frames)  # (frames, latent)
        teacher_images, _ = self._sample(self.teacher.model, z)
        student_images, _ = self._sample(student_model.model, z)
        scale = 3 if frames <= 12 else 2
        strips = [grid(to_uint8(images), columns=frames, scale=scale) for images in (teacher_images, student_images)]
        info = f"{frames} frames from seed {seed_a} to seed {seed_b} (spherical interpolation of z)"
        return WalkView(strips[0], strips[1], info)

    # ---- Distill from scratch ----
    def _training_images(self) -> torch.Tensor:
        from ganlab.data import training_images

        with self._images_lock:
            if self._images is None:
                self._images = training_images(self.settings.data_source, limit=self.settings.train_images)
            return self._images

    def start_run(
        self,
        steps: Any = RUN_DEFAULTS.steps,
        time_budget_s: Any = RUN_DEFAULTS.time_budget_s,
        batch_size: Any = RUN_DEFAULTS.batch_size,
        lr_generator: Any = RUN_DEFAULTS.lr_generator,
        lr_discriminator: Any = RUN_DEFAULTS.lr_discriminator,
        alpha: Any = RUN_DEFAULTS.alpha,
        layers: Any = RUN_DEFAULTS.layers,
        seed: Any = RUN_DEFAULTS.seed,
        baseline: Any = RUN_DEFAULTS.baseline,
        ema_decay: Any = RUN_DEFAULTS.ema_decay,
        *,
        owner: str = "",
    ) -> RunView:
        """Validate the settings, claim the one training slot and start the run's thread(s)."""
        limits = self.settings
        steps = _as_int("steps", steps, 1, limits.max_steps)
        time_budget_s = _as_float("time budget (s)", time_budget_s, 0.0, limits.run_cap_s)
        batch_size = _as_int("batch size", batch_size, 1, limits.max_batch_size)
        lr_generator = _as_float("generator learning rate", lr_generator, 0.0, 0.1, open_low=True)
        lr_discriminator = _as_float("discriminator learning rate", lr_discriminator, 0.0, 0.1, open_low=True)
        alpha = _as_float("α (distillation weight)", alpha, 0.0, 1.0)
        layers = _as_layers(layers)
        seed = _as_seed("seed", seed)
        baseline = _as_bool("baseline", baseline)
        ema_decay = _as_float("EMA decay", ema_decay, 0.0, 0.9999)
        if alpha > 0 and not layers:
            raise GanlabError("α > 0 needs at least one distilled layer (or set α to 0)")
        if alpha > 0 and not self.teacher.trained:
            raise GanlabError(
                f"no trained teacher is loaded ({self.teacher.note}); distillation needs one: set GANLAB_TEACHER "
                "to a checkpoint folder or train one with scripts/train_teacher.py"
            )
        busy = self.slot.busy()
        if busy is not None:
            raise GanlabError(_busy_message(busy))
        config = TrainConfig(
            mode="distill",
            steps=steps,
            batch_size=batch_size,
            lr_generator=lr_generator,
            lr_discriminator=lr_discriminator,
            alpha=alpha,
            layers=layers,
            seed=seed,
            ema_decay=ema_decay,
            sample_every=SAMPLE_EVERY,
            checkpoint_every=CHECKPOINT_EVERY,
            time_budget_s=time_budget_s or limits.run_cap_s,
            num_threads=limits.train_threads,
            precision=resolve_precision(limits.train_precision),
        )
        images = self._training_images()  # loaded outside the slot lock (a second or two, once)
        settings = {
            "steps": steps, "time_budget_s": time_budget_s, "batch_size": batch_size, "lr_generator": lr_generator,
            "lr_discriminator": lr_discriminator, "alpha": alpha, "layers": list(layers), "seed": seed,
            "baseline": baseline, "ema_decay": ema_decay, "precision": config.precision,
        }  # fmt: skip

        def build() -> Run:
            run_id = time.strftime("%H%M%S") + "-" + uuid.uuid4().hex[:6]
            self._clear_old_runs()
            output_dir = self.runs_dir / f"run-{run_id}"
            student_log = RunLog()
            student = new_trainer(
                config, images=images, teacher=copy.deepcopy(self.teacher.model), output_dir=output_dir / "student",
                on_event=student_log, extra_info={"teacher": self.teacher.source, "ui_run": run_id},
            )  # fmt: skip
            run = Run(run_id, owner, settings, output_dir, student, student_log)
            if baseline:
                run.baseline_log = RunLog()
                run.baseline = new_trainer(
                    config.replace(alpha=0.0, layers=()), images=images, output_dir=output_dir / "baseline",
                    on_event=run.baseline_log, extra_info={"ui_run": run_id, "baseline": True},
                )  # fmt: skip
            return run

        self.slot.claim(build, cap_s=limits.run_cap_s, idle_s=limits.idle_stop_s)
        return self.run_status(viewer=owner)

    def _clear_old_runs(self) -> None:
        """Keep disk use flat on a Space: a new run replaces the previous run's files."""
        if self.runs_dir.is_dir():
            for old in self.runs_dir.glob("run-*"):
                shutil.rmtree(old, ignore_errors=True)
        self._run_models.clear()

    def _active_run(self, action: str) -> Run:
        run = self.slot.current()
        if run is None or not run.alive:
            raise GanlabError(f"no run is training: nothing to {action}")
        return run

    def stop_run(self, *, viewer: str = "") -> RunView:
        """Stop the run after its current step and wait (a few seconds at most) for its thread."""
        run = self._active_run("stop")
        by = "you" if viewer and viewer == run.owner else "a visitor"
        if not run.stop(f"stopped by {by}"):
            raise GanlabError("the run was asked to stop but its thread has not ended yet; poll again in a moment")
        return self.run_status(viewer=viewer)

    def pause_run(self, *, viewer: str = "") -> RunView:
        run = self._active_run("pause")
        for trainer in run.trainers:
            trainer.pause()
        return self.run_status(viewer=viewer)

    def resume_run(self, *, viewer: str = "") -> RunView:
        run = self._active_run("resume")
        for trainer in run.trainers:
            trainer.resume()
        return self.run_status(viewer=viewer)

    def teacher_fixed_samples(self) -> np.ndarray:
        """The teacher on the trainer's fixed noise batch: what the live student is compared with."""
        if self._teacher_fixed is None:
            images, _ = self._sample(self.teacher.model, noise(64, FIXED_NOISE_SEED))
            self._teacher_fixed = grid(to_uint8(images), columns=8, scale=2)
        return self._teacher_fixed

    def run_status(self, *, viewer: str = "") -> RunView:
        """What the Distill tab shows now; polling also tells the watchdog someone is watching."""
        run = self.slot.current()
        if run is None:
            return RunView(
                "idle", "No run yet: choose settings and press Start.", 0.0, "", None, None, None,
                self.teacher_fixed_samples(), None, False, {"state": "idle"},
            )  # fmt: skip
        run.last_polled = time.monotonic()
        student = run.student_log.snapshot()
        baseline = run.baseline_log.snapshot() if run.baseline_log is not None else None
        state = _run_state(run, student)
        progress, progress_text = _progress(run, student)
        holder = "you" if viewer and viewer == run.owner else f"visitor {run.owner or 'api'}"
        message = {
            "running": f"Training (started by {holder}).",
            "paused": f"Paused (started by {holder}); the slot is freed at the wall-clock cap.",
            "failed": f"Failed: {student['message']}",
        }.get(state, f"Done: {run.stop_reason or student['message']}.")
        if state in ("finished", "stopped") and run.stop_reason:
            message = f"Done: {run.stop_reason} — {student['message']}."
        checkpoint = run.output_dir / "student" / WEIGHTS_NAME
        details = {
            "state": state,
            "run_id": run.id,
            "owner": run.owner,
            "step": student["step"],
            "total_steps": student["total_steps"] or run.settings["steps"],
            "elapsed_s": round(student["elapsed"], 1),
            "progress": round(progress, 4),
            "settings": run.settings,
            "stop_reason": run.stop_reason,
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
            student_image=_sample_grid(student),
            baseline_image=_sample_grid(baseline) if baseline else None,
            teacher_image=self.teacher_fixed_samples(),
            checkpoint=details["checkpoint"],
            active=run.alive,
            details=details,
        )

    # ---- About ----
    def about(self) -> str:
        """Markdown: what the lab shows, both architectures, the metrics table when present."""
        parts = [ABOUT_INTRO]
        for loaded in (self.teacher, self.student):
            counts = count_parameters(loaded.model)
            parts.append(
                f"### {loaded.role.title()}: {counts['keras']:,} parameters "
                f"(with BatchNorm running statistics)\n\n{architecture_markdown(loaded.model.config)}\n\n"
                f"Loaded from `{loaded.source}`{' — ' + loaded.note if loaded.note else ''}."
            )
        parts.append("### Metrics\n\n" + metrics_markdown(self.metrics_path))
        return "\n\n".join(parts)


ABOUT_INTRO = """\
## What this lab shows
A DCGAN **teacher** trained on MNIST is distilled into a smaller **student**: the student is
trained against a discriminator *and* to match the teacher's intermediate feature maps on the
same noise z. Generator loss = (1 − α)·adversarial + α·distillation (mean feature MSE over the
chosen layers). Compare feeds both the same z; Distill from scratch trains a student live
(optionally next to a no-distillation baseline, α = 0); Latent walk moves both along one path.
"""


# ---- helpers for views ------------------------------------------------------------------------
def _scale_for(columns: int) -> int:
    """Nearest-neighbour scale (at least 2, so PNGs stay crisp when saved) for a grid ~500 px wide."""
    width = columns * 30 + 2
    return max(2, min(4, round(480 / width)))


def _describe(loaded: LoadedModel, seconds: float) -> dict[str, Any]:
    return {
        "label": loaded.label,
        "parameters": loaded.parameters,
        "size_bytes": loaded.size_bytes,
        "generation_ms": round(seconds * 1000, 2),
        "source": loaded.source,
        "trained": loaded.trained,
    }


def _digits_block(labels: Sequence[int], columns: int) -> str:
    rows = [" ".join(str(d) for d in labels[i : i + columns]) for i in range(0, len(labels), columns)]
    return "```\n" + "\n".join(rows) + "\n```"


def _compare_markdown(details: dict[str, Any], columns: int, notes: str) -> str:
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
    if "agreement" in details:
        text += (
            f"\n\n**Teacher–student agreement** (same predicted digit): {details['agreement']:.0%}\n\n"
            f"Teacher digits:\n{_digits_block(details['teacher_digits'], columns)}\n"
            f"Student digits:\n{_digits_block(details['student_digits'], columns)}"
        )
    return text + ("\n\n" + notes if notes else "")


def _run_state(run: Run, snapshot: dict[str, Any]) -> str:
    if run.alive:
        return "paused" if run.paused else "running"
    if snapshot["status"] in ("finished", "stopped", "failed"):
        if run.stop_reason and snapshot["status"] == "finished":
            return "stopped"  # ended by the watchdog's time budget or a stop request
        return snapshot["status"]
    return "stopped"


def _progress(run: Run, snapshot: dict[str, Any]) -> tuple[float, str]:
    total = snapshot["total_steps"] or run.settings["steps"]
    step, elapsed = snapshot["step"], snapshot["elapsed"]
    budget = run.settings["time_budget_s"]
    fraction = step / total if total else 0.0
    eta = (total - step) * elapsed / step if step else math.inf
    if budget:
        fraction = max(fraction, min(1.0, elapsed / budget))
        eta = min(eta, max(0.0, budget - elapsed))
    text = f"step {step:,} / {total:,} · {elapsed:.0f} s elapsed"
    if step:
        text += f" · {step / max(elapsed, 1e-9):.1f} steps/s"
    if run.settings.get("precision") == "bf16":
        text += " · bf16 autocast"
    if run.alive and math.isfinite(eta):
        text += f" · ETA {eta:.0f} s"
    if not run.alive:
        fraction = 1.0 if snapshot["status"] == "finished" and not run.stop_reason else fraction
    return min(1.0, fraction), text


def _sample_grid(snapshot: dict[str, Any] | None) -> np.ndarray | None:
    if snapshot is None or snapshot["samples"] is None:
        return None
    return grid(snapshot["samples"], columns=8, scale=2)


def _thin(steps: list[int], values: list[float], max_points: int = 400) -> tuple[list[int], list[float]]:
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
            xs, ys = _thin(snapshot["steps"][: len(values)], values)
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
    lines = [f"- Dense {config.latent_dim} → 7·7·{config.channels[0]}, BatchNorm, LeakyReLU → 7×7×{config.channels[0]}"]
    for stride, last, size, channels in generator_stages(config):
        tail = "tanh" if last else "BatchNorm, LeakyReLU"
        lines.append(f"- ConvTranspose 4×4 stride {stride}, {tail} → {size}×{size}×{channels}")
    return "\n".join(lines)


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


