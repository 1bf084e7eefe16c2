"""The state a run resumes from: one safetensors file, tensors plus a JSON header, never a pickle.

It holds what the next step depends on: G, D, the EMA copy, any feature projections, both Adam
optimisers, both LR schedules, the step, the elapsed time, and every random stream (torch's
global one for dropout, the noise generator, the batch shuffler and its offset). Restoring it
makes `4 steps + resume + 4 steps` equal to 8 uninterrupted steps.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from ganlab.checkpoints import atomic_write_bytes, parse_json
from ganlab.config import MAX_STEPS
from ganlab.errors import GanlabError

STATE_NAME = "training-state.safetensors"
STATE_VERSION = 1

# TrainConfig fields a resumed run may change: how long and where it runs, not what it learns
# (with --lr-decay, steps only while the decay has not begun under either length: see check_resumable).
RESUMABLE_CHANGES = frozenset({"steps", "time_budget_s", "num_threads", "device", "sample_every", "checkpoint_every", "keep_every"})


def state_path(directory: str | os.PathLike) -> Path:
    return Path(directory) / STATE_NAME


def _flatten_optimizer(prefix: str, state_dict: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Optimizer tensors into `tensors` under prefix.index.name; the rest (param groups) as JSON."""
    for index, values in state_dict["state"].items():
        for name, value in values.items():
            tensors[f"{prefix}.{index}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return {"param_groups": state_dict["param_groups"]}


def _unflatten_optimizer(prefix: str, header: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    groups = [dict(group, betas=tuple(group["betas"])) if "betas" in group else group for group in header["param_groups"]]
    return {"state": state, "param_groups": groups}


def _module_tensors(prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    for name, value in module.state_dict().items():
        tensors[f"{prefix}.{name}"] = value.detach().cpu().contiguous()


def _module_state(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key[len(prefix) + 1 :]: value for key, value in tensors.items() if key.startswith(prefix + ".")}


def save_state(directory: str | os.PathLike, *, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
               schedulers: dict[str, Any], random: dict[str, torch.Tensor], header: dict[str, Any]) -> Path:
    """Write the state atomically (a temporary file renamed over the old one): a run cut off
    while saving leaves the previous state whole."""
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in modules.items():
        _module_tensors(prefix, module, tensors)
    header = dict(header, version=STATE_VERSION, optimizers={}, schedulers={})
    for prefix, optimizer in optimizers.items():
        header["optimizers"][prefix] = _flatten_optimizer(prefix, optimizer.state_dict(), tensors)
    for prefix, scheduler in schedulers.items():
        header["schedulers"][prefix] = scheduler.state_dict()
    for name, value in random.items():
        tensors[f"random.{name}"] = value.detach().cpu().contiguous()
    path = state_path(directory)
    atomic_write_bytes(path, save(tensors, metadata={"state": json.dumps(header)}))
    return path


def read_state(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(header, tensors) of a state file or of the folder holding one; one-line errors otherwise."""
    path = Path(path)
    if path.is_dir():
        path = state_path(path)
    if not path.is_file():
        raise GanlabError(f"no training state at {path}: train with --checkpoint-every N to write one")
    try:
        with safe_open(str(path), framework="pt") as handle:  # one read: header and tensors
            header = parse_json((handle.metadata() or {})["state"], source=f"the header of {path}")  # bounded depth
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except GanlabError:  # the header's own one-line reason (parse_json), not a class name
        raise
    except (SafetensorError, OSError, ValueError, KeyError, RuntimeError) as error:
        raise GanlabError(f"{path} is not a readable training state ({type(error).__name__}); resume from another folder or start anew") from None
    if not isinstance(header, dict) or header.get("version") != STATE_VERSION:
        raise GanlabError(f"{path} has training-state version {header.get('version') if isinstance(header, dict) else None!r}; this ganlab reads {STATE_VERSION}")
    return header, tensors


def check_resumable(saved: dict[str, Any], current: dict[str, Any], step: int | None = None) -> None:
    """Refuse a resume whose recipe differs from the saved one (only RESUMABLE_CHANGES may).

    `step`: where the state stands. A run with LR decay may change its length only while that
    step is before the decay's start under both lengths (every step so far had the same rate).
    """
    from ganlab.config import TrainConfig

    current = json.loads(json.dumps(current))  # compare in the saved (JSON) form: tuples are lists there
    # a field added after the state was written reads as its default (the run trained without it)
    saved = {**json.loads(json.dumps(TrainConfig().to_dict())), **saved}
    different = sorted(k for k in set(saved) | set(current) if k not in RESUMABLE_CHANGES and saved.get(k) != current.get(k))
    if different:
        detail = ", ".join(f"{k}: saved {saved.get(k)!r}, asked {current.get(k)!r}" for k in different[:4])
        raise GanlabError(f"the training state was made with other settings ({detail}); pass the same flags to resume")
    decay_begun = step is None or step >= min(saved.get("steps") or 0, current.get("steps") or 0) / 2
    if saved.get("lr_decay") and saved.get("steps") != current.get("steps") and decay_begun:
        # the decay runs over the second half of --steps: other steps would jump the learning rate
        raise GanlabError(
            f"this run decays its learning rate over its {saved.get('steps')} steps; resume it with --steps {saved.get('steps')}"
        )


def module_states(tensors: dict[str, torch.Tensor], modules: dict[str, torch.nn.Module]) -> dict[str, dict[str, torch.Tensor]]:
    """Each module's saved state, checked against the module (names and shapes); nothing is loaded."""
    states = {}
    for prefix, module in modules.items():
        state = _module_state(prefix, tensors)
        expected = module.state_dict()
        if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
            raise GanlabError(f"the training state's {prefix} does not match this run's model; resume with the same model settings")
        states[prefix] = state
    return states


def optimizer_states(header: dict[str, Any], tensors: dict[str, torch.Tensor], optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, dict[str, Any]]:
    """Each optimiser's saved state, checked against the optimiser (its groups and how many
    parameters each holds, what load_state_dict would refuse); nothing is loaded."""
    states = {}
    for prefix, optimizer in optimizers.items():
        try:
            state = _unflatten_optimizer(prefix, header["optimizers"][prefix], tensors)
            sizes = [len(group["params"]) for group in state["param_groups"]]
        except (KeyError, TypeError, ValueError) as error:
            raise GanlabError(f"the training state's {prefix} is incomplete ({type(error).__name__}: {error})") from None
        if sizes != [len(group["params"]) for group in optimizer.param_groups]:
            raise GanlabError(f"the training state's {prefix} does not match this run's model; resume with the same model settings")
        states[prefix] = state
    return states


def check_random_state(name: str, state: Any) -> torch.Tensor:
    """A saved random-generator state that a CPU generator accepts (tried on a scratch one)."""
    try:
        torch.Generator().set_state(state)
    except (TypeError, RuntimeError) as error:
        raise GanlabError(f"the training state's random stream {name!r} is not a generator state ({error})") from None
    return state


def checked_scheduler_state(name: str, saved: Any, scheduler: Any) -> dict[str, Any]:
    """`saved` if it has exactly the fields of `scheduler`'s own state, each of the same kind; a
    ValueError otherwise (load_state_dict would copy any key onto the scheduler, unchecked).
    Kinds, not values: a number out of range still passes. A state written by a torch whose
    schedulers keep other fields is refused; resume it with the torch that wrote it."""

    def kind(value: Any) -> str:
        if isinstance(value, bool) or value is None:
            return type(value).__name__
        if isinstance(value, (int, float)):
            return "number"
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(kind(item) for item in value) + "]"
        return type(value).__name__

    live = scheduler.state_dict()
    if not isinstance(saved, dict) or set(saved) != set(live):
        raise ValueError(f"scheduler {name} has fields {sorted(saved) if isinstance(saved, dict) else type(saved).__name__}, expected {sorted(live)}")
    wrong = [key for key in live if kind(saved[key]) != kind(live[key])]
    if wrong:
        raise ValueError(f"scheduler {name}: {', '.join(wrong)} not of the expected kind")
    return dict(saved)


class Resumable:
    """The Trainer's save and load of its training state (a mixin: it reads the trainer's models,
    optimisers, schedulers, batch stream and random generators, and writes them back on a resume)."""

    def _state_parts(self) -> tuple[dict[str, nn.Module], dict[str, torch.optim.Optimizer], dict[str, Any]]:
        modules: dict[str, nn.Module] = {"generator": self.generator, "discriminator": self.discriminator}
        if self.ema is not None:
            modules["ema"] = self.ema
        if len(self.projections):
            modules["projections"] = self.projections
        optimizers = {"optimizer_g": self.optimizer_g, "optimizer_d": self.optimizer_d}
        schedulers = {"scheduler_g": self.schedulers[0], "scheduler_d": self.schedulers[1]}
        return modules, optimizers, schedulers

    def save_training_state(self, elapsed: float, folder: str | Path | None = None) -> Path:
        """Write everything the next step depends on beside the model (see training_state.py), in the
        run's folder or `folder`."""
        modules, optimizers, schedulers = self._state_parts()
        epoch_state, position = self.batches.state()
        random = {"torch": torch.get_rng_state(), "noise": self.noise_generator.get_state()}
        if epoch_state is not None:
            random["batches"] = epoch_state
        if self.device.type == "cuda":
            random["cuda"] = torch.cuda.get_rng_state(self.device)
        header = {
            "step": self.step,
            "elapsed_s": elapsed,
            "train_config": self.config.to_dict(),
            "batch_position": position,
            "loss_history": self.averages.history,
        }
        return save_state(folder or self.output_dir, modules=modules, optimizers=optimizers, schedulers=schedulers, random=random, header=header)

    def load_training_state(self, path: str | Path) -> int:
        """Continue from a state written by `save_training_state`; returns the step it resumes at.

        Everything is checked before anything changes: a corrupt or mismatched state is one
        GanlabError, and this trainer (and its output folder) are left as they were.
        """
        if self._thread is not None or self.step:
            raise GanlabError("a training state can only be loaded before the run starts")
        header, tensors = read_state(path)
        step = header.get("step")
        check_resumable(header.get("train_config", {}), self.config.to_dict(), step if isinstance(step, int) else None)
        if not isinstance(step, int) or not 0 < step <= MAX_STEPS:
            raise GanlabError(f"the training state at {path} records no valid step ({step!r})")
        if step >= self.config.steps:
            raise GanlabError(f"the training state is already at step {step}; ask for more --steps than that to continue")
        modules, optimizers, schedulers = self._state_parts()
        if any(key.startswith("ema.") for key in tensors) != ("ema" in modules):
            raise GanlabError("the training state and this run disagree on the EMA; resume with the same --ema")
        # 1. read and check every part; this trainer is untouched if any is missing or does not fit
        module_state = module_states(tensors, modules)
        optimizer_state = optimizer_states(header, tensors, optimizers)
        try:
            scheduler_state = {name: checked_scheduler_state(name, header["schedulers"][name], scheduler) for name, scheduler in schedulers.items()}
            noise_state = check_random_state("noise", tensors["random.noise"])
            torch_state = check_random_state("torch", tensors["random.torch"])
            batches_state = tensors.get("random.batches")
            if batches_state is not None:
                check_random_state("batches", batches_state)
            position = int(header.get("batch_position", 0))
            history = list(header.get("loss_history", []))
            elapsed_before = float(header.get("elapsed_s", 0.0))
        except (KeyError, TypeError, ValueError) as error:
            raise GanlabError(f"the training state at {path} is incomplete ({type(error).__name__}: {error}); resume from another folder or start anew") from None
        self.batches.check_position(position)
        # 2. apply
        for prefix, module in modules.items():
            module.load_state_dict(module_state[prefix])
        for prefix, optimizer in optimizers.items():
            optimizer.load_state_dict(optimizer_state[prefix])
        for name, scheduler in schedulers.items():
            scheduler.load_state_dict(scheduler_state[name])
        self.noise_generator.set_state(noise_state)
        self.batches.load_state(batches_state, position)
        self._torch_rng = torch_state
        if "random.cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["random.cuda"], self.device)
        self.averages.history = history
        self.elapsed_before = elapsed_before
        self.step = step
        return step
