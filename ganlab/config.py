"""Typed, frozen settings for models and training; each checkpoint carries its own copy.

Everything downstream (data, models, losses, trainer, UI) reads these objects and never
module globals, so a run in a background thread is configured exactly like a CLI run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ganlab.datasets import DEFAULT_DATASET, get_dataset
from ganlab.errors import GanlabError
from ganlab.limits import MAX_SEED, Limit, _check_fields, bounded, limit, shown  # noqa: F401 (config's own names)

LATENT_DIM = 100
IMAGE_SIZE = 28

# Feature maps a teacher and a student can be compared at. Names are the spatial size, the
# one thing both generators share at that stage; "pixels" is the output image itself.
DISTILL_LAYERS = ("7x7", "14x14", "pixels")


SEED = Limit("seed", 0, MAX_SEED, integer=True)
WIDTH = Limit("channel width", 1, 4096, integer=True)
DROPOUT = Limit("dropout", 0.0, 0.95)
STUDENT_WIDTH = Limit("student width", 2, 4096, integer=True)
STRIDE = Limit("stride", 1, 2, integer=True)


def _checked(values: tuple, limit: Limit, label: str) -> tuple[int, ...]:
    """Each of `values` checked and normalised (8.0 -> 8): a JSON config may spell widths as floats,
    and a float width would pass a range check only to fail when the layer is built."""
    return tuple(limit.check(value, label=label) for value in values)


# Bounds on a model a config may describe, checked before anything is built (ganlab.registry
# counts it on the meta device): a checkpoint's config.json can come from anyone's Hub repo.
MAX_GENERATOR_STAGES = 8  # the teacher has 3: one 7x7 stage, then 7->14->28


def check_parameter_budget(config: Any) -> None:
    """Refuse a model config whose parameter count (its model built on meta, nothing allocated) is over budget."""
    from ganlab.registry import check_parameter_budget as check  # the registry builds models: imported when used

    check(config)


class _Sized:
    """Sizes a model config reports, counted on the model it builds (ganlab.registry), never re-derived."""

    def parameter_count(self) -> int:
        """Weights plus BatchNorm running statistics of the model this config builds."""
        from ganlab.registry import parameter_count

        return parameter_count(self)


@dataclass(frozen=True)
class GeneratorConfig(_Sized):
    """A DCGAN generator: Dense z -> 7x7xC0, then ConvTranspose stages, tanh image.

    channels[0] is the width of the 7x7 Dense output; each later entry is one ConvTranspose
    stage. A stride-1 stage keeps 7x7 (the teacher's extra stage); stride-2 stages double the
    size, and exactly two of them take 7x7 to 28x28. The final 1-channel stage is implicit.
    """

    channels: tuple[int, ...] = (128, 64)
    strides: tuple[int, ...] = (2, 2)
    latent_dim: int = bounded(LATENT_DIM, "latent_dim", 1, 4096, integer=True)
    kind: str = "generator"

    def __post_init__(self) -> None:
        _check_fields(self)
        # JSON round trips give lists; keep the dataclass hashable and comparable.
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "strides", tuple(self.strides))
        if self.kind != "generator":
            raise GanlabError(f"config kind must be 'generator', got {self.kind!r}")
        if len(self.channels) > MAX_GENERATOR_STAGES:
            raise GanlabError(f"a generator has at most {MAX_GENERATOR_STAGES} stages, got {len(self.channels)}")
        if not self.channels or len(self.strides) != len(self.channels):
            raise GanlabError(
                "a generator needs one stride per channel stage "
                f"(channels={self.channels}, strides={self.strides})"
            )
        object.__setattr__(self, "channels", _checked(self.channels, WIDTH, "generator channel width"))
        object.__setattr__(self, "strides", _checked(self.strides, STRIDE, "generator stride"))
        if any(s not in (1, 2) for s in self.strides) or self.strides.count(2) != 2 or self.strides[-1] != 2:
            raise GanlabError(
                f"strides must be 1s then exactly two 2s ending the list (7->14->28), got {self.strides}"
            )
        check_parameter_budget(self)

    def multiply_adds(self) -> int:
        """Multiply-adds to draw one image (ganlab.registry.multiply_adds: torch's flop counter on meta)."""
        from ganlab.registry import multiply_adds

        return multiply_adds(self)

    @classmethod
    def teacher(cls) -> GeneratorConfig:
        """The original teacher: 7x7x256 -> 7x7x128 -> 14x14x64 -> 28x28x1."""
        return cls(channels=(256, 128, 64), strides=(1, 2, 2))

    @classmethod
    def student(cls, width: int = 128) -> GeneratorConfig:
        """The original student (width 128): 7x7x128 -> 14x14x64 -> 28x28x1; width scales both."""
        STUDENT_WIDTH.check(width)
        return cls(channels=(width, width // 2), strides=(2, 2))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DiscriminatorConfig(_Sized):
    """Two strided 5x5 convolutions with LeakyReLU and dropout, then a dense logit."""

    channels: tuple[int, int] = (64, 128)
    dropout: float = bounded(0.3, "dropout", DROPOUT.low, DROPOUT.high)
    spectral_norm: bool = False  # the same layers, each weight divided by its largest singular value (power iteration)
    kind: str = "discriminator"

    def __post_init__(self) -> None:
        _check_fields(self)
        object.__setattr__(self, "channels", tuple(self.channels))
        if self.kind != "discriminator":
            raise GanlabError(f"config kind must be 'discriminator', got {self.kind!r}")
        if len(self.channels) != 2:
            raise GanlabError(f"the discriminator has two conv stages, got channels={self.channels}")
        object.__setattr__(self, "channels", _checked(self.channels, WIDTH, "discriminator channel width"))
        check_parameter_budget(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ClassifierConfig(_Sized):
    """The evaluation classifier: two conv stages (28->14->7), a hidden layer, 10 logits.

    Its hidden layer (after ReLU) is the feature space FID, KID and precision/recall are
    measured in: Inception weights cannot be downloaded here and fit 28x28 digits poorly.
    """

    channels: tuple[int, int] = (32, 64)
    hidden: int = bounded(128, "classifier hidden width", 1, 65536, integer=True)
    num_classes: int = bounded(10, "number of classes", 2, 1000, integer=True)
    dropout: float = bounded(0.25, "dropout", DROPOUT.low, DROPOUT.high)
    kind: str = "classifier"

    def __post_init__(self) -> None:
        _check_fields(self)
        object.__setattr__(self, "channels", tuple(self.channels))
        if self.kind != "classifier":
            raise GanlabError(f"config kind must be 'classifier', got {self.kind!r}")
        if len(self.channels) != 2:
            raise GanlabError(f"the classifier has two conv stages, got channels={self.channels}")
        object.__setattr__(self, "channels", _checked(self.channels, WIDTH, "classifier channel width"))
        check_parameter_budget(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Caps that keep a shared machine (a 2-vCPU Space) usable; scripts and the app share them.
MAX_STEPS = 1_000_000
MAX_BATCH_SIZE = 4096
MAX_LEARNING_RATE = 0.1  # Adam on a GAN diverges far below this; DCGAN uses 2e-4


PRECISIONS = ("fp32", "bf16")
PIXEL_DISTANCES = ("mse", "l1")


@dataclass(frozen=True)
class TrainConfig:
    """One training run: a teacher GAN (alpha unused) or a student distillation.

    Generator loss = (1 - alpha) * adversarial + alpha * distillation (original: alpha = 0.5;
    alpha = 0 is the no-distillation baseline). Distillation is the mean over `layers` of the
    MSE between teacher and student features on the same noise.
    """

    mode: str = "distill"  # "teacher" or "distill"
    dataset: str = DEFAULT_DATASET  # what the run learns: a name in ganlab.datasets.DATASETS
    steps: int = bounded(1000, "steps", 1, MAX_STEPS, integer=True)
    # at least 2: BatchNorm in training mode needs more than one value per channel
    batch_size: int = bounded(128, "batch size", 2, MAX_BATCH_SIZE, integer=True)
    lr_generator: float = bounded(2e-4, "generator learning rate", 0.0, MAX_LEARNING_RATE, open_low=True)
    lr_discriminator: float = bounded(2e-4, "discriminator learning rate", 0.0, MAX_LEARNING_RATE, open_low=True)
    beta1: float = bounded(0.5, "beta1", 0.0, 0.999999)
    beta2: float = bounded(0.999, "beta2", 0.0, 0.999999)
    alpha: float = bounded(0.5, "α (distillation weight)", 0.0, 1.0)
    layers: tuple[str, ...] = ("14x14",)
    real_label: float = bounded(1.0, "real label", 0.5, 1.0)  # < 1 is one-sided label smoothing for the discriminator
    ema_decay: float = bounded(0.0, "EMA decay", 0.0, 0.9999)  # > 0 samples and saves an exponential moving average of G
    lr_decay: bool = False  # linear decay to 0 over the second half of the run
    # > 0: R1 gradient penalty (gamma / 2) * E|grad_x D(x)|^2 on real images
    r1_gamma: float = bounded(0.0, "R1 gamma", 0.0, 1000.0)
    # the original discriminator's dropout; R1 runs use 0
    discriminator_dropout: float = bounded(0.3, "discriminator dropout", DROPOUT.low, DROPOUT.high)
    # spectral normalisation of every discriminator layer (torch.nn.utils.parametrizations.spectral_norm)
    spectral_norm: bool = False
    # distillation levers (mode "distill"; the distillation study measures each, docs/results.md)
    pixel_distance: str = "mse"  # "l1": the pixels layer compared by mean absolute error
    # > 0 adds this weight times L1 between the discriminator's features of student and teacher images (TinyGAN)
    perceptual_weight: float = bounded(0.0, "perceptual weight", 0.0, 100.0)
    # share of the discriminator's real batch replaced by the teacher's images on the step's noise
    teacher_as_real: float = bounded(0.0, "teacher-as-real share", 0.0, 1.0)
    # None: alpha throughout; a number: alpha moves linearly from `alpha` to this over the run
    alpha_final: float | None = None
    seed: int = bounded(0, "seed", SEED.low, SEED.high, integer=True)
    sample_every: int = bounded(100, "sample_every", 0, MAX_STEPS, integer=True)
    checkpoint_every: int = bounded(0, "checkpoint_every", 0, MAX_STEPS, integer=True)  # 0: only at the end
    # > 0 also keeps the sampling model of every Nth step in <out>/snapshots/step-N (to follow FID along a run)
    keep_every: int = bounded(0, "keep_every", 0, MAX_STEPS, integer=True)
    # > 0 stops the run after this many seconds of wall time
    time_budget_s: float = bounded(0.0, "time budget (s)", 0.0, 7 * 24 * 3600.0)
    num_threads: int = bounded(0, "num_threads", 0, 1024, integer=True)  # 0 leaves torch's setting alone
    device: str = "cpu"
    precision: str = "fp32"  # "bf16": forward passes under bfloat16 autocast (weights, optimiser, losses stay fp32)

    def __post_init__(self) -> None:
        _check_fields(self)
        object.__setattr__(self, "layers", tuple(self.layers))
        if self.precision not in PRECISIONS:
            raise GanlabError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.mode not in ("teacher", "distill"):
            raise GanlabError(f"mode must be 'teacher' or 'distill', got {self.mode!r}")
        get_dataset(self.dataset)
        if self.pixel_distance not in PIXEL_DISTANCES:
            raise GanlabError(f"pixel distance must be one of {', '.join(PIXEL_DISTANCES)}, got {shown(self.pixel_distance)}")
        if self.alpha_final is not None:
            object.__setattr__(self, "alpha_final", limit(TrainConfig, "alpha").check(self.alpha_final, label="final α"))
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

    @property
    def uses_teacher(self) -> bool:
        """Whether any term of this run reads the teacher (alpha = 0 and no other lever: the baseline)."""
        levers = (self.alpha, self.alpha_final or 0.0, self.perceptual_weight, self.teacher_as_real)
        return self.mode == "distill" and any(value > 0 for value in levers)

    def alpha_at(self, step: int) -> float:
        """The distillation weight of step `step` (0-based): alpha, or the linear schedule to alpha_final."""
        if self.alpha_final is None:
            return self.alpha
        return self.alpha + (self.alpha_final - self.alpha) * min(step, self.steps) / self.steps

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Recipe:
    """A distillation recipe: what the UI's recipe menu fills in and `distill.py --recipe` reads."""

    name: str  # the command line's word
    label: str  # the UI menu's text
    alpha: float
    layers: tuple[str, ...]
    lr_generator: float
    lr_discriminator: float
    ema_decay: float = 0.0  # sample and save an exponential moving average of G's weights; 0: off


# Measured at the UI's default 120 s (one training thread, bf16, ~510 steps; FID over 2 x 10k
# samples): α 0.9 on 14x14 + pixels gave FID 131; adding the 7x7 pair 121; sampling an EMA of
# the weights (decay 0.99, ~100 steps of memory: short enough for a 500-step run) 114.
FAST = Recipe("fast", "fast (α 0.9, 7x7 + 14x14 + pixels, lr 1e-3, EMA 0.99)", 0.9, ("7x7", "14x14", "pixels"), 1e-3, 2e-4, 0.99)
# the layers, learning rates and EMA of checkpoints/student (with R1, pixel L1, α 0.9 -> 0.5 and 20,000 steps on
# top: docs/training.md) and of student-3k (3,000 steps of exactly this); each training.json records its recipe
COMMITTED = Recipe("committed", "committed (α 0.75, 7x7 + 14x14 + pixels, lr 1e-3, EMA 0.999)", 0.75, ("7x7", "14x14", "pixels"), 1e-3, 2e-4, 0.999)
# the original design: 0.5 adversarial + 0.5 MSE on the 14x14x64 features
ORIGINAL = Recipe("original", "original (α 0.5, 14x14, lr 2e-4)", 0.5, ("14x14",), 2e-4, 2e-4)
RECIPES = {recipe.name: recipe for recipe in (FAST, COMMITTED, ORIGINAL)}


def recipe_by_label(label: str) -> Recipe | None:
    """The recipe the UI menu shows as `label`, or None."""
    return next((recipe for recipe in RECIPES.values() if recipe.label == label), None)


def config_from_dict(data: dict[str, Any]) -> GeneratorConfig | DiscriminatorConfig | ClassifierConfig:
    """Rebuild a model config from its JSON form, refusing unknown kinds and fields."""
    if not isinstance(data, dict):
        raise GanlabError("config.json must hold a JSON object")
    kinds = {"generator": GeneratorConfig, "discriminator": DiscriminatorConfig, "classifier": ClassifierConfig}
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
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

