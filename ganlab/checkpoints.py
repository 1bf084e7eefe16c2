"""Checkpoints: model.safetensors + config.json (+ training.json), written atomically.

The model config is also stored in the safetensors header, so a lone .safetensors file
rebuilds its own model too. Loading never unpickles and is strict: every tensor must be
present with the right shape, and nothing unexpected may be there.
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

from ganlab.config import config_from_dict
from ganlab.errors import GanlabError
from ganlab.models import build_model

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
TRAINING_NAME = "training.json"
FORMAT_VERSION = 1

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED = {
    "teacher": REPO_ROOT / "checkpoints" / "teacher",
    "student": REPO_ROOT / "checkpoints" / "student",
    "baseline": REPO_ROOT / "checkpoints" / "student-baseline",
    # the original design's loss: 0.5 adversarial + 0.5 MSE on the 14x14x64 features only
    "original": REPO_ROOT / "checkpoints" / "student-original",
}


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes owner-only files; these are shared artefacts
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


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
        try:
            data = json.loads(config_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise GanlabError(f"{config_path} is not valid JSON: {error}") from None
        return config_from_dict(data)
    try:
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise GanlabError(f"{weights} is not a readable safetensors file: {error}") from None
    if "config" not in metadata:
        raise GanlabError(f"{weights} carries no ganlab config; keep config.json beside it")
    try:
        return config_from_dict(json.loads(metadata["config"]))
    except json.JSONDecodeError as error:
        raise GanlabError(f"{weights} has a malformed config in its header: {error}") from None


def load_state_strict(model: nn.Module, weights: Path) -> None:
    """Load `weights` into `model`, refusing missing, unexpected or mis-shaped tensors."""
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise GanlabError(f"{weights} is not a readable safetensors file ({error}); re-download or retrain it") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise GanlabError(
            f"{weights} does not match its config: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise GanlabError(
                f"{weights}: tensor {name} has shape {tuple(tensor.shape)}, config expects {tuple(expected[name].shape)}"
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise GanlabError(f"{weights}: tensor {name} holds NaN or inf values")
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
    return model.to(device).eval()


def read_training_info(path: str | os.PathLike) -> dict[str, Any]:
    """training.json of a checkpoint folder, or {} when absent or unreadable."""
    info = Path(path) / TRAINING_NAME
    try:
        return json.loads(info.read_text())
    except (OSError, ValueError):
        return {}


def display_path(path: str | os.PathLike) -> str:
    """A path as results files record it: relative to the repo when inside it (no machine paths)."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def resolve_model_path(name_or_path: str) -> Path:
    """A name in BUNDLED ('teacher', 'student', 'baseline', 'original') -> its folder; else a path."""
    if name_or_path in BUNDLED:
        return BUNDLED[name_or_path]
    path = Path(name_or_path)
    if not path.exists() and os.sep not in name_or_path and "/" not in name_or_path:
        # a bare word that is neither a bundled name nor a file: most likely a typo of a name
        raise GanlabError(f"no checkpoint named {name_or_path!r}: use {' | '.join(BUNDLED)} or a checkpoint path")
    return path
