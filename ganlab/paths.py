"""Where the repository's own files are: the bundled checkpoints and how results name a path."""

from __future__ import annotations

import os
from pathlib import Path

from ganlab.datasets import MNIST, get_dataset
from ganlab.errors import GanlabError
from ganlab.outputs import check_input_path

REPO_ROOT = Path(__file__).resolve().parent.parent
# the names a checkpoint argument may use for a dataset's bundled models, and their folders in its models_dir
BUNDLED_FOLDERS = {
    "teacher": "teacher",
    "student": "student",
    "baseline": "student-baseline",
    # the original design's loss: 0.5 adversarial + 0.5 MSE on the 14x14x64 features only (MNIST only)
    "original": "student-original",
}


def models_file(dataset: str, name: str) -> Path:
    """`name` in `dataset`'s models folder (checkpoints/ for MNIST): its bundled models and measured JSON files."""
    return REPO_ROOT / get_dataset(dataset).models_dir / name


def bundled(dataset: str = MNIST.name) -> dict[str, Path]:
    """The bundled models' folders of `dataset`, by name."""
    return {name: models_file(dataset, folder) for name, folder in BUNDLED_FOLDERS.items()}


BUNDLED = bundled()  # MNIST's
CLASSIFIER_PATH = REPO_ROOT / MNIST.classifier  # MNIST's evaluation classifier (each dataset names its own)


def display_path(path: str | os.PathLike) -> str:
    """A path as results files record it: relative to the repo when inside it (no machine paths)."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def resolve_model_path(name_or_path: str, dataset: str = MNIST.name) -> Path:
    """A bundled name ('teacher', 'student', 'baseline', 'original') -> that model of `dataset`; else a path."""
    if name_or_path in BUNDLED:
        return BUNDLED[name_or_path] if dataset == MNIST.name else bundled(dataset)[name_or_path]
    if not str(name_or_path).strip():
        raise GanlabError(f"the checkpoint name is empty: use {' | '.join(BUNDLED)} or a checkpoint path")
    path = check_input_path(name_or_path, "checkpoint")  # a name over 255 bytes is one line, not ENAMETOOLONG
    if not path.exists() and os.sep not in name_or_path and "/" not in name_or_path:
        # a bare word that is neither a bundled name nor a file: most likely a typo of a name
        raise GanlabError(f"no checkpoint named {name_or_path!r}: use {' | '.join(BUNDLED)} or a checkpoint path")
    return path
