"""Which model each config describes, and what it costs, read from the model itself.

Sizes are counted on the model built on PyTorch's `meta` device (shapes, no memory), so a
config that asks for 42 GiB is measured and refused without allocating a byte, and the count
can never drift from what `Generator`/`Discriminator`/`Classifier` actually build. Multiply-adds
are counted by hooks on the meta model's layers during one forward pass.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganlab.classifier import Classifier
from ganlab.config import ClassifierConfig, DiscriminatorConfig, GeneratorConfig
from ganlab.errors import GanlabError
from ganlab.models import Discriminator, Generator, count_parameters

ModelConfig = GeneratorConfig | DiscriminatorConfig | ClassifierConfig
MODELS: dict[type, type[nn.Module]] = {GeneratorConfig: Generator, DiscriminatorConfig: Discriminator, ClassifierConfig: Classifier}

# 50 M parameters is 200 MB of float32 weights; the teacher has 2 M. A checkpoint's config.json can
# come from anyone's Hub repo, and 428 bytes of it can ask for 40 stages of 4096 channels (~42 GiB).
MAX_PARAMETERS = 50_000_000


def model_class(config: Any) -> type[nn.Module]:
    for kind, cls in MODELS.items():
        if isinstance(config, kind):
            return cls
    raise TypeError(f"no model for config {type(config).__name__}")


def on_meta(config: ModelConfig) -> nn.Module:
    """The model `config` describes, with shapes only (nothing allocated)."""
    with torch.device("meta"):
        return model_class(config)(config)


def parameter_count(config: ModelConfig) -> int:
    """Weights plus BatchNorm running statistics (the original table's count) of the model `config` builds."""
    return count_parameters(on_meta(config))["keras"]


def multiply_adds(config: GeneratorConfig) -> int:
    """Multiply-adds to draw one image: what a model costs to run, which its parameter count does
    not bound (a stride-1 stage at 7x7 costs 49 times its weights). Counted by hooks on the meta
    model's own layers during one forward pass (torch's FlopCounterMode agrees: tests/test_models.py;
    it is not used here because its module tracker hooks every module in the process, a training
    thread's included)."""
    model = on_meta(config).eval()
    total = [0]

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(module, nn.Linear):
            total[0] += output.shape[0] * module.in_features * module.out_features
        elif isinstance(module, nn.ConvTranspose2d):  # each input position feeds kH*kW outputs per channel pair
            _, _, height, width = inputs[0].shape
            total[0] += inputs[0].shape[0] * height * width * module.in_channels * module.out_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]

    handles = [layer.register_forward_hook(count) for layer in model.modules() if isinstance(layer, (nn.Linear, nn.ConvTranspose2d))]
    try:
        model(torch.zeros(1, config.latent_dim, device="meta"))  # with grad on: the module path, not the folded one
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


def check_parameter_budget(config: ModelConfig) -> None:
    """Refuse a model config whose parameter count (counted on meta) is over MAX_PARAMETERS."""
    count = parameter_count(config)
    if count > MAX_PARAMETERS:
        raise GanlabError(
            f"this {config.kind} config describes {count:,} parameters; ganlab models have at most "
            f"{MAX_PARAMETERS:,} (about {MAX_PARAMETERS * 4 // 10**6} MB of weights)"
        )


def build_model(config: ModelConfig) -> nn.Module:
    """The model a config describes (its size was checked when the config was made: config.__post_init__)."""
    return model_class(config)(config)
