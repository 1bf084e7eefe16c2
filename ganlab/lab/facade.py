"""`Lab`: everything the app does, as plain methods whose arguments are the UI's inputs.

app.py only wires Gradio components to these methods, so tests call the same functions the
buttons do. Lab builds the parts once and delegates every action to the one that owns it:

    choice.ModelChoice        which teacher and student a request sees (app's, Hub, last run's)
    gallery.Gallery           Compare, the latent walk and their downloads
    distillation.Distillation the Distill tab's runs (start, control, watch, push)
    sampler.Sampler           drawing and reading digits, at the thread count the load calls for
"""

from __future__ import annotations

import atexit
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlab.lab.choice import ModelChoice
from ganlab.lab.distillation import Distillation
from ganlab.lab.files import ImageFiles, OnnxFiles, RunFolders, process_folder
from ganlab.lab.gallery import Gallery
from ganlab.lab.runs import SLOT, TrainingSlot
from ganlab.lab.sampler import Sampler
from ganlab.datasets import DEFAULT_DATASET
from ganlab.lab.scope import current as current_dataset
from ganlab.lab.settings import ANY_DIGIT, DEFAULT_SAMPLES, METRICS_PATH, RUN_DEFAULTS, LabSettings, metrics_path
from ganlab.lab.sources import STUDENT_CHOICES, LoadedModel, load_optional_classifier
from ganlab.lab.views import CompareView, RunView, WalkView, about_markdown


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
        # this process's own folder (never one another app shares); the only one Gradio may serve
        self.runs_dir = process_folder(settings.runs_dir or None)
        atexit.register(shutil.rmtree, self.runs_dir, True)
        self.run_folders = RunFolders(self.runs_dir)
        self.images = ImageFiles(self.runs_dir / "images")
        self.onnx = OnnxFiles(self.runs_dir / "onnx")
        # True: load it if present; None/False: none; a module: use it (tests)
        self.sampler = Sampler(settings, self.slot, load_optional_classifier() if classifier is True else (classifier or None))
        self.models = ModelChoice(settings, slot=self.slot, folders=self.run_folders, warm_up=self.sampler.warm_up)
        self.gallery = Gallery(settings, self.sampler, self.models, images=self.images, onnx=self.onnx)
        self.distillation = Distillation(
            settings, self.sampler, self.models, slot=self.slot, folders=self.run_folders, teacher_grid=self.gallery.teacher_fixed_samples
        )
        self.sampler.warm_up(self.models.app_teacher, self.models.app_student)

    # ---- the parts' shared state, under the names the app and its tests use --------------------------
    @property
    def classifier(self) -> torch.nn.Module | None:
        return self.sampler.classifier

    @classifier.setter
    def classifier(self, model: torch.nn.Module | None) -> None:
        self.sampler.classifier = model

    @property
    def teacher(self) -> LoadedModel:
        """The teacher Compare shows: the visitor's Hub choice inside `visitor(...)`, else the app's."""
        return self.models.teacher

    @teacher.setter
    def teacher(self, loaded: LoadedModel) -> None:
        self.models.app_teacher = loaded

    @property
    def student(self) -> LoadedModel:
        """The bundled-student choice: the visitor's Hub choice inside `visitor(...)`, else the app's."""
        return self.models.student

    @student.setter
    def student(self, loaded: LoadedModel) -> None:
        self.models.app_student = loaded

    @property
    def students(self):
        return self.models.students

    @property
    def hub_models(self):
        return self.models.hub_models

    # ---- models and the Hub ---------------------------------------------------------------------------
    def visitor(self, models: dict[str, Any] | None):
        """Within the block, `teacher` and `student` are the Hub models this visitor chose (ModelChoice.visitor)."""
        return self.models.visitor(models)

    def load_hub(self, teacher_repo: Any = "", teacher_revision: Any = "", student_repo: Any = "", student_revision: Any = "",
                 *, models: dict[str, Any] | None = None) -> tuple[str, dict[str, list[str]]]:  # fmt: skip
        """Load Hub models for one visitor: (message, that visitor's new choice), all or none (ModelChoice.load_hub)."""
        return self.models.load_hub(teacher_repo, teacher_revision, student_repo, student_revision, models=models)

    def model_notes(self) -> str:
        """Markdown warning lines for any model that is untrained (empty when all are trained)."""
        return self.models.notes()

    def about(self) -> str:
        """Markdown: what the lab shows, both architectures, the metrics table of this request's dataset when present."""
        dataset = current_dataset()
        return about_markdown((self.teacher, self.student), self.metrics_path if dataset == DEFAULT_DATASET else metrics_path(dataset), dataset)

    # ---- Compare, the latent walk and downloads (Gallery) ---------------------------------------------
    @staticmethod
    def random_seed() -> int:
        return Gallery.random_seed()

    def generate(self, seed: Any = 0, n: Any = DEFAULT_SAMPLES, student: str = STUDENT_CHOICES[0], digit: Any = ANY_DIGIT) -> CompareView:
        """Teacher and student grids from the same noise, with sizes, timings and predictions (Gallery.generate)."""
        return self.gallery.generate(seed, n, student, digit)

    def compare_pngs(self, seed: Any = 0, n: Any = DEFAULT_SAMPLES, student: str = STUDENT_CHOICES[0], digit: Any = ANY_DIGIT) -> str:
        """Compare's samples as a zip of one PNG per image; its path."""
        return self.gallery.compare_pngs(seed, n, student, digit)

    def latent_walk(self, seed_a: Any = 0, seed_b: Any = 1, frames: Any = 10, student: str = STUDENT_CHOICES[0]) -> WalkView:
        """Teacher and student along the same slerp path between two seeds' noise, as strips."""
        return self.gallery.latent_walk(seed_a, seed_b, frames, student)

    def latent_walk_gif(self, seed_a: Any = 0, seed_b: Any = 1, frames: Any = 10, student: str = STUDENT_CHOICES[0]) -> str:
        """The same walk as an animated GIF, teacher left and student right; its path."""
        return self.gallery.latent_walk_gif(seed_a, seed_b, frames, student)

    def onnx_files(self) -> list[str]:
        """The teacher and the student Compare shows as ONNX files (exported once per model, verified)."""
        return self.gallery.onnx_files()

    def teacher_fixed_samples(self) -> np.ndarray:
        """The teacher on the trainer's fixed noise batch: what the live student is compared with."""
        return self.gallery.teacher_fixed_samples()

    # ---- the Distill tab (Distillation) ---------------------------------------------------------------
    def start_run(
        self, steps: Any = RUN_DEFAULTS.steps, time_budget_s: Any = RUN_DEFAULTS.time_budget_s, batch_size: Any = RUN_DEFAULTS.batch_size,
        lr_generator: Any = RUN_DEFAULTS.lr_generator, lr_discriminator: Any = RUN_DEFAULTS.lr_discriminator, alpha: Any = RUN_DEFAULTS.alpha,
        layers: Any = RUN_DEFAULTS.layers, seed: Any = RUN_DEFAULTS.seed, baseline: Any = RUN_DEFAULTS.baseline,
        ema_decay: Any = RUN_DEFAULTS.ema_decay, sample_every: Any = RUN_DEFAULTS.sample_every, *, owner: str = "",
    ) -> RunView:  # fmt: skip
        """Validate the settings, claim the one training slot and start the run; returns at once (Distillation.start_run)."""
        inputs = (steps, time_budget_s, batch_size, lr_generator, lr_discriminator, alpha, layers, seed, baseline, ema_decay, sample_every)
        return self.distillation.start_run(*inputs, owner=owner)

    def stop_run(self, *, viewer: str = "", smoothing: Any = None) -> RunView:
        """Stop the viewer's run after its current step."""
        return self.distillation.stop_run(viewer=viewer, smoothing=smoothing)

    def pause_run(self, *, viewer: str = "", smoothing: Any = None) -> RunView:
        """Pause the viewer's run (the wall-clock cap keeps counting)."""
        return self.distillation.pause_run(viewer=viewer, smoothing=smoothing)

    def resume_run(self, *, viewer: str = "", smoothing: Any = None) -> RunView:
        """Resume the viewer's paused run."""
        return self.distillation.resume_run(viewer=viewer, smoothing=smoothing)

    def step_run(self, steps: Any = 1, *, viewer: str = "", smoothing: Any = None) -> RunView:
        """Run `steps` (1-100) more steps of the viewer's paused run, then pause it again."""
        return self.distillation.step_run(steps, viewer=viewer, smoothing=smoothing)

    def history(self, percent: Any = 100) -> tuple[np.ndarray | None, str]:
        """The run's sample grid `percent` of the way through its history (100: the latest) and a caption."""
        return self.distillation.history(percent)

    def run_status(self, *, viewer: str = "", smoothing: Any = None) -> RunView:
        """What the Distill tab shows now; polling also tells the watchdog someone is watching."""
        return self.distillation.run_status(viewer=viewer, smoothing=smoothing)

    def current_run_settings(self) -> dict[str, Any] | None:
        """The settings of the run the Distill tab shows (the one training, else the last), for the form after a reload."""
        request = self.distillation.current_request()
        return None if request is None else request.to_dict()

    def real_digits(self) -> np.ndarray | None:
        """64 real training images (fixed), shown beside the live samples; None until they are loaded."""
        return self.distillation.images.real_grid()

    def push_run(self, repo_id: Any = "", private: Any = True, *, token: str | None = None, viewer: str = "") -> tuple[str, str]:
        """Push the student of the viewer's finished run to `repo_id` with its model card (Distillation.push_run)."""
        return self.distillation.push_run(repo_id, private, token=token, viewer=viewer)
