"""`Lab`: everything the app does, as plain methods whose arguments are the UI's inputs.

app.py only wires Gradio components to these methods, so tests call the same functions the
buttons do. Each method checks its inputs against the limits declared in ganlab.config and
hands the work to the module that owns it: sources (which model), runs (training), views
(what a poll shows), ganlab.sampling (images).

Threads: `torch.set_num_threads` acts per thread with PyTorch's OpenMP backend. Called in a
thread it sets that thread's OpenMP team size and the default that *later* threads pick up
on their first parallel op; threads that already ran an op keep their own. So the trainer
thread sets its own count (TrainConfig.num_threads) and every sampling call sets the
calling thread's count (`LabSettings.sample_threads`): neither can leak into the other.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import random
import shutil
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlab.checkpoints import WEIGHTS_NAME
from ganlab.config import DISTILL_LAYERS, MAX_SEED, SEED, Limit, TrainConfig, limit
from ganlab.digits import DigitNoise, digit_noise
from ganlab.downloads import png_zip, walk_gif
from ganlab.errors import GanlabError
from ganlab.hub import publish, validate_repo_id
from ganlab.lab import settings as lab_settings
from ganlab.lab.files import ImageFiles, OnnxFiles, RunFolders, process_folder
from ganlab.lab.publish import NOT_LOGGED_IN, card_kind, finished_student, run_metrics
from ganlab.lab.quality import QualityProbe
from ganlab.lab.runs import MAX_ADVANCE, SLOT, Run, TrainingSlot, busy_message, new_run, not_yours_message, run_trainers
from ganlab.lab.settings import ANY_DIGIT, DEFAULT_SAMPLES, DIGIT_CHOICES, METRICS_PATH, RUN_DEFAULTS, LabSettings
from ganlab.lab.sources import (
    STUDENT_CHOICES,
    HubModels,
    LoadedModel,
    StudentShelf,
    hub_requests,
    load_model,
    load_optional_classifier,
)
from ganlab.lab.views import (
    CompareView,
    RunView,
    WalkView,
    about_markdown,
    compare_markdown,
    describe,
    idle_view,
    labelled_frames,
    model_notes,
    run_view,
    scale_for,
)
from ganlab.models import Generator
from ganlab.sampling import generate, grid, interpolate, noise, to_uint8
from ganlab.precision import resolve_precision
from ganlab.trainer import FIXED_NOISE_SEED

log = logging.getLogger("ganlab.lab")

IMAGES_WAIT_S = 30.0  # how long a run waits for another run's MNIST load (12 MB: seconds, unless stalled)


def _setting(name: str, value: Any, *, high: float | None = None, label: str | None = None) -> Any:
    """A run setting from the UI or API, checked against TrainConfig's declared range."""
    return limit(TrainConfig, name).check(value, high=high, label=label, text=True)


def _count(label: str, value: Any, low: int, high: int) -> int:
    """A UI count (samples, frames) in [low, high]: the range is the Lab's own setting."""
    return Limit(label, low, high, integer=True).check(value, text=True)


def _as_bool(name: str, value: Any) -> bool:
    # a checkbox sends true/false; None is an unticked box from a client that left it out
    if value is None or isinstance(value, bool):
        return bool(value)
    raise GanlabError(f"{name} must be true or false, got {value!r:.60}")


def _as_digit(value: Any) -> int | None:
    """Compare's digit choice: None for "any" (or left out), else the digit 0..9."""
    if value is None or value == ANY_DIGIT or value == "":
        return None
    text = str(value).strip()
    if isinstance(value, bool) or text not in DIGIT_CHOICES:
        raise GanlabError(f"digit must be {ANY_DIGIT!r} or one of 0..9, got {value!r:.60}")
    return int(text)


def _as_layers(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
        raise GanlabError(f"layers must be a list of layer names ({', '.join(DISTILL_LAYERS)}), got {value!r:.60}")
    for layer in value:
        if layer not in DISTILL_LAYERS:
            raise GanlabError(f"unknown distilled layer {layer!r:.60}: choose from {', '.join(DISTILL_LAYERS)}")
    # keep the canonical order, so ("pixels", "14x14") and ("14x14", "pixels") are one run
    return tuple(layer for layer in DISTILL_LAYERS if layer in value)


# the Hub models of the visitor whose request this thread is serving (see Lab.visitor)
# this request's Hub choice: ({role: (repo, revision)}, {role: the model once loaded}), or None
_VISITOR_MODELS: ContextVar[tuple[dict[str, list[str]], dict[str, LoadedModel]] | None] = ContextVar(
    "ganlab_visitor_models", default=None
)


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
        self.settings = settings = settings or LabSettings.from_env()
        self.slot = slot or SLOT
        self.metrics_path = Path(metrics_path) if metrics_path else METRICS_PATH
        self.teacher = load_model("teacher", path=settings.teacher or None, repo=settings.teacher_repo, revision=settings.teacher_revision)
        self.student = load_model("student", path=settings.student or None, repo=settings.student_repo, revision=settings.student_revision)
        # True: load it if present; None/False: none; a module: use it (tests)
        self.classifier = load_optional_classifier() if classifier is True else (classifier or None)
        self.students = StudentShelf(lambda loaded: self._warm_up(loaded))
        self.hub_models = HubModels(lambda loaded: self._warm_up(loaded))  # shared by key, bounded (HUB_CACHE_SIZE)
        self._images: torch.Tensor | None = None
        self._images_lock = threading.Lock()
        self._teacher_fixed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # teacher model -> its fixed-noise grid
        self._probes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # teacher model -> its QualityProbe
        self._probe_lock = threading.Lock()
        self._real_grid: np.ndarray | None = None
        # this process's own folder (never one another app shares); the only one Gradio may serve
        self.runs_dir = process_folder(settings.runs_dir or None)
        atexit.register(shutil.rmtree, self.runs_dir, True)
        self.run_folders = RunFolders(self.runs_dir)
        self.images = ImageFiles(self.runs_dir / "images")
        self.onnx = OnnxFiles(self.runs_dir / "onnx")
        self._warm_up(self.teacher, self.student)

    # ---- sampling --------------------------------------------------------------------------------
    def _warm_up(self, *models: LoadedModel) -> None:
        """One throw-away pass per model at the default grid size, so the first visitor's
        "generation time" is the model's and not the first call's set-up (folding BatchNorm
        into the weights, oneDNN primitives for these shapes): cold, the teacher's first 64
        samples took 171 ms against ~20 ms warm."""
        z = noise(DEFAULT_SAMPLES, 0)
        images = [self._sample(loaded.model, z)[0] for loaded in models]
        self._predict(torch.cat(images))

    def _sampling_threads(self) -> int:
        """GANLAB_SAMPLE_THREADS, or every core while idle and one fewer while a run trains:
        measured on 2 vCPUs with a run going, 1 sampling thread is faster than 2 (OpenMP teams
        that share a busy core spin and stall), and idle, 2 are faster than 1."""
        if self.settings.sample_threads:
            return self.settings.sample_threads
        cores = os.cpu_count() or 1
        return max(1, cores - 1) if self.slot.busy() is not None else cores

    def _use_sampling_threads(self) -> None:
        count = self._sampling_threads()
        if torch.get_num_threads() != count:  # a per-thread setting, see the module doc
            torch.set_num_threads(count)

    def _sample(self, model: Generator, z: torch.Tensor) -> tuple[torch.Tensor, float]:
        self._use_sampling_threads()
        start = time.perf_counter()
        images = generate(model, z, self.settings.infer_precision)
        return images, time.perf_counter() - start

    def _predict(self, images: torch.Tensor) -> np.ndarray | None:
        if self.classifier is None:
            return None
        with torch.inference_mode():
            return self.classifier(images).argmax(dim=1).numpy()

    def _student_for(self, choice: str) -> LoadedModel:
        if choice in (None, "", STUDENT_CHOICES[0]):
            return self.student  # the visitor's Hub student is loaded only when this choice asks for it
        run = self.slot.current()
        folder = None if run is None else run.output_dir
        with self.run_folders.lease(folder):  # a new run never deletes the folder this reads
            return self.students.choose(choice, self._student, folder, "" if run is None else run.id)

    # ---- status lines and About ------------------------------------------------------------------
    def model_notes(self) -> str:
        """Markdown warning lines for any model that is untrained (empty when all are trained)."""
        return model_notes((self.teacher, self.student))

    def about(self) -> str:
        """Markdown: what the lab shows, both architectures, the metrics table when present."""
        return about_markdown((self.teacher, self.student), self.metrics_path)

    # ---- Hub ------------------------------------------------------------------------------------
    def load_hub(
        self, teacher_repo: Any = "", teacher_revision: Any = "", student_repo: Any = "", student_revision: Any = "",
        *, models: dict[str, Any] | None = None,
    ) -> tuple[str, dict[str, list[str]]]:
        """Load Hub models for one visitor: (message, that visitor's new choice), all requested models or none.

        `models` is the visitor's current choice ({role: [repo, revision]}, kept in a gr.State);
        nothing changes for anyone else. Any failure (invalid id, offline, 404, wrong kind, bad
        weights) raises GanlabError and leaves the visitor's choice as it was.
        """
        requests = hub_requests(teacher_repo, teacher_revision, student_repo, student_revision)
        loaded = {role: self.hub_models.get(role, repo, revision) for role, repo, revision in requests}
        choice = {**self._checked_choice(models), **{role: [repo, revision] for role, repo, revision in requests}}
        return "Loaded " + ", ".join(f"{role} from {model.source}" for role, model in loaded.items()), choice

    @staticmethod
    def _checked_choice(models: Any) -> dict[str, list[str]]:
        if not models:
            return {}
        if not isinstance(models, dict) or not set(models) <= {"teacher", "student"}:
            raise GanlabError("the models choice must map 'teacher' and/or 'student' to [repo, revision]")
        for pair in models.values():
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(part, str) for part in pair)):
                raise GanlabError("the models choice must map 'teacher' and/or 'student' to [repo, revision]")
        return {role: list(pair) for role, pair in models.items()}

    def push_run(self, repo_id: Any = "", private: Any = True, *, token: str | None = None, viewer: str = "") -> tuple[str, str]:
        """Push the student of the viewer's finished run to `repo_id` with the model card that
        scripts/push_to_hub.py writes (this run's metrics and recipe, a sample grid); returns
        (the repo id as pushed, the message to show).

        token: the visitor's Hub token (ganlab.hub.push_token); None means nobody is logged in.
        The repo id is checked before anything else, so a typo costs no work and no request.
        """
        repo_id = validate_repo_id(repo_id)
        private = True if private is None else _as_bool("private", private)  # a client that leaves it out gets the default
        run = self.slot.latest_of(viewer)  # the viewer's own run, even after others have started theirs
        folder = finished_student(run, viewer)
        if not token:
            raise GanlabError(NOT_LOGGED_IN)
        with self.run_folders.lease(run.output_dir):  # a new run never deletes the folder being pushed
            url = publish(card_kind(run), folder, repo_id, metrics=run_metrics(run), token=token, private=private)
        return repo_id, f"Pushed this run's {card_kind(run)} to {repo_id}" + (" (private)" if private else "") + f": {url}"

    @contextmanager
    def visitor(self, models: dict[str, Any] | None) -> Iterator[None]:
        """Within the block, `teacher` and `student` are the Hub models this visitor chose (a gr.State's value).

        A context variable rather than an argument on every method: each Gradio request runs its
        handler in one worker thread, so one visitor's choice never reaches another's request.
        The choice is checked here and loaded only when the request first uses the model, so that a
        request refused for its other inputs (or a busy slot) never starts a download.
        """
        chosen = self._checked_choice(models)
        token = _VISITOR_MODELS.set((chosen, {}) if chosen else None)
        try:
            yield
        finally:
            _VISITOR_MODELS.reset(token)

    def _chosen(self, role: str) -> LoadedModel | None:
        """The visitor's Hub model for `role` in this request (loaded on first use), or None."""
        value = _VISITOR_MODELS.get()
        if value is None or role not in value[0]:
            return None
        pairs, loaded = value
        if role not in loaded:  # once per request: the same model for every use within it
            loaded[role] = self.hub_models.get(role, *pairs[role])
        return loaded[role]

    @property
    def teacher(self) -> LoadedModel:
        """The teacher Compare shows: the visitor's Hub choice inside `visitor(...)`, else the app's."""
        return self._chosen("teacher") or self._teacher

    @teacher.setter
    def teacher(self, loaded: LoadedModel) -> None:
        self._teacher = loaded

    @property
    def student(self) -> LoadedModel:
        """The bundled-student choice: the visitor's Hub choice inside `visitor(...)`, else the app's."""
        return self._chosen("student") or self._student

    @student.setter
    def student(self, loaded: LoadedModel) -> None:
        self._student = loaded

    # ---- Compare --------------------------------------------------------------------------------
    @staticmethod
    def random_seed() -> int:
        return random.randint(0, MAX_SEED)

    def _compare(self, seed: Any, n: Any, student: str, digit: Any) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Compare's samples: (teacher images, student images) from one z, (n, 1, 28, 28), and their details."""
        seed = SEED.check(seed, text=True)
        n = _count("number of samples", n, 1, self.settings.max_samples)
        digit = _as_digit(digit)
        student_model = self._student_for(student)
        details: dict[str, Any] = {"seed": seed, "n": n}
        if digit is None:
            z = noise(n, seed)  # (n, latent): one batch, both models
        else:
            search = self._digit_noise(digit, n, seed)
            z = search.z  # (found, latent): the kept z, rendered by both models
            details["n"] = search.found
            details["digit"] = {
                "digit": digit, "wanted": n, "found": search.found, "tried": search.tried,
                "acceptance_rate": search.acceptance_rate, "summary": search.summary(),
            }  # fmt: skip
        teacher_images, teacher_s = self._sample(self.teacher.model, z)
        student_images, student_s = self._sample(student_model.model, z)
        details["teacher"] = describe(self.teacher, teacher_s)
        details["student"] = describe(student_model, student_s)
        return teacher_images, student_images, details

    def _digit_noise(self, digit: int, n: int, seed: int) -> DigitNoise:
        """The seed's first n z whose teacher image the classifier reads as `digit` (bounded: DIGIT_MAX_TRIES, DIGIT_MAX_SECONDS)."""
        if self.classifier is None:
            raise GanlabError(
                "asking for a digit needs the evaluation classifier (checkpoints/classifier), which is not loaded; "
                "choose 'any' or train it with scripts/train_classifier.py"
            )
        self._use_sampling_threads()
        search = digit_noise(self.teacher.model, self.classifier, digit, n, seed, max_tries=lab_settings.DIGIT_MAX_TRIES,
                             max_seconds=lab_settings.DIGIT_MAX_SECONDS)
        if not search.found:
            raise GanlabError(f"{search.summary()}: the teacher draws no {digit} this seed's search can find; try another seed or digit")
        return search

    def generate(
        self, seed: Any = 0, n: Any = DEFAULT_SAMPLES, student: str = STUDENT_CHOICES[0], digit: Any = ANY_DIGIT
    ) -> CompareView:
        """Teacher and student grids from the same noise, with sizes, timings and predictions.

        digit "0".."9" keeps only the z whose teacher image the classifier reads as that digit
        (ganlab.digits); "any" (the default) takes the seed's noise as it comes.
        """
        teacher_images, student_images, details = self._compare(seed, n, student, digit)
        n = details["n"]
        # one classifier pass over both grids: (2n, 1, 28, 28) -> 2n labels
        labels = self._predict(torch.cat([teacher_images, student_images]))
        columns = max(1, math.ceil(math.sqrt(n)))
        scale = scale_for(columns)
        teacher_grid = grid(to_uint8(teacher_images), columns=columns, scale=scale)
        student_grid = grid(to_uint8(student_images), columns=columns, scale=scale)
        if labels is not None:
            teacher_labels, student_labels = labels[:n], labels[n:]
            details["teacher_digits"] = teacher_labels.tolist()
            details["student_digits"] = student_labels.tolist()
            details["agreement"] = float((teacher_labels == student_labels).mean())
        return CompareView(teacher_grid, student_grid, compare_markdown(details, columns, self.model_notes()), details)

    def compare_pngs(
        self, seed: Any = 0, n: Any = DEFAULT_SAMPLES, student: str = STUDENT_CHOICES[0], digit: Any = ANY_DIGIT
    ) -> str:
        """Compare's samples as a zip of one 28x28 PNG per image (teacher/000.png, student/000.png, ...); its path."""
        teacher_images, student_images, _ = self._compare(seed, n, student, digit)
        data = png_zip({"teacher": to_uint8(teacher_images), "student": to_uint8(student_images)})
        return self.images.keep(data, ".zip", prefix="ganlab-samples-")

    # ---- Latent walk ----------------------------------------------------------------------------
    def _walk(self, seed_a: Any, seed_b: Any, frames: Any, student: str) -> tuple[torch.Tensor, torch.Tensor, str]:
        """Teacher and student images along the slerp path, (frames, 1, 28, 28) each, and a line saying which."""
        seed_a = SEED.check(seed_a, label="first seed", text=True)
        seed_b = SEED.check(seed_b, label="second seed", text=True)
        frames = _count("frames", frames, 2, self.settings.max_frames)
        student_model = self._student_for(student)
        z = interpolate(seed_a, seed_b, frames)  # (frames, latent)
        teacher_images, _ = self._sample(self.teacher.model, z)
        student_images, _ = self._sample(student_model.model, z)
        return teacher_images, student_images, f"{frames} frames from seed {seed_a} to seed {seed_b} (spherical interpolation of z)"

    def latent_walk(self, seed_a: Any = 0, seed_b: Any = 1, frames: Any = 10, student: str = STUDENT_CHOICES[0]) -> WalkView:
        """Teacher and student along the same slerp path between two seeds' noise, as strips."""
        teacher_images, student_images, info = self._walk(seed_a, seed_b, frames, student)
        strips = [labelled_frames(to_uint8(images), self._predict(images)) for images in (teacher_images, student_images)]
        return WalkView(strips[0], strips[1], info)

    def latent_walk_gif(self, seed_a: Any = 0, seed_b: Any = 1, frames: Any = 10, student: str = STUDENT_CHOICES[0]) -> str:
        """The same walk as an animated GIF, teacher left and student right, one frame per step; its path."""
        teacher_images, student_images, _ = self._walk(seed_a, seed_b, frames, student)
        data = walk_gif(to_uint8(teacher_images), to_uint8(student_images))
        return self.images.keep(data, ".gif", prefix="ganlab-walk-")

    # ---- Downloads ------------------------------------------------------------------------------
    def onnx_files(self) -> list[str]:
        """The teacher and the student Compare shows as ONNX files (exported once per model, verified)."""
        return [str(self.onnx.path(loaded.role, loaded.model)) for loaded in (self.teacher, self.student)]

    # ---- Distill from scratch -------------------------------------------------------------------
    def _training_images(self, say=lambda note: None) -> torch.Tensor:
        """The UI runs' training images, loaded once (the first run of a fresh install downloads MNIST)."""
        from ganlab.data import mnist_present, training_images

        # A run whose download stalled is abandoned by the watchdog but its thread may still hold
        # the lock: the next run is told so in a line instead of waiting behind it until abandoned too.
        if not self._images_lock.acquire(timeout=IMAGES_WAIT_S):
            raise GanlabError("MNIST is still being downloaded for an earlier run that stalled; try again in a few minutes")
        try:
            if self._images is None:
                source = self.settings.data_source
                downloading = "downloading MNIST (first run only, about 12 MB)"
                if source == "mnist" and not mnist_present():
                    say(downloading)
                else:
                    say("loading MNIST")
                # each source tried says so in the server log; visitors see the phase, not the server's paths
                self._images = training_images(source, limit=self.settings.train_images, log=lambda message: (log.info(message), say(downloading)))
                say("MNIST loaded")
            return self._images
        finally:
            self._images_lock.release()

    def _reference_images(self) -> torch.Tensor:
        """Real digits the quality curve's FID compares with: MNIST test (synthetic blobs when training on those)."""
        from ganlab.data import load_mnist, synthetic_images, to_unit_range
        from ganlab.lab.quality import REFERENCE_IMAGES

        if self.settings.data_source == "synthetic":
            return synthetic_images(REFERENCE_IMAGES, seed=1)
        images, _ = load_mnist("test")
        return to_unit_range(images[:REFERENCE_IMAGES])

    def quality_probe(self, teacher: LoadedModel | None = None) -> QualityProbe | None:
        """The quality curve's probe for `teacher` (default: the app's or the visitor's), built once per
        teacher model; None without the bundled classifier or with the curve turned off."""
        if self.classifier is None or not self.settings.probe_every_s:
            return None
        model = (teacher or self.teacher).model
        with self._probe_lock:
            probe = self._probes.get(model)
            if probe is None:
                probe = self._probes[model] = QualityProbe(self.classifier, model, self._reference_images())
        return probe

    def quality_references(self, probe: QualityProbe, teacher: LoadedModel, student: LoadedModel) -> dict[str, dict[str, float]]:
        """The probe's values for the teacher and the committed student: the curve's reference lines."""
        with self._probe_lock:
            return {"teacher": probe.reference_values(teacher.model), "committed student": probe.reference_values(student.model)}

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
        sample_every: Any = RUN_DEFAULTS.sample_every,
        *,
        owner: str = "",
    ) -> RunView:
        """Validate the settings, claim the one training slot and start the run.

        Returns at once: the run's preparer thread fetches MNIST if needed (the phase line shows
        it), builds the trainers and starts them; polls show each phase.
        """
        limits = self.settings
        steps = _setting("steps", steps, high=limits.max_steps)
        time_budget_s = _setting("time_budget_s", time_budget_s, high=limits.run_cap_s)
        batch_size = _setting("batch_size", batch_size, high=limits.max_batch_size)
        lr_generator = _setting("lr_generator", lr_generator)
        lr_discriminator = _setting("lr_discriminator", lr_discriminator)
        alpha = _setting("alpha", alpha)
        layers = _as_layers(layers)
        seed = _setting("seed", seed)
        baseline = _as_bool("baseline", baseline)
        ema_decay = _setting("ema_decay", ema_decay)
        sample_every = _count("show every (steps)", RUN_DEFAULTS.sample_every if sample_every is None else sample_every, 1, lab_settings.MAX_SAMPLE_EVERY)
        if alpha > 0 and not layers:
            raise GanlabError("α > 0 needs at least one distilled layer (or set α to 0)")
        busy = self.slot.busy()  # before a visitor's Hub models load: a busy slot costs no download
        if busy is not None and owner and busy.owner == owner:
            raise GanlabError("your run is already training: press Stop first to start another (its student is kept)")
        if busy is not None:
            raise GanlabError(busy_message(busy, limits.run_cap_s))
        teacher, student = self.teacher, self.student  # the app's, or this visitor's Hub models (read in this thread)
        if alpha > 0 and not teacher.trained:
            raise GanlabError(
                f"no trained teacher is loaded ({teacher.note}); distillation needs one: set GANLAB_TEACHER "
                "to a checkpoint folder or train one with scripts/train_teacher.py"
            )
        config = TrainConfig(
            mode="distill", steps=steps, batch_size=batch_size, lr_generator=lr_generator,
            lr_discriminator=lr_discriminator, alpha=alpha, layers=layers, seed=seed, ema_decay=ema_decay,
            sample_every=sample_every, checkpoint_every=lab_settings.CHECKPOINT_EVERY,
            time_budget_s=time_budget_s or limits.run_cap_s, num_threads=limits.train_threads,
            precision=resolve_precision(limits.train_precision),
        )  # fmt: skip
        run_settings = {
            "steps": steps, "time_budget_s": time_budget_s, "batch_size": batch_size, "lr_generator": lr_generator,
            "lr_discriminator": lr_discriminator, "alpha": alpha, "layers": list(layers), "seed": seed,
            "baseline": baseline, "ema_decay": ema_decay, "sample_every": sample_every,
            "precision": config.precision, "cap_s": limits.run_cap_s,
        }  # fmt: skip

        def build() -> Run:
            self.students.forget_runs()
            return new_run(folders=self.run_folders, owner=owner, settings=run_settings, baseline=baseline)

        def prepare(run: Run):  # in the run's own thread: the slot is claimed, polls show each phase
            images = self._training_images(run.say)
            if run.stopping:
                return None, None
            probe = None
            if self.classifier is not None and limits.probe_every_s:
                run.say("preparing the quality curve")
                probe = self.quality_probe(teacher)
                run.quality_references = self.quality_references(probe, teacher, student)
            if run.stopping:
                return None, None
            run.say("building the models")
            return run_trainers(
                run, config, images=images, teacher=teacher.model, teacher_source=teacher.source,
                probe=probe, probe_every_s=limits.probe_every_s,
            )  # fmt: skip

        run = self.slot.claim(build, prepare, cap_s=limits.run_cap_s, idle_s=limits.idle_stop_s)
        run.teacher_image = self.teacher_fixed_samples()  # this visitor's teacher, read in the request's thread
        return self.run_status(viewer=owner)

    def _owned_run(self, action: str, viewer: str) -> Run:
        """The run in progress if `viewer` started it; anyone else gets a GanlabError with the time left."""
        run = self.slot.active(action)
        if viewer != run.owner:
            raise GanlabError(not_yours_message(run, action, self.settings.run_cap_s))
        return run

    def stop_run(self, *, viewer: str = "", smoothing: Any = None) -> RunView:
        """Stop the viewer's run after its current step and wait (a few seconds at most) for its thread."""
        run = self._owned_run("stop", viewer)
        if not run.stop("stopped by you") and run.student is not None:  # preparing: the phase line says it is stopping
            raise GanlabError("the run was asked to stop but its thread has not ended yet; poll again in a moment")
        return self.run_status(viewer=viewer, smoothing=smoothing)

    def pause_run(self, *, viewer: str = "", smoothing: Any = None) -> RunView:
        """Pause the viewer's run (the wall-clock cap keeps counting)."""
        self._owned_run("pause", viewer).pause()
        return self.run_status(viewer=viewer, smoothing=smoothing)

    def resume_run(self, *, viewer: str = "", smoothing: Any = None) -> RunView:
        """Resume the viewer's paused run."""
        self._owned_run("resume", viewer).resume()
        return self.run_status(viewer=viewer, smoothing=smoothing)

    def step_run(self, steps: Any = 1, *, viewer: str = "", smoothing: Any = None) -> RunView:
        """Run `steps` (1-100) more steps of the viewer's paused run, then pause it again."""
        count = _count("steps per Step", 1 if steps is None else steps, 1, MAX_ADVANCE)
        self._owned_run("step", viewer).advance(count)
        return self.run_status(viewer=viewer, smoothing=smoothing)

    def history(self, percent: Any = 100) -> tuple[np.ndarray | None, str]:
        """The run's sample grid `percent` of the way through its history (100: the latest) and a caption."""
        percent = Limit("history position (%)", 0, 100).check(100 if percent is None else percent, text=True)
        run = self.slot.current()
        if run is None:
            return None, "No run yet."
        count = run.student_log.snapshot_count()  # every poll asks: no full snapshot copy for a count
        if count == 0:
            return None, "No samples yet."
        position = round(percent / 100 * (count - 1))
        step, images = run.student_log.snapshot_images(position)
        return grid(images, columns=8, scale=2), f"student at step {step:,} (snapshot {position + 1} of {count})"

    def teacher_fixed_samples(self) -> np.ndarray:
        """The teacher on the trainer's fixed noise batch: what the live student is compared with."""
        model = self.teacher.model  # the app's, or the visitor's Hub teacher (a grid each, gone with the model)
        if model not in self._teacher_fixed:
            images, _ = self._sample(model, noise(64, FIXED_NOISE_SEED))
            self._teacher_fixed[model] = grid(to_uint8(images), columns=8, scale=2)
        return self._teacher_fixed[model]

    def real_digits(self) -> np.ndarray | None:
        """64 real training digits (fixed), shown beside the live samples; None until MNIST is loaded."""
        images = self._images
        if images is None:
            return None
        if self._real_grid is None:
            picked = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:64]]
            self._real_grid = grid(to_uint8(picked), columns=8, scale=2)
        return self._real_grid

    def current_run_settings(self) -> dict[str, Any] | None:
        """The settings of the run the Distill tab shows (the one training, else the last), for the form after a reload."""
        run = self.slot.current()
        return None if run is None else dict(run.settings)

    def run_status(self, *, viewer: str = "", smoothing: Any = None) -> RunView:
        """What the Distill tab shows now; polling also tells the watchdog someone is watching."""
        smoothing = lab_settings.SMOOTHING if smoothing is None else Limit("smoothing", 0.0, 0.99).check(smoothing, text=True)
        run = self.slot.current()
        if run is None:
            return idle_view(self.teacher_fixed_samples())
        run.last_polled = time.monotonic()
        downloaded = None
        if run.student is None and run.note.startswith("downloading"):
            from ganlab.data import downloaded_bytes

            downloaded = downloaded_bytes()
        with self.run_folders.lease(run.output_dir):
            teacher_image = run.teacher_image if run.teacher_image is not None else self.teacher_fixed_samples()
            view = run_view(
                run, viewer=viewer, teacher_image=teacher_image, real_image=self.real_digits(),
                checkpoint_name=WEIGHTS_NAME, smoothing=smoothing, downloaded=downloaded,
            )  # fmt: skip
            if view.checkpoint is not None:
                self.run_folders.handed_out(run.output_dir)  # Gradio copies the download after we return
        return view
