"""Where the Lab's generators come from: the one place that resolves a model name, folder or Hub repo.

Compare shows a teacher and a student; each comes from an explicit folder, else a Hub repo named
in the environment, else the bundled checkpoint, else an untrained model whose note says why (the
app must start whatever is missing). The student menu also names the last run's models and the
bundled student trained with the original loss.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ganlab.checkpoints import BUNDLED, REPO_ROOT, WEIGHTS_NAME, display_path, load_checkpoint, read_training_info
from ganlab.config import LATENT_DIM, GeneratorConfig
from ganlab.datasets import DEFAULT_DATASET
from ganlab.errors import GanlabError
from ganlab.models import Generator, count_parameters, init_weights

STUDENT_CHOICES = ("bundled student", "last run's student", "last run's baseline", "bundled student, original loss (α 0.5)")


@dataclass
class LoadedModel:
    """A generator plus what the UI says about it."""

    role: str  # "teacher" or "student"
    model: Generator
    trained: bool
    source: str  # a folder, a Hub repo, or "untrained"
    note: str = ""  # why it is untrained, when it is
    size_bytes: int = 0
    dataset: str | None = None  # what a Hub model's training.json says it learned (None: not said)

    @property
    def parameters(self) -> int:
        return count_parameters(self.model)["keras"]

    @property
    def label(self) -> str:
        return self.role if self.trained else f"{self.role} (untrained)"


def _safetensors_size(model: Generator) -> int:
    from safetensors.torch import save

    return len(save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}))


def _same_noise(model: Generator, where: str) -> Generator:
    """`model`, if it takes the Lab's noise: both grids are drawn from one z of LATENT_DIM numbers."""
    if model.latent_dim != LATENT_DIM:
        raise GanlabError(f"{where} takes {model.latent_dim}-number noise; the lab draws every model from the same {LATENT_DIM}-number z")
    return model


def load_from_folder(role: str, folder: Path) -> LoadedModel:
    model = _same_noise(load_checkpoint(folder, expect="generator"), display_path(folder))
    weights = folder / WEIGHTS_NAME if folder.is_dir() else folder
    return LoadedModel(role, model, True, display_path(folder), size_bytes=weights.stat().st_size)


def load_from_hub(
    role: str, repo: str, revision: str | None = None, cache_dir: str | None = None, *,
    token: bool | str | None = None, max_multiply_adds: int | None = None,
) -> LoadedModel:
    from ganlab.hub import from_hub

    model = from_hub(  # never a local path
        repo, revision=revision or None, expect="generator", cache_dir=cache_dir, token=token, max_multiply_adds=max_multiply_adds
    )
    where = f"hub:{repo}" + (f"@{revision}" if revision else "")
    _same_noise(model, f"Hub repo {repo}")
    return LoadedModel(role, model, True, where, size_bytes=_safetensors_size(model), dataset=_hub_dataset(repo, revision, cache_dir))


def _hub_dataset(repo: str, revision: str | None, cache_dir: str | None) -> str | None:
    """The dataset the repo's training.json records, read from the cache the download just filled
    (no request); None when the repo has no training.json."""
    from huggingface_hub import try_to_load_from_cache

    from ganlab.checkpoints import TRAINING_NAME, recorded_dataset

    path = try_to_load_from_cache(repo, TRAINING_NAME, cache_dir=cache_dir, revision=revision or None)
    training = read_training_info(Path(path).parent) if isinstance(path, str) else {}
    return recorded_dataset(training) if training else None


def load_model(
    role: str, *, path: str | os.PathLike | None = None, repo: str = "", revision: str = ""
) -> LoadedModel:
    """The teacher or student for Compare: an explicit folder, else the Hub repo, else the bundled one.

    Never raises: a missing or broken checkpoint gives an untrained model whose `note` says why,
    so the app still starts.
    """
    attempts: list[str] = []
    sources: list[tuple[str, Callable[[], LoadedModel]]] = []
    if path:
        sources.append((str(path), lambda: load_from_folder(role, Path(path))))
    else:
        # a Space points at newer weights through the environment; offline, the bundled ones serve
        if repo:
            sources.append((repo, lambda: load_from_hub(role, repo, revision)))
        bundled = BUNDLED[role]
        if (bundled / WEIGHTS_NAME).is_file():
            sources.append((str(bundled), lambda: load_from_folder(role, bundled)))
        else:
            attempts.append(f"{bundled.relative_to(REPO_ROOT)} has no {WEIGHTS_NAME}")
    for where, load in sources:
        try:
            loaded = load()
            loaded.note = "; ".join(attempts)  # why an earlier source was passed over, if one was
            return loaded
        except Exception as error:  # a bad file, no network, no hub module: the app must still start
            attempts.append(f"{where}: {error}")
    model = Generator(GeneratorConfig.teacher() if role == "teacher" else GeneratorConfig.student()).eval()
    init_weights(model, torch.Generator().manual_seed(0))
    note = "; ".join(attempts) or "no checkpoint configured"
    return LoadedModel(role, model, False, "untrained", note=note, size_bytes=_safetensors_size(model))


def load_optional_classifier(dataset: str = DEFAULT_DATASET) -> torch.nn.Module | None:
    """The dataset's evaluation classifier when its module and checkpoint exist, else None."""
    try:
        from ganlab.checkpoints import load_classifier

        return load_classifier(dataset=dataset).eval()
    except Exception:  # absent or unreadable: Compare simply shows no predicted digits
        return None


HUB_CACHE_SIZE = 4  # Hub models held in memory for all visitors together, least recently used out
HUB_LOADS_AT_ONCE = 2  # downloads (and their models being built) in flight, for all visitors together
HUB_LOAD_WAIT_S = 60.0  # how long a load waits for a free place before it says the loader is busy
HUB_DOWNLOAD_WAIT_S = 120.0  # and how long a request waits on top of that for another's load of the same repo
# what one image of a visitor's Hub generator may cost: 4x the teacher design's 33.6 M multiply-adds
# (a teacher twice as wide fits). The parameter budget alone let a 7-stage model at 7x7 through
# that drew 50x slower than the teacher (measured 86 ms against 1.7 ms per image, 1 thread), and
# a Compare digit search of 8,192 candidates with it would hold the shared queue for ~12 minutes.
HUB_MAX_MULTIPLY_ADDS = 4 * GeneratorConfig.teacher().multiply_adds()


class HubModels:
    """Generators loaded from the Hub, shared by every visitor who asks for the same (repo, revision).

    A small LRU cache: a visitor's choice names a key, not a model, so an evicted model is simply
    loaded again the next time that visitor draws with it. `warm_up` runs once per loaded model.
    Each download goes to a temporary folder removed once the weights are in memory. Memory and
    disk stay bounded however many requests arrive at once: one load per key is in flight (the
    others wait for it and take its model, or its error), and at most HUB_LOADS_AT_ONCE loads
    run together.
    Loads are anonymous (no token): a Space's HF_TOKEN must not open its owner's private repos
    to whoever types their names.
    """

    def __init__(self, warm_up: Callable[[LoadedModel], None], *, size: int = HUB_CACHE_SIZE) -> None:
        self._warm_up = warm_up
        self.size = size
        self._models: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str], Future] = {}  # the load in flight for each key
        self._slots = threading.BoundedSemaphore(HUB_LOADS_AT_ONCE)

    def get(self, role: str, repo: str, revision: str = "") -> LoadedModel:
        """The generator of `repo` at `revision` labelled as `role`, loaded (and warmed) on first use."""
        key = (repo, revision or "")
        with self._lock:
            loaded = self._models.get(key)
            if loaded is not None:
                self._models.move_to_end(key)
            else:
                future = self._loading.get(key)
                loading_here = future is None
                if loading_here:  # the first request for this key loads it; later ones wait for its outcome
                    future = self._loading[key] = Future()
        if loaded is None and loading_here:
            try:
                loaded = self._load(role, key)
                future.set_result(loaded)
            except BaseException as error:  # the waiters get the same one-line error, not a load of their own
                future.set_exception(error)
                raise
            finally:
                with self._lock:
                    del self._loading[key]
        elif loaded is None:
            try:
                loaded = future.result(timeout=HUB_LOAD_WAIT_S + HUB_DOWNLOAD_WAIT_S)
            except FutureTimeout:
                raise GanlabError(f"Hub repo {repo} is still loading for another visitor; try again in a minute") from None
        return loaded if loaded.role == role else replace(loaded, role=role)

    def _load(self, role: str, key: tuple[str, str]) -> LoadedModel:
        repo, revision = key
        if not self._slots.acquire(timeout=HUB_LOAD_WAIT_S):
            raise GanlabError("the Hub loader is busy with other visitors' downloads; try again in a minute")
        try:
            with tempfile.TemporaryDirectory(prefix="ganlab-hub-") as cache:  # outside the cache lock: seconds
                loaded = load_from_hub(
                    role, repo, revision or None, cache_dir=cache, token=False, max_multiply_adds=HUB_MAX_MULTIPLY_ADDS
                )
            self._warm_up(loaded)
        finally:
            self._slots.release()
        with self._lock:
            self._models[key] = loaded
            self._models.move_to_end(key)
            while len(self._models) > self.size:
                self._models.popitem(last=False)
        return loaded

    def keys(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._models)


def hub_requests(teacher_repo, teacher_revision, student_repo, student_revision) -> list[tuple[str, str, str]]:
    """(role, repo, revision) for each Hub repo the panel names (at least one), checked, or a GanlabError."""
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
    return [(role, repo, revision or "") for role, repo, revision in requests]


class StudentShelf:
    """The students the Compare menu names, loaded on first use and kept until their files change.

    `warm_up` runs once per newly loaded model (Sampler.warm_up).
    """

    def __init__(self, warm_up: Callable[[LoadedModel], None]) -> None:
        self._warm_up = warm_up
        self._run_models: dict[str, tuple[float, LoadedModel]] = {}
        self._original: LoadedModel | None = None
        self._lock = threading.Lock()  # a visitor's start_run forgets while another's Compare chooses

    def forget_runs(self) -> None:
        """A new run replaces the previous run's files."""
        with self._lock:
            self._run_models.clear()

    def choose(self, choice: str, bundled: LoadedModel, run_dir: Path | None, run_id: str = "") -> LoadedModel:
        """The student `choice` names; `run_dir` is the last run's output folder, if any."""
        if choice in (None, "", STUDENT_CHOICES[0]):
            return bundled
        if choice not in STUDENT_CHOICES:
            raise GanlabError(f"student must be one of {', '.join(STUDENT_CHOICES)}, got {choice!r}")
        if choice == STUDENT_CHOICES[3]:
            return self._original_student()
        which = "baseline" if choice == STUDENT_CHOICES[2] else "student"
        folder = None if run_dir is None else run_dir / which
        if folder is None or not (folder / WEIGHTS_NAME).is_file():
            raise GanlabError(f"there is no {choice!r} yet: finish a run in the Distill tab first")
        mtime = (folder / WEIGHTS_NAME).stat().st_mtime
        with self._lock:
            cached = self._run_models.get(which)
        if cached is not None and cached[0] == mtime and cached[1].source == str(folder):
            return cached[1]
        info = read_training_info(folder)
        loaded = load_from_folder("student", folder)
        loaded.note = f"{which} of run {run_id}: {info.get('steps', '?')} steps"
        self._warm_up(loaded)
        with self._lock:
            self._run_models[which] = (mtime, loaded)
        return loaded

    def _original_student(self) -> LoadedModel:
        """The bundled student trained with the original design's loss, loaded on first use."""
        if self._original is None:
            folder = BUNDLED["original"]
            if not (folder / WEIGHTS_NAME).is_file():
                raise GanlabError(f"{display_path(folder)} has no {WEIGHTS_NAME}: this copy of ganlab lacks that checkpoint")
            loaded = load_from_folder("student", folder)
            loaded.note = "original loss: 0.5·adversarial + 0.5·MSE on the 14×14×64 features"
            self._warm_up(loaded)
            self._original = loaded
        return self._original
