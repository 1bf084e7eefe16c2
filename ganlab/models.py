"""Generators and the discriminator, built exactly as the original design's parameter table.

Generators return `(image, features)` when asked: features are the block outputs named by
spatial size ("7x7", "14x14"), so distillation reads them explicitly instead of via hooks.
No layer has a bias (as the original Keras model): BatchNorm follows every linear map.
"""

from __future__ import annotations

import torch
from torch import nn

from ganlab.config import IMAGE_SIZE, ClassifierConfig, DiscriminatorConfig, GeneratorConfig

LEAK = 0.2  # LeakyReLU slope used throughout (Keras default 0.3 in the tutorial; 0.2 is DCGAN's)


class Generator(nn.Module):
    """z (B, latent) -> image (B, 1, 28, 28) in [-1, 1], optionally with named features."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        first = config.channels[0]
        # 1. project: Dense z -> 7*7*C0, BN over the flat vector (as the original), LeakyReLU
        self.project = nn.Sequential(
            nn.Linear(config.latent_dim, 7 * 7 * first, bias=False),
            nn.BatchNorm1d(7 * 7 * first),
            nn.LeakyReLU(LEAK),
        )
        # 2. up-sample: ConvTranspose k4 blocks; stride 1 keeps 7x7, stride 2 doubles the size
        blocks = []
        widths = list(config.channels) + [1]
        for index, stride in enumerate(config.strides):
            c_in, c_out = widths[index], widths[index + 1]
            last = index == len(config.strides) - 1
            layers: list[nn.Module] = [_upsample(c_in, c_out, stride)]
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(c_out), nn.LeakyReLU(LEAK)]
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def forward(self, z: torch.Tensor, return_features: bool = False):
        # 1. project: z (B, latent) -> (B, C0, 7, 7)
        x = self.project(z).view(z.shape[0], self.config.channels[0], 7, 7)
        features: dict[str, torch.Tensor] = {"7x7": x}
        # 2. up-sample: stride 1 keeps (B, C, 7, 7); stride 2 gives (B, C, 14, 14)
        for block in self.blocks[:-1]:
            x = block(x)
            features[f"{x.shape[-1]}x{x.shape[-1]}"] = x  # the deepest map of each size is kept
        # 3. output: (B, 1, 28, 28) in [-1, 1]
        image = self.blocks[-1](x)
        if not return_features:
            return image
        features["pixels"] = image
        return image, features


def _upsample(c_in: int, c_out: int, stride: int) -> nn.Module:
    """ConvTranspose k4 that maps 7->7 (stride 1) or n->2n (stride 2)."""
    if stride == 2 and c_out == 1:
        return SubPixelConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False)
    if stride == 2:
        return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False)
    # k4 s1 cannot keep the size with symmetric padding in PyTorch (padding 1 gives 8x8), so
    # crop the last row and column, the same as Keras' 'same' padding that pads (1, 2).
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, stride=1, padding=1, bias=False), _CropLast())


# For ConvTranspose k4 s2 p1, output row 2m + r takes input rows m + d through kernel row k:
# phase r = 0 uses (d = -1, k = 3) and (d = 0, k = 1); r = 1 uses (d = 0, k = 2) and (d = 1, k = 0).
# Keyed by phase, then by the 3x3 tap e = d + 1 of the equivalent convolution.
_SUBPIXEL_TAPS = {0: {0: 3, 1: 1}, 1: {1: 2, 2: 0}}


class SubPixelConvTranspose2d(nn.ConvTranspose2d):
    """A k4 s2 p1 ConvTranspose (same weight, same state dict) run at inference as a 3x3
    convolution to 4 phases + pixel shuffle.

    Why: on a CPU, oneDNN's transposed convolution to one output channel is slow; at batch 256
    (64 -> 1 channels, 14 -> 28) it took 34 ms against 11 ms for this exact equivalent (1 thread,
    max difference 4e-6). Training keeps the library path, so gradients are torch's own.
    """

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if torch.is_grad_enabled() or output_size is not None:
            return super().forward(x, output_size)
        # x: (B, C_in, H, W) -> (B, 4*C_out, H, W) -> (B, C_out, 2H, 2W)
        return nn.functional.pixel_shuffle(nn.functional.conv2d(x, self._phase_weight(), padding=1), 2)

    def _phase_weight(self) -> torch.Tensor:
        """(C_in, C_out, 4, 4) -> (4*C_out, C_in, 3, 3), channels ordered as pixel_shuffle reads them."""
        c_in, c_out = self.weight.shape[:2]
        phases = self.weight.new_zeros(c_out, 2, 2, c_in, 3, 3)
        for row_phase, row_taps in _SUBPIXEL_TAPS.items():
            for col_phase, col_taps in _SUBPIXEL_TAPS.items():
                for row_tap, kernel_row in row_taps.items():
                    for col_tap, kernel_col in col_taps.items():
                        phases[:, row_phase, col_phase, :, row_tap, col_tap] = self.weight[:, :, kernel_row, kernel_col].t()
        return phases.reshape(c_out * 4, c_in, 3, 3)


class _CropLast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., :-1, :-1]  # (B, C, 8, 8) -> (B, C, 7, 7)


class Dropout(nn.Module):
    """Inverted dropout with a mask from rand_like.

    Same maths as nn.Dropout, but on a CPU torch's bernoulli_ costs ~25 ms for a
    (256, 64, 14, 14) batch against ~8 ms for rand_like: a fifth of a teacher GAN step.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand_like(x) >= self.p
        return x * keep / (1.0 - self.p)


class Discriminator(nn.Module):
    """image (B, 1, 28, 28) -> real/fake logit (B,)."""

    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DiscriminatorConfig()
        c1, c2 = config.channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c1, 5, stride=2, padding=2),  # (B, c1, 14, 14)
            nn.LeakyReLU(LEAK),
            Dropout(config.dropout),
            nn.Conv2d(c1, c2, 5, stride=2, padding=2),  # (B, c2, 7, 7)
            nn.LeakyReLU(LEAK),
            Dropout(config.dropout),
            nn.Flatten(),  # (B, c2*49)
            nn.Linear(c2 * 7 * 7, 1),  # (B, 1)
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image).squeeze(1)


def generator_stages(config: GeneratorConfig) -> list[tuple[int, bool, int, int]]:
    """The ConvTranspose stages of a generator as (stride, is_last, output size, output channels).

    The one walk over a config's stages that descriptions (About tab, model cards) render.
    """
    size, widths, stages = 7, list(config.channels) + [1], []
    for index, stride in enumerate(config.strides):
        size *= stride
        stages.append((stride, index == len(config.strides) - 1, size, widths[index + 1]))
    return stages


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable parameters, and the Keras-style count that adds BatchNorm running statistics.

    The original table counts BN moving mean and variance (non-trainable in Keras) but has no
    step counter, so `num_batches_tracked` is left out.
    """
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    running = sum(
        buffer.numel()
        for name, buffer in model.named_buffers()
        if name.endswith("running_mean") or name.endswith("running_var")
    )
    return {"trainable": trainable, "keras": total + running}


def init_weights(model: nn.Module, generator: torch.Generator | None = None) -> None:
    """DCGAN initialisation (weights N(0, 0.02), BN scale N(1, 0.02)), dispatched on type."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(module.weight, 0.0, 0.02, generator=generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(module.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(module.bias)


def build_model(config: GeneratorConfig | DiscriminatorConfig | ClassifierConfig) -> nn.Module:
    """The model a config describes (used by checkpoint loading)."""
    if isinstance(config, ClassifierConfig):
        from ganlab.classifier import Classifier  # lazy: the classifier is an evaluation tool

        return Classifier(config)
    if isinstance(config, GeneratorConfig):
        return Generator(config)
    if isinstance(config, DiscriminatorConfig):
        return Discriminator(config)
    raise TypeError(f"no model for config {type(config).__name__}")


assert IMAGE_SIZE == 28  # the stage arithmetic above (7 -> 14 -> 28) assumes MNIST's size
