"""Typed, frozen settings for models and training; each checkpoint carries its own copy.

Everything downstream (data, models, losses, trainer, UI) reads these objects and never
module globals, so a run in a background thread is configured exactly like a CLI run.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ganlab.errors import GanlabError

LATENT_DIM = 100
IMAGE_SIZE = 28

# Feature maps a teacher and a student can be compared at. Names are the spatial size, the
# one thing both generators share at that stage; "pixels" is the output image itself.
DISTILL_LAYERS = ("7x7", "14x14", "pixels")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise GanlabError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def _check_float(name: str, value: Any, low: float, high: float, *, open_low: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low < value if open_low else low <= value) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise GanlabError(f"{name} must be a number in {bracket}{low}, {high}], got {value!r}")


# Bounds on a model a config may describe, checked before anything is built: a checkpoint's
# config.json can come from anyone's Hub repo, and 428 bytes of it can ask for 40 stages of
# 4096 channels (~42 GiB). 50 M parameters is 200 MB of float32 weights; the teacher has 2 M.
MAX_GENERATOR_STAGES = 8  # the teacher has 3: one 7x7 stage, then 7->14->28
MAX_PARAMETERS = 50_000_000


def check_parameter_budget(config: Any) -> None:
    """Refuse a model config whose parameter count (from arithmetic, nothing allocated) is over budget."""
    count = config.parameter_count()
    if count > MAX_PARAMETERS:
        raise GanlabError(
            f"this {config.kind} config describes {count:,} parameters; ganlab models have at most "
            f"{MAX_PARAMETERS:,} (about {MAX_PARAMETERS * 4 // 10**6} MB of weights)"
        )


@dataclass(frozen=True)
class GeneratorConfig:
    """A DCGAN generator: Dense z -> 7x7xC0, then ConvTranspose stages, tanh image.

    channels[0] is the width of the 7x7 Dense output; each later entry is one ConvTranspose
    stage. A stride-1 stage keeps 7x7 (the teacher's extra stage); stride-2 stages double the
    size, and exactly two of them take 7x7 to 28x28. The final 1-channel stage is implicit.
    """

    channels: tuple[int, ...] = (128, 64)
    strides: tuple[int, ...] = (2, 2)
    latent_dim: int = LATENT_DIM
    kind: str = "generator"

    def __post_init__(self) -> None:
        # JSON round trips give lists; keep the dataclass hashable and comparable.
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "strides", tuple(self.strides))
        if self.kind != "generator":
            raise GanlabError(f"config kind must be 'generator', got {self.kind!r}")
        _check_int("latent_dim", self.latent_dim, 1, 4096)
        if len(self.channels) > MAX_GENERATOR_STAGES:
            raise GanlabError(f"a generator has at most {MAX_GENERATOR_STAGES} stages, got {len(self.channels)}")
        if not self.channels or len(self.strides) != len(self.channels):
            raise GanlabError(
                "a generator needs one stride per channel stage "
                f"(channels={self.channels}, strides={self.strides})"
            )
        for width in self.channels:
            _check_int("generator channel width", width, 1, 4096)
        if any(s not in (1, 2) for s in self.strides) or self.strides.count(2) != 2 or self.strides[-1] != 2:
            raise GanlabError(
                f"strides must be 1s then exactly two 2s ending the list (7->14->28), got {self.strides}"
            )
        check_parameter_budget(self)

    def parameter_count(self) -> int:
        """Weights plus BatchNorm statistics of the Generator this describes (models.Generator)."""
        widths = list(self.channels) + [1]
        count = self.latent_dim * 49 * widths[0] + 4 * 49 * widths[0]  # Dense z -> 7x7xC0, BatchNorm1d
        for index in range(len(self.strides)):
            count += widths[index] * widths[index + 1] * 16  # ConvTranspose k4, no bias
            if index < len(self.strides) - 1:
                count += 4 * widths[index + 1]  # BatchNorm2d: weight, bias, running mean and variance
        return count

    @classmethod
    def teacher(cls) -> GeneratorConfig:
        """The original teacher: 7x7x256 -> 7x7x128 -> 14x14x64 -> 28x28x1."""
        return cls(channels=(256, 128, 64), strides=(1, 2, 2))

    @classmethod
    def student(cls, width: int = 128) -> GeneratorConfig:
        """The original student (width 128): 7x7x128 -> 14x14x64 -> 28x28x1; width scales both."""
        _check_int("student width", width, 2, 4096)
        return cls(channels=(width, width // 2), strides=(2, 2))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Two strided 5x5 convolutions with LeakyReLU and dropout, then a dense logit."""

    channels: tuple[int, int] = (64, 128)
    dropout: float = 0.3
    kind: str = "discriminator"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        if self.kind != "discriminator":
            raise GanlabError(f"config kind must be 'discriminator', got {self.kind!r}")
        if len(self.channels) != 2:
            raise GanlabError(f"the discriminator has two conv stages, got channels={self.channels}")
        for width in self.channels:
            _check_int("discriminator channel width", width, 1, 4096)
        _check_float("dropout", self.dropout, 0.0, 0.95)
        check_parameter_budget(self)

    def parameter_count(self) -> int:
        """Weights and biases of the Discriminator this describes (models.Discriminator)."""
        c1, c2 = self.channels
        return (25 * c1 + c1) + (c1 * c2 * 25 + c2) + (c2 * 49 + 1)  # conv 5x5, conv 5x5, dense logit

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ClassifierConfig:
    """The evaluation classifier: two conv stages (28->14->7), a hidden layer, 10 logits.

    Its hidden layer (after ReLU) is the feature space FID, KID and precision/recall are
    measured in: Inception weights cannot be downloaded here and fit 28x28 digits poorly.
    """

    channels: tuple[int, int] = (32, 64)
    hidden: int = 128
    num_classes: int = 10
    dropout: float = 0.25
    kind: str = "classifier"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        if self.kind != "classifier":
            raise GanlabError(f"config kind must be 'classifier', got {self.kind!r}")
        if len(self.channels) != 2:
            raise GanlabError(f"the classifier has two conv stages, got channels={self.channels}")
        for width in self.channels:
            _check_int("classifier channel width", width, 1, 4096)
        _check_int("classifier hidden width", self.hidden, 1, 65536)
        _check_int("number of classes", self.num_classes, 2, 1000)
        _check_float("dropout", self.dropout, 0.0, 0.95)
        check_parameter_budget(self)

    def parameter_count(self) -> int:
        """Weights plus BatchNorm statistics of the Classifier this describes (classifier.Classifier)."""
        c1, c2 = self.channels
        convolutions = (9 * c1 + 4 * c1) + (c1 * c2 * 9 + 4 * c2)  # conv 3x3 (no bias) + BatchNorm2d, twice
        return convolutions + (c2 * 49 * self.hidden + self.hidden) + (self.hidden * self.num_classes + self.num_classes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Caps that keep a shared machine (a 2-vCPU Space) usable; scripts and the app share them.
MAX_STEPS = 1_000_000
MAX_BATCH_SIZE = 4096


PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """One training run: a teacher GAN (alpha unused) or a student distillation.

    Generator loss = (1 - alpha) * adversarial + alpha * distillation (original: alpha = 0.5;
    alpha = 0 is the no-distillation baseline). Distillation is the mean over `layers` of the
    MSE between teacher and student features on the same noise.
    """

    mode: str = "distill"  # "teacher" or "distill"
    steps: int = 1000
    batch_size: int = 128
    lr_generator: float = 2e-4
    lr_discriminator: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    alpha: float = 0.5
    layers: tuple[str, ...] = ("14x14",)
    real_label: float = 1.0  # < 1 is one-sided label smoothing for the discriminator
    ema_decay: float = 0.0  # > 0 samples and saves an exponential moving average of G
    lr_decay: bool = False  # linear decay to 0 over the second half of the run
    r1_gamma: float = 0.0  # > 0: R1 gradient penalty (gamma / 2) * E|grad_x D(x)|^2 on real images
    discriminator_dropout: float = 0.3  # the original discriminator's dropout; R1 runs use 0
    seed: int = 0
    sample_every: int = 100
    checkpoint_every: int = 0  # 0: only at the end
    time_budget_s: float = 0.0  # > 0 stops the run after this many seconds of wall time
    num_threads: int = 0  # 0 leaves torch's setting alone
    device: str = "cpu"
    precision: str = "fp32"  # "bf16": forward passes under bfloat16 autocast (weights, optimiser, losses stay fp32)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if self.precision not in PRECISIONS:
            raise GanlabError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.mode not in ("teacher", "distill"):
            raise GanlabError(f"mode must be 'teacher' or 'distill', got {self.mode!r}")
        _check_int("steps", self.steps, 1, MAX_STEPS)
        _check_int("batch size", self.batch_size, 1, MAX_BATCH_SIZE)
        _check_float("generator learning rate", self.lr_generator, 0.0, 1.0, open_low=True)
        _check_float("discriminator learning rate", self.lr_discriminator, 0.0, 1.0, open_low=True)
        _check_float("beta1", self.beta1, 0.0, 0.999999)
        _check_float("beta2", self.beta2, 0.0, 0.999999)
        _check_float("alpha", self.alpha, 0.0, 1.0)
        _check_float("real label", self.real_label, 0.5, 1.0)
        _check_float("EMA decay", self.ema_decay, 0.0, 0.99999)
        _check_float("R1 gamma", self.r1_gamma, 0.0, 1000.0)
        _check_float("discriminator dropout", self.discriminator_dropout, 0.0, 0.95)
        _check_int("seed", self.seed, 0, 2**31 - 1)
        _check_int("sample_every", self.sample_every, 0, MAX_STEPS)
        _check_int("checkpoint_every", self.checkpoint_every, 0, MAX_STEPS)
        _check_float("time budget (s)", self.time_budget_s, 0.0, 7 * 24 * 3600.0)
        _check_int("num_threads", self.num_threads, 0, 1024)
        if self.mode == "distill":
            if not self.layers and self.alpha > 0:
                raise GanlabError("distillation with alpha > 0 needs at least one layer")
            for layer in self.layers:
                if layer not in DISTILL_LAYERS:
                    raise GanlabError(
                        f"unknown layer {layer!r}: choose from {', '.join(DISTILL_LAYERS)}"
                    )
            if len(set(self.layers)) != len(self.layers):
                raise GanlabError(f"layers must not repeat, got {self.layers}")
        if not (self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:") or self.device == "auto"):
            raise GanlabError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def config_from_dict(data: dict[str, Any]) -> GeneratorConfig | DiscriminatorConfig | ClassifierConfig:
    """Rebuild a model config from its JSON form, refusing unknown kinds and fields."""
    if not isinstance(data, dict):
        raise GanlabError("config.json must hold a JSON object")
    kinds = {"generator": GeneratorConfig, "discriminator": DiscriminatorConfig, "classifier": ClassifierConfig}
    kind = data.get("kind")
    if kind not in kinds:
        raise GanlabError(f"config.json has kind {kind!r}; expected one of {sorted(kinds)}")
    cls = kinds[kind]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise GanlabError(f"config.json has unknown fields for a {kind}: {unknown}")
    try:
        return cls(**data)
    except TypeError as error:
        raise GanlabError(f"config.json does not describe a {kind}: {error}") from None

