"""`ModelChoice`: which teacher and student a request sees (the app's, the visitor's Hub pick, a run's).

A visitor's Hub choice and dataset live in a gr.State on their page and reach the Lab with each request;
`visitor(models)` makes it this request's choice through a context variable rather than an
argument on every method: each Gradio request runs its handler in one worker thread, so one
visitor's choice never reaches another's request. Models load on first use within a request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ganlab.datasets import DATASETS, DEFAULT_DATASET, get_dataset
from ganlab.errors import GanlabError
from ganlab.lab.scope import current as current_dataset
from ganlab.lab.scope import using as using_dataset
from ganlab.lab.files import RunFolders
from ganlab.lab.runs import TrainingSlot
from ganlab.lab.settings import LabSettings
from ganlab.lab.sources import STUDENT_CHOICES, HubModels, LoadedModel, StudentShelf, hub_requests, load_model
from ganlab.lab.views import model_notes
from ganlab.paths import bundled

# this request's Hub choice: ({role: (repo, revision)}, {role: the model once loaded}), or None
_VISITOR_MODELS: ContextVar[tuple[dict[str, list[str]], dict[str, LoadedModel]] | None] = ContextVar(
    "ganlab_visitor_models", default=None
)


def checked_choice(models: Any) -> dict[str, list[str]]:
    """A visitor's Hub picks as {role: [repo, revision]} (their dataset aside), or a GanlabError for anything else."""
    if not models:
        return {}
    if not isinstance(models, dict) or not set(models) <= {"teacher", "student", "dataset"}:
        raise GanlabError("the models choice must map 'teacher' and/or 'student' to [repo, revision] (and 'dataset' to a name)")
    picks = {role: pair for role, pair in models.items() if role != "dataset"}
    for pair in picks.values():
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(part, str) for part in pair)):
            raise GanlabError("the models choice must map 'teacher' and/or 'student' to [repo, revision]")
    return {role: list(pair) for role, pair in picks.items()}


def chosen_dataset(models: Any) -> str | None:
    """The dataset a visitor's choice names (None: MNIST); checked when made current (scope.using)."""
    dataset = models.get("dataset") if isinstance(models, dict) else None
    if dataset is not None and not isinstance(dataset, str):
        raise GanlabError("the models choice's 'dataset' must be a dataset name")
    return dataset


def same_dataset(loaded: LoadedModel) -> LoadedModel:
    """`loaded`, if it learned this request's dataset (or does not say); else one line saying which."""
    if loaded.dataset is not None and loaded.dataset != current_dataset():
        learned, here = get_dataset(loaded.dataset).title if loaded.dataset in DATASETS else loaded.dataset, get_dataset(current_dataset()).title
        raise GanlabError(f"{loaded.source} learned {learned}, not {here}: choose {learned} above to use it, or load a {here} {loaded.role}")
    return loaded


class ModelChoice:
    """The app's teacher and student, the Hub models visitors loaded, and the Student menu's models."""

    def __init__(self, settings: LabSettings, *, slot: TrainingSlot, folders: RunFolders, warm_up: Callable[[LoadedModel], None]) -> None:
        self.slot, self.folders = slot, folders
        self.app_teacher = load_model("teacher", path=settings.teacher or None, repo=settings.teacher_repo, revision=settings.teacher_revision)
        self.app_student = load_model("student", path=settings.student or None, repo=settings.student_repo, revision=settings.student_revision)
        self.students = StudentShelf(warm_up)
        self.hub_models = HubModels(warm_up)  # shared by key, bounded (HUB_CACHE_SIZE)
        self._warm_up = warm_up
        self._bundled: dict[tuple[str, str], LoadedModel] = {}  # (dataset, role) -> another dataset's bundled model
        self._lock = threading.Lock()

    def app_model(self, role: str) -> LoadedModel:
        """The app's teacher or student of this request's dataset: MNIST's as configured, another's bundled
        one (checkpoints/<dataset>/...), loaded on first use and kept (a few MB each)."""
        dataset = current_dataset()
        if dataset == DEFAULT_DATASET:
            return self.app_teacher if role == "teacher" else self.app_student
        with self._lock:
            loaded = self._bundled.get((dataset, role))
            if loaded is None:
                loaded = load_model(role, path=bundled(dataset)[role])
                if loaded.trained:  # an untrained stand-in is not kept: a checkpoint added later is found
                    self._warm_up(loaded)
                    self._bundled[(dataset, role)] = loaded
        return loaded

    @contextmanager
    def visitor(self, models: dict[str, Any] | None) -> Iterator[None]:
        """Within the block, `teacher` and `student` are the Hub models this visitor chose (a gr.State's value).

        The choice is checked here and loaded only when the request first uses the model, so that a
        request refused for its other inputs (or a busy slot) never starts a download.
        """
        chosen = checked_choice(models)
        with using_dataset(chosen_dataset(models)):
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
            loaded[role] = same_dataset(self.hub_models.get(role, *pairs[role]))
        return loaded[role]

    @property
    def teacher(self) -> LoadedModel:
        """The teacher Compare shows: the visitor's Hub choice inside `visitor(...)`, else the app's."""
        return self._chosen("teacher") or self.app_model("teacher")

    @property
    def student(self) -> LoadedModel:
        """The bundled-student choice: the visitor's Hub choice inside `visitor(...)`, else the app's."""
        return self._chosen("student") or self.app_model("student")

    def student_for(self, choice: str) -> LoadedModel:
        """The Student menu's model: the bundled (or visitor's) student, the last run's student or baseline, the original loss."""
        if choice in (None, "", STUDENT_CHOICES[0]):
            return self.student  # the visitor's Hub student is loaded only when this choice asks for it
        run = self.slot.current()
        if run is not None and choice in STUDENT_CHOICES[1:3] and run.request.dataset != current_dataset():
            raise GanlabError(f"the last run trained on {get_dataset(run.request.dataset).title}: choose that dataset to see its {choice.split()[-1]}")
        if choice == STUDENT_CHOICES[3] and current_dataset() != DEFAULT_DATASET:
            raise GanlabError(f"the original-loss student is MNIST's; {get_dataset(current_dataset()).title} has none")
        folder = None if run is None else run.output_dir
        with self.folders.lease(folder):  # a new run never deletes the folder this reads
            return self.students.choose(choice, self.app_student, folder, "" if run is None else run.id)

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
        with using_dataset(chosen_dataset(models)):  # a model of another dataset is refused before the choice changes
            loaded = {role: same_dataset(self.hub_models.get(role, repo, revision)) for role, repo, revision in requests}
        choice = {**checked_choice(models), **{role: [repo, revision] for role, repo, revision in requests}}
        if chosen_dataset(models):
            choice["dataset"] = chosen_dataset(models)
        return "Loaded " + ", ".join(f"{role} from {model.source}" for role, model in loaded.items()), choice

    def notes(self) -> str:
        """Markdown warning lines for any model that is untrained (empty when all are trained)."""
        return model_notes((self.teacher, self.student))
