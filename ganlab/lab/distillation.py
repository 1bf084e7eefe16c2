"""`Distillation`: the Distill tab's runs: start one, control it, watch it, push its student.

A run is built here from explicit parts (the request, the models read in the request's thread, the
training images, the quality probe) and handed to the slot; nothing it runs calls back into the
Lab. Its preparer thread loads the data, prepares the quality curve and builds the trainers.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

import numpy as np
import torch

from ganlab.checkpoints import WEIGHTS_NAME
from ganlab.config import Limit
from ganlab.datasets import DEFAULT_DATASET, get_dataset
from ganlab.errors import GanlabError
from ganlab.hub import publish, validate_repo_id
import ganlab.lab.settings as lab_settings
from ganlab.lab.choice import ModelChoice
from ganlab.lab.files import RunFolders
from ganlab.lab.publish import NOT_LOGGED_IN, card_kind, finished_student, run_metrics
from ganlab.lab.quality import REFERENCE_IMAGES, QualityProbe
from ganlab.lab.request import RunRequest, as_bool, count
from ganlab.lab.runs import MAX_ADVANCE, Prepared, Run, TrainingSlot, busy_message, new_run, not_yours_message, run_trainers
from ganlab.lab.sampler import Sampler
from ganlab.lab.settings import LabSettings
from ganlab.lab.sources import LoadedModel
from ganlab.lab.views import QualityFigures, RunView, idle_view, run_view
from ganlab.sampling import grid, to_uint8

log = logging.getLogger("ganlab.lab")

IMAGES_WAIT_S = 30.0  # how long a run waits for another run's data load (MNIST: 12 MB, seconds unless stalled)


class TrainingImages:
    """One dataset's training images for UI runs, loaded once per process (a fresh install's first run downloads them)."""

    def __init__(self, settings: LabSettings, source: str) -> None:
        self.source = source  # a dataset name, or "synthetic"
        self.limit = settings.train_images
        self.lock = threading.Lock()
        self.images: torch.Tensor | None = None
        self._real_grid: np.ndarray | None = None

    @property
    def title(self) -> str:
        return "synthetic blobs" if self.source == "synthetic" else get_dataset(self.source).title

    def load(self, say=lambda note: None) -> torch.Tensor:
        from ganlab.data import dataset_present, training_images

        # A run whose download stalled is abandoned by the watchdog but its thread may still hold
        # the lock: the next run is told so in a line instead of waiting behind it until abandoned too.
        if not self.lock.acquire(timeout=IMAGES_WAIT_S):
            raise GanlabError(f"{self.title} is still being downloaded for an earlier run that stalled; try again in a few minutes")
        try:
            if self.images is None:
                downloading = self.title
                if self.source != "synthetic":
                    downloading = f"downloading {self.title} (first run only, about {get_dataset(self.source).download_mb} MB)"
                say(downloading if self.source != "synthetic" and not dataset_present(self.source) else f"loading {self.title}")
                # each source tried says so in the server log; visitors see the phase, not the server's paths
                self.images = training_images(self.source, limit=self.limit, log=lambda message: (log.info(message), say(downloading)))
                say(f"{self.title} loaded")
            return self.images
        finally:
            self.lock.release()

    def reference(self) -> torch.Tensor:
        """Real images the quality curve's FID compares with: the dataset's test split (synthetic blobs when training on those)."""
        from ganlab.data import load_split, synthetic_images, to_unit_range

        if self.source == "synthetic":
            return synthetic_images(REFERENCE_IMAGES, seed=1)
        images, _ = load_split(self.source, "test")
        return to_unit_range(images[:REFERENCE_IMAGES])

    def real_grid(self) -> np.ndarray | None:
        """64 real training images (fixed), shown beside the live samples; None until they are loaded."""
        images = self.images
        if images is None:
            return None
        if self._real_grid is None:
            picked = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:64]]
            self._real_grid = grid(to_uint8(picked), columns=8, scale=2)
        return self._real_grid


class QualityProbes:
    """The quality curve's probe per teacher model, built once each with its dataset's classifier (the sampler's)."""

    def __init__(self, sampler: Sampler, every_s: float) -> None:
        self.sampler, self.every_s = sampler, every_s
        # per source, teacher model -> its QualityProbe (a Hub teacher is shared by visitors on either dataset)
        self._probes: dict[str, weakref.WeakKeyDictionary] = {}
        self._lock = threading.Lock()

    def _classifier(self, images: TrainingImages) -> torch.nn.Module | None:
        # blobs are scored by MNIST's classifier: a smoke test of the curve, not a measurement
        return self.sampler.classifier_for(DEFAULT_DATASET if images.source == "synthetic" else images.source)

    def available(self, images: TrainingImages) -> bool:
        """False with the curve turned off or without the classifier of the run's dataset (a curve
        scored by another dataset's classifier would mislead)."""
        return bool(self.every_s) and self._classifier(images) is not None

    def probe(self, teacher: LoadedModel, images: TrainingImages) -> QualityProbe | None:
        """The curve's probe for `teacher` on `images`' dataset, built once per teacher model; None when not `available`."""
        if not self.available(images):
            return None
        with self._lock:
            probes = self._probes.setdefault(images.source, weakref.WeakKeyDictionary())
            probe = probes.get(teacher.model)
            if probe is None:
                probe = probes[teacher.model] = QualityProbe(self._classifier(images), teacher.model, images.reference())
        return probe

    def references(self, probe: QualityProbe, teacher: LoadedModel, student: LoadedModel) -> dict[str, dict[str, float]]:
        """The probe's values for the teacher and the committed student: the curve's reference lines."""
        with self._lock:
            return {"teacher": probe.reference_values(teacher.model), "committed student": probe.reference_values(student.model)}


def preparation(request: RunRequest, *, teacher: LoadedModel, student: LoadedModel, images: TrainingImages, probes: QualityProbes, threads: int):
    """The function a run's preparer thread runs: data, quality curve, trainers (None if stopped between phases)."""

    def prepare(run: Run) -> Prepared | None:
        data = images.load(run.say)
        if run.stopping:
            return None
        probe, references = None, {}
        if probes.available(images):
            run.say("preparing the quality curve")
            probe = probes.probe(teacher, images)
            references = probes.references(probe, teacher, student)
        if run.stopping:
            return None
        run.say("building the models")
        trainers = run_trainers(
            run, request.train_config(threads=threads), images=data, teacher=teacher.model, teacher_source=teacher.source,
            probe=probe, probe_every_s=probes.every_s,
        )  # fmt: skip
        return Prepared(*trainers, quality_references=references)

    return prepare


class Distillation:
    """The runs of the Distill tab: one training slot, owned runs, their views and their push."""

    def __init__(self, settings: LabSettings, sampler: Sampler, models: ModelChoice, *, slot: TrainingSlot, folders: RunFolders, teacher_grid) -> None:
        self.settings, self.sampler, self.models = settings, sampler, models
        self.slot, self.folders = slot, folders
        self.teacher_grid = teacher_grid  # () -> the shown teacher's fixed-noise grid (Gallery.teacher_fixed_samples)
        self._images: dict[str, TrainingImages] = {}  # source -> its images, loaded by the first run on it
        self._images_lock = threading.Lock()
        self.probes = QualityProbes(sampler, settings.probe_every_s)
        self.figures = QualityFigures()

    def images_for(self, dataset: str) -> TrainingImages:
        """The training images of a run on `dataset` (synthetic blobs when GANLAB_TRAIN_DATA says so)."""
        source = "synthetic" if self.settings.data_source == "synthetic" else dataset
        with self._images_lock:
            if source not in self._images:
                self._images[source] = TrainingImages(self.settings, source)
            return self._images[source]

    @property
    def images(self) -> TrainingImages:
        """The images of the run the tab shows (the one training, else the last; MNIST's before any)."""
        run = self.slot.current()
        return self.images_for(DEFAULT_DATASET if run is None else run.request.dataset)

    def start_run(self, *inputs: Any, owner: str = "") -> RunView:
        """Validate the settings (RunRequest.from_inputs, in Start's order), claim the one training slot and start the run.

        Returns at once: the run's preparer thread fetches the data if needed (the phase line shows
        it), builds the trainers and starts them; polls show each phase.
        """
        request = RunRequest.from_inputs(self.settings, *inputs)
        busy = self.slot.busy()  # before a visitor's Hub models load: a busy slot costs no download
        if busy is not None and owner and busy.owner == owner:
            raise GanlabError("your run is already training: press Stop first to start another (its student is kept)")
        if busy is not None:
            raise GanlabError(busy_message(busy, self.settings.run_cap_s))
        teacher, student = self.models.teacher, self.models.student  # the app's, or this visitor's Hub models (read in this thread)
        if request.distills and not teacher.trained:
            where = "set GANLAB_TEACHER to a checkpoint folder or" if request.dataset == DEFAULT_DATASET else "add its teacher to its models folder or"
            raise GanlabError(
                f"no trained {get_dataset(request.dataset).title} teacher is loaded ({teacher.note}); distillation needs one: "
                f"{where} train one with ganlab-train --dataset {request.dataset}"
            )
        teacher_image = self.teacher_grid()  # this visitor's teacher, drawn in the request's thread

        def build() -> Run:
            self.models.students.forget_runs()
            return new_run(folders=self.folders, owner=owner, request=request, teacher_image=teacher_image)

        images = self.images_for(request.dataset)
        prepare = preparation(request, teacher=teacher, student=student, images=images, probes=self.probes, threads=self.settings.train_threads)
        self.slot.claim(build, prepare, cap_s=self.settings.run_cap_s, idle_s=self.settings.idle_stop_s)
        self.sampler.retire()  # the run owns the cores: no other OpenMP team beside its own (ganlab.lab.sampler)
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
        self._owned_run("step", viewer).advance(count("steps per Step", 1 if steps is None else steps, 1, MAX_ADVANCE))
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

    def current_request(self) -> RunRequest | None:
        """The request of the run the Distill tab shows (the one training, else the last)."""
        run = self.slot.current()
        return None if run is None else run.request

    def run_status(self, *, viewer: str = "", smoothing: Any = None) -> RunView:
        """What the Distill tab shows now; polling also tells the watchdog someone is watching."""
        smoothing = lab_settings.SMOOTHING if smoothing is None else Limit("smoothing", 0.0, 0.99).check(smoothing, text=True)
        run = self.slot.current()
        if run is None:
            return idle_view(self.teacher_grid())
        run.polled()
        downloaded = None
        if run.student is None and run.note.startswith("downloading"):
            from ganlab.data import downloaded_bytes

            downloaded = downloaded_bytes()
        with self.folders.lease(run.output_dir):
            teacher_image = run.teacher_image if run.teacher_image is not None else self.teacher_grid()
            view = run_view(
                run, viewer=viewer, teacher_image=teacher_image, real_image=self.images.real_grid(),
                checkpoint_name=WEIGHTS_NAME, smoothing=smoothing, downloaded=downloaded, figures=self.figures,
            )  # fmt: skip
            if view.checkpoint is not None:
                self.folders.handed_out(run.output_dir)  # Gradio copies the download after we return
        return view

    def push_run(self, repo_id: Any = "", private: Any = True, *, token: str | None = None, viewer: str = "") -> tuple[str, str]:
        """Push the student of the viewer's finished run to `repo_id` with the model card that
        scripts/push_to_hub.py writes (this run's metrics and recipe, a sample grid); returns
        (the repo id as pushed, the message to show).

        token: the visitor's Hub token (ganlab.hub.push_token); None means nobody is logged in.
        The repo id is checked before anything else, so a typo costs no work and no request.
        """
        repo_id = validate_repo_id(repo_id)
        private = True if private is None else as_bool("private", private)  # a client that leaves it out gets the default
        run = self.slot.latest_of(viewer)  # the viewer's own run, even after others have started theirs
        folder = finished_student(run, viewer)
        if not token:
            raise GanlabError(NOT_LOGGED_IN)
        with self.folders.lease(run.output_dir):  # a new run never deletes the folder being pushed
            url = publish(card_kind(run), folder, repo_id, metrics=run_metrics(run), token=token, private=private)
        return repo_id, f"Pushed this run's {card_kind(run)} to {repo_id}" + (" (private)" if private else "") + f": {url}"

