"""Checkpoints: model.safetensors + config.json (+ training.json), written atomically.

The model config is also stored in the safetensors header, so a lone .safetensors file
rebuilds its own model too. Loading never unpickles and is strict: every tensor must be
present with the right shape, and nothing unexpected may be there. Which model a config
builds is ganlab.registry; untrusted JSON is ganlab.safe_json; where bundled files live is
ganlab.paths; file safety is ganlab.outputs (their names are importable from here too).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ganlab.classifier import Classifier
from ganlab.config import config_from_dict
from ganlab.datasets import DEFAULT_DATASET, get_dataset
from ganlab.errors import GanlabError
from ganlab.models import Generator
from ganlab.registry import build_model, parameter_count

# their earlier home: scripts and tests import them from here
from ganlab.outputs import atomic_write_bytes, atomic_write_json, check_input_path, check_output_file, check_output_folder  # noqa: F401
from ganlab.paths import BUNDLED, CLASSIFIER_PATH, REPO_ROOT, display_path, resolve_model_path  # noqa: F401
from ganlab.safe_json import MAX_JSON_DEPTH, MAX_JSON_DIGITS, parse_json, read_json  # noqa: F401

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
TRAINING_NAME = "training.json"
FORMAT_VERSION = 1

# Bounds on the JSON a checkpoint carries, which may come from anyone's Hub repo
MAX_CONFIG_BYTES = 64 * 1024
MAX_TRAINING_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024  # a safetensors header: tensor names, shapes and the config (a few KB)

# safetensors' names for the dtypes a ganlab model holds (float weights, BN's int64 step counter)
_DTYPE_NAMES = {torch.float32: "F32", torch.int64: "I64"}


def model_config(model: nn.Module):
    config = getattr(model, "config", None)
    if not hasattr(config, "to_dict"):
        raise TypeError(f"{type(model).__name__} carries no ganlab config")
    return config


def save_checkpoint(
    model: nn.Module, directory: str | os.PathLike, *, training: dict[str, Any] | None = None
) -> Path:
    """Save weights, config and (optionally) how the model was trained into `directory`."""
    directory = Path(directory)
    config = model_config(model).to_dict()
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    metadata = {"config": json.dumps(config), "format_version": str(FORMAT_VERSION)}
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        # safetensors writes by path; write beside the target and rename over it
        staged = Path(scratch) / WEIGHTS_NAME
        save_file(tensors, str(staged), metadata=metadata)
        os.chmod(staged, 0o644)  # readable by the app's user, like any other checkpoint file
        os.replace(staged, directory / WEIGHTS_NAME)
    atomic_write_json(directory / CONFIG_NAME, config)
    if training is not None:
        atomic_write_json(directory / TRAINING_NAME, training)
    return directory


def _resolve(path: str | os.PathLike) -> tuple[Path, Path | None]:
    """(weights file, config.json or None) for a checkpoint folder or a .safetensors file."""
    path = Path(path)
    if path.is_dir():
        weights = path / WEIGHTS_NAME
        if not weights.is_file():
            raise GanlabError(f"checkpoint folder {path} has no {WEIGHTS_NAME}")
        config = path / CONFIG_NAME
        return weights, config if config.is_file() else None
    if path.is_file():
        if path.suffix != ".safetensors":
            raise GanlabError(
                f"{path} is not a .safetensors file or a checkpoint folder (pickled .pt/.pth files are refused)"
            )
        return path, None
    raise GanlabError(f"checkpoint {path} does not exist")


def read_config(path: str | os.PathLike):
    """The model config of a checkpoint folder or .safetensors file."""
    weights, config_path = _resolve(path)
    if config_path is not None:
        return config_from_dict(read_json(config_path, max_bytes=MAX_CONFIG_BYTES))
    try:
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise GanlabError(f"{weights} is not a readable safetensors file: {error}") from None
    if "config" not in metadata:
        raise GanlabError(f"{weights} carries no ganlab config; keep config.json beside it")
    if len(metadata["config"]) > MAX_CONFIG_BYTES:
        raise GanlabError(f"{weights} has a config of more than {MAX_CONFIG_BYTES:,} bytes in its header")
    return config_from_dict(parse_json(metadata["config"], source=f"the config in {weights}'s header"))


def _unreadable(weights: Path, error: Exception) -> GanlabError:
    return GanlabError(f"{weights} is not a readable safetensors file ({error}); re-download or retrain it")


def max_weights_bytes(config) -> int:
    """The largest model.safetensors `config` can describe: float32 weights and BatchNorm
    statistics (4 bytes each), a few int64 counters, and the header (bundled teacher: 7,848,720
    bytes for 4 x 1,961,728)."""
    return 4 * parameter_count(config) + 8 * 64 + MAX_HEADER_BYTES


def check_header(weights: Path, expected: dict[str, torch.Tensor]) -> None:
    """Compare the tensor names, shapes and dtypes in `weights`' header with `expected`.

    Only the header is read, so a file that declares other (or huge) tensors is refused
    before any tensor is loaded into memory.
    """
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as handle:
            header = {}
            for name in handle.keys():
                piece = handle.get_slice(name)  # header only: (shape, dtype) without the data
                header[name] = (tuple(piece.get_shape()), piece.get_dtype())
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise _unreadable(weights, error) from None
    missing = sorted(set(expected) - set(header))
    unexpected = sorted(set(header) - set(expected))
    if missing or unexpected:
        raise GanlabError(
            f"{weights} does not match its config: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    for name, (shape, dtype) in header.items():
        if shape != tuple(expected[name].shape):
            raise GanlabError(
                f"{weights}: tensor {name} has shape {shape}, config expects {tuple(expected[name].shape)}"
            )
        wanted = _DTYPE_NAMES.get(expected[name].dtype, str(expected[name].dtype))
        if dtype != wanted:
            raise GanlabError(f"{weights}: tensor {name} is {dtype}, config expects {wanted}")


def load_state_strict(model: nn.Module, weights: Path) -> None:
    """Load `weights` into `model`, refusing missing, unexpected, mis-shaped or impossible tensors."""
    expected = model.state_dict()
    check_header(weights, expected)
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise _unreadable(weights, error) from None
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise GanlabError(f"{weights}: tensor {name} holds NaN or inf values")
        if name.endswith("running_var") and not (tensor > 0).all():
            # a variance is positive: a negative one makes BatchNorm divide by sqrt(< 0) = NaN
            count = int((tensor <= 0).sum())
            raise GanlabError(f"{weights}: BatchNorm variance {name} holds {count} values <= 0; re-download or retrain it")
    model.load_state_dict(tensors, strict=True)


def load_checkpoint(path: str | os.PathLike, *, expect: str | None = None, device: str = "cpu") -> nn.Module:
    """Rebuild the model a checkpoint describes, in eval mode.

    expect="generator" or "discriminator" refuses a checkpoint of another kind.
    """
    weights, _ = _resolve(path)
    config = read_config(path)
    if expect is not None and config.kind != expect:
        raise GanlabError(f"{path} holds a {config.kind}, not a {expect}")
    model = build_model(config)
    load_state_strict(model, weights)
    model.eval()
    if isinstance(model, Generator):
        # weights that load but hold NaN/inf (or overflow) would draw blank grids everywhere downstream
        with torch.no_grad():
            probe = model(torch.randn(2, model.latent_dim, generator=torch.Generator().manual_seed(0)))
        if not torch.isfinite(probe).all():
            raise GanlabError(f"{path} loads, but its generator draws NaN or infinite pixels: its weights are broken")
    return model.to(device)


def read_training_info(path: str | os.PathLike) -> dict[str, Any]:
    """training.json of a checkpoint folder, or {} when absent or unreadable."""
    info = Path(path) / TRAINING_NAME
    if not info.is_file():
        return {}
    try:
        data = read_json(info, max_bytes=MAX_TRAINING_BYTES)
    except GanlabError:
        return {}
    return data if isinstance(data, dict) else {}


def recorded_dataset(training: dict[str, Any]) -> str:
    """The dataset a checkpoint learned, from its training.json (its train_config, or a classifier's
    own record); MNIST for checkpoints written before either said."""
    config = training.get("train_config")
    name = (config.get("dataset") if isinstance(config, dict) else None) or training.get("dataset") or DEFAULT_DATASET
    return name if isinstance(name, str) else DEFAULT_DATASET


def check_same_dataset(path: str | os.PathLike, dataset: str, role: str) -> None:
    """Refuse, in one line, a checkpoint at `path` (a folder, or a weights file in one) that learned
    another dataset than `dataset`. Without a training.json nothing is known, and nothing refused."""
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    training = read_training_info(folder)
    learned = recorded_dataset(training)
    if training and learned != dataset:
        raise GanlabError(f"the {role} at {display_path(path)} learned {learned}, not {dataset}: choose a {role} trained on {dataset}")


def load_classifier(path: str | os.PathLike | None = None, *, device: str = "cpu", dataset: str = DEFAULT_DATASET) -> Classifier:
    """The trained evaluation classifier (default: the dataset's, checkpoints/classifier for MNIST), in eval mode."""
    path = Path(path) if path is not None else REPO_ROOT / get_dataset(dataset).classifier
    if not path.exists():
        raise GanlabError(
            f"no evaluation classifier at {path}: run `python scripts/train_classifier.py --dataset {dataset}` "
            f"(about 5 minutes on 2 CPU cores) or restore {get_dataset(dataset).classifier} from git"
        )
    model = load_checkpoint(path, expect="classifier", device=device)
    if not isinstance(model, Classifier):
        raise GanlabError(f"{path} does not hold an evaluation classifier")
    return model.to(memory_format=torch.channels_last)  # see Classifier.forward
