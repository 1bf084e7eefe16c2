"""This process's files: one folder for it, the run folders inside, the PNGs the app serves.

On a public Space many visitors share one process, so every file the app writes lives in a
folder made for this process alone (`process_folder`): a second app on the same machine has
its own, and Gradio is allowed to serve that folder and nothing wider.

Bounds (docs/reliability.md lists them with the app's other limits):
- Run folders: kept per owner, so one visitor's starts never delete another's run: each owner's
  last `KEEP_RUNS` stay until `RUN_MAX_AGE_S` old, and at most `MAX_RUN_FOLDERS` are on disk (the
  oldest go first past that). A folder goes only once no request holds it (`RunFolders.lease`)
  and its checkpoint was last handed out for download more than `HANDED_OUT_GRACE_S` ago, so a
  request in flight never meets a deleted file.
- PNGs: one file per content (a hash of the PNG's bytes), written once under a temporary name
  and renamed into place, never rewritten while a client downloads it; a file not handed out
  for `IMAGE_MAX_AGE_S` is deleted, and at most `MAX_IMAGES` are kept (plus any handed out in the
  last `MIN_IMAGE_AGE_S`). The walk's GIFs and Compare's zips of PNGs are kept the same way.
- ONNX files: one export per model (keyed by a digest of its config and weights), at most
  `KEEP_ONNX` on disk; the least recently handed out goes first, never one handed out in the
  last `HANDED_OUT_GRACE_S`.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from torch import nn

from ganlab.checkpoints import REPO_ROOT, atomic_write_bytes
from ganlab.errors import GanlabError

KEEP_RUNS = 4  # run folders kept per owner: their current run and the three before it
RUN_MAX_AGE_S = 3600.0  # a run folder older than this goes (an hour to look at and push a finished run)
MAX_RUN_FOLDERS = 64  # and at most this many on disk for all owners together (~3 MB each)
HANDED_OUT_GRACE_S = 120.0  # an older run folder whose checkpoint was offered for download this recently stays
IMAGE_MAX_AGE_S = 900.0  # a served PNG nobody was handed for this long is deleted
MAX_IMAGES = 2000  # at most this many PNGs on disk (a 256-sample grid is ~170 KB: ~340 MB at worst)
MIN_IMAGE_AGE_S = 60.0  # ... but one handed out this recently stays even above MAX_IMAGES (a client may be fetching it)
PRUNE_EVERY_S = 30.0  # how often writing a PNG also looks for old ones
KEEP_ONNX = 4  # ONNX files kept: the teacher's and the student's, and a pair from models loaded before


def process_folder(parent: str | os.PathLike | None = None) -> Path:
    """A new folder for this process's files, inside `parent` (GANLAB_RUNS_DIR) or the OS temp dir.

    Refuses a GANLAB_RUNS_DIR that is the repository or contains it: only the new folder is served,
    but a runs directory around the repo says the setting is wrong (a repo under the OS temp dir
    is fine: the folder made there is new and empty).
    """
    if parent:
        from ganlab.outputs import check_output_folder

        check_output_folder(parent)  # a file, a read-only folder or a symlink loop: one line at start
    base = Path(parent).expanduser().resolve() if parent else Path(tempfile.gettempdir()).resolve()
    if parent and (base == REPO_ROOT or base in REPO_ROOT.parents):
        raise GanlabError(
            f"GANLAB_RUNS_DIR must not be the repository or a folder that contains it (got {base}); "
            "leave it unset for a folder under the OS temp dir, or name a folder of its own"
        )
    try:
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="ganlab-", dir=base))
    except OSError as error:
        raise GanlabError(f"GANLAB_RUNS_DIR {base} cannot hold the app's folder ({error.strerror or error}): name a writable folder") from None


class RunFolders:
    """The run folders of one process, deleted only when no request can still reach them."""

    def __init__(
        self, root: Path, *, keep: int = KEEP_RUNS, grace_s: float = HANDED_OUT_GRACE_S,
        max_age_s: float = RUN_MAX_AGE_S, max_folders: int = MAX_RUN_FOLDERS,
    ) -> None:  # fmt: skip
        self.root = root
        self.keep = keep
        self.grace_s = grace_s
        self.max_age_s = max_age_s
        self.max_folders = max_folders
        self._lock = threading.Lock()
        self._order: list[Path] = []  # oldest first
        self._owners: dict[Path, str] = {}
        self._created: dict[Path, float] = {}
        self._leases: dict[Path, int] = {}
        self._handed_out: dict[Path, float] = {}

    def new(self, run_id: str, owner: str = "") -> Path:
        """The folder of `owner`'s new run (not yet created), after deleting old ones nobody holds."""
        folder = self.root / f"run-{run_id}"
        with self._lock:
            self._order.append(folder)
            self._owners[folder] = owner
            self._created[folder] = time.monotonic()
            self._prune()
        return folder

    @contextmanager
    def lease(self, folder: Path | None) -> Iterator[None]:
        """Hold `folder` on disk while the block runs (a request reading a run's checkpoint)."""
        if folder is None:
            yield
            return
        with self._lock:
            self._leases[folder] = self._leases.get(folder, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._leases[folder] -= 1
                if not self._leases[folder]:
                    del self._leases[folder]

    def handed_out(self, folder: Path) -> None:
        """A response names a file in `folder`: Gradio copies it after the handler returns."""
        with self._lock:
            self._handed_out[folder] = time.monotonic()

    def folders(self) -> list[Path]:
        with self._lock:
            return list(self._order)

    def _expired(self, folder: Path, now: float) -> bool:
        """Past its owner's last `keep`, older than max_age_s, or among the oldest beyond max_folders."""
        owner = self._owners.get(folder, "")
        newer_of_owner = sum(1 for other in self._order[self._order.index(folder) + 1 :] if self._owners.get(other, "") == owner)
        over_total = self._order.index(folder) < len(self._order) - self.max_folders
        return newer_of_owner >= self.keep or now - self._created.get(folder, now) > self.max_age_s or over_total

    def _prune(self) -> None:
        now = time.monotonic()
        for folder in [folder for folder in self._order[:-1] if self._expired(folder, now)]:
            handed_out = self._handed_out.get(folder)
            if self._leases.get(folder) or (handed_out is not None and now - handed_out < self.grace_s):
                continue  # retried when the next run starts
            shutil.rmtree(folder, ignore_errors=True)
            self._order.remove(folder)
            for record in (self._handed_out, self._owners, self._created):
                record.pop(folder, None)


class ImageFiles:
    """PNG files for Gradio to serve as they are: one file per content, written once."""

    def __init__(self, folder: Path, *, max_age_s: float = IMAGE_MAX_AGE_S, max_files: int = MAX_IMAGES) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_age_s = max_age_s
        self.max_files = max_files
        self._lock = threading.Lock()
        self._handed_out: dict[str, float] = {}  # file name -> when a response last named it
        self._last_prune = time.monotonic()

    def png(self, image: np.ndarray | None) -> str | None:
        """The path of `image` (uint8, H x W) as a PNG; identical images share one file."""
        if image is None:
            return None
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
        return self.keep(buffer.getvalue(), ".png")

    def keep(self, data: bytes, suffix: str, *, prefix: str = "") -> str:
        """The path of a file holding `data` (a PNG, a GIF, a zip): one file per content, under the same bounds."""
        name = prefix + hashlib.sha256(data).hexdigest()[:32] + suffix
        path = self.folder / name
        with self._lock:
            self._handed_out[name] = time.monotonic()
            if not path.exists():
                # a temporary name renamed into place: a reader never sees a half-written file,
                # and an existing file is never opened for writing
                atomic_write_bytes(path, data, durable=False)
            if time.monotonic() - self._last_prune >= PRUNE_EVERY_S or len(self._handed_out) > self.max_files:
                self._prune()
        return str(path)

    def _prune(self) -> None:
        now = time.monotonic()
        self._last_prune = now
        by_age = sorted(self._handed_out.items(), key=lambda item: item[1])  # least recently handed out first
        excess = len(by_age) - self.max_files
        for index, (name, handed_out) in enumerate(by_age):
            age = now - handed_out
            if age < MIN_IMAGE_AGE_S or (age < self.max_age_s and index >= excess):
                break
            (self.folder / name).unlink(missing_ok=True)
            del self._handed_out[name]


class OnnxFiles:
    """ONNX exports of the models the app shows, made once per model and kept for download.

    An export takes seconds (torch.export, then onnxruntime checked against PyTorch on 256
    samples, see ganlab.export), so each model is exported once; a model loaded later (from the
    Hub) gets its own file, and older files go under the bounds in the module doc.
    """

    def __init__(self, folder: Path, *, keep: int = KEEP_ONNX, grace_s: float = HANDED_OUT_GRACE_S) -> None:
        self.folder = folder
        self.keep = keep
        self.grace_s = grace_s
        self._lock = threading.Lock()  # one export at a time: a second request for the same model reuses the file
        self._handed_out: dict[Path, float] = {}

    def path(self, role: str, model: nn.Module) -> Path:
        """`model` as a verified ONNX file named ganlab-<role>.onnx, exported on the first request only."""
        from ganlab.export import export_onnx

        file = self.folder / f"{role}-{model_digest(model)[:16]}" / f"ganlab-{role}.onnx"
        with self._lock:
            if not file.is_file():
                file.parent.mkdir(parents=True, exist_ok=True)
                export_onnx(model, file)  # written atomically, only once onnxruntime agrees with PyTorch
            self._handed_out[file] = time.monotonic()
            self._prune()
        return file

    def _prune(self) -> None:
        now = time.monotonic()
        by_age = sorted(self._handed_out.items(), key=lambda item: item[1])  # least recently handed out first
        for file, handed_out in by_age[: max(0, len(by_age) - self.keep)]:
            if now - handed_out < self.grace_s:
                break
            shutil.rmtree(file.parent, ignore_errors=True)
            del self._handed_out[file]


def model_digest(model: nn.Module) -> str:
    """A hex digest of a model's config and every tensor of its state dict: equal digests, equal models."""
    import json

    digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
