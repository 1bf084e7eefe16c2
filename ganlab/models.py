"""Generators and the discriminator, built exactly as the original design's parameter table.

Generators return `(image, features)` when asked: features are the block outputs named by
spatial size ("7x7", "14x14"), so distillation reads them explicitly instead of via hooks.
No generator layer has a bias (as the original Keras model): BatchNorm follows every linear
map. The discriminator's convolutions and logit keep theirs (it has no BatchNorm).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from ganlab.config import IMAGE_SIZE, DiscriminatorConfig, GeneratorConfig
from ganlab.errors import GanlabError

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
        if not self.training and not torch.is_grad_enabled():
            return self.infer(z, return_features=return_features)  # same maths, fewer passes over memory
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

    # ---- inference: BatchNorm folded into the weights, cached until any weight changes ----------
    def infer(self, z: torch.Tensor, *, dtype: torch.dtype = torch.float32, return_features: bool = False):
        """The eval-mode forward with each BatchNorm folded into the linear map before it, in
        `dtype` (float32, or bfloat16 where the CPU multiplies it natively: ganlab.precision);
        images come back as float32 either way.

        Why: in eval mode BN is a per-channel affine map, so `scale * (W x) + shift` is one
        layer with weight `scale * W` and bias `shift` (torch.nn.utils.fusion does the folding);
        that drops a full pass over every activation (and its kernel launch), which matters
        most for the student, whose layers are cheap. Hand-written on purpose: the output stage
        runs as one matrix product plus `fold` (col2im), because on a CPU torch's transposed
        convolution to a single channel is slower; the hidden transposed convolutions stay
        torch's (oneDNN's) own, the fastest of the forms measured (docs/development.md, "How the
        student's layers run"). Equal to the module path within float rounding (tests/test_models.py).
        In bfloat16 the hidden weights are cast once (cached with the folding) and the activations
        run channels-last, the faster layout for bf16 transposed convolutions on AMX CPUs. The
        projection and the output stage stay fp32: they are where bf16 rounding shows in the
        pixels, and together they are 11 % of the student's MACs and 4 % of the teacher's.
        """
        (w_project, b_project), hidden, w_out = self._folded(dtype)
        channels, strides = self.config.channels, self.config.strides
        low = dtype != torch.float32
        # 1. project: (B, latent) -> (B, C0*49) -> (B, C0, 7, 7), in fp32 whatever `dtype`: rounding
        # z and this layer's weights to bf16 is what put pixels more than 1 gray level off fp32's
        # (simulated on 2,000 samples: 98.9 % of the student's pixels within 1 level with every
        # layer in bf16, 99.97 % with this layer in fp32; teacher 98.8 % -> 99.8 %)
        x = nn.functional.leaky_relu(nn.functional.linear(z.float(), w_project, b_project), LEAK, inplace=True)
        x = x.view(z.shape[0], channels[0], 7, 7).to(dtype)
        features: dict[str, torch.Tensor] = {"7x7": x}
        # 2. up-sample: (B, C, n, n) -> (B, C', n*stride, n*stride)
        for (weight, bias), stride in zip(hidden, strides[:-1]):
            if low:
                x = x.contiguous(memory_format=torch.channels_last)
            x = nn.functional.conv_transpose2d(x, weight, bias, stride=stride, padding=1)
            # activate, then crop: the same values, and in place on the whole tensor, not on a view
            # (an exported graph would write a view's update back into its base, ~15% of onnxruntime's time)
            x = nn.functional.leaky_relu(x, LEAK, inplace=True)
            if stride == 1:
                x = x[..., :-1, :-1]  # (B, C', 8, 8) -> (B, C', 7, 7), as _CropLast
            features[f"{x.shape[-1]}x{x.shape[-1]}"] = x
        # 3. output: (C_out*16, C) @ (B, C, n*n) = (B, C_out*16, n*n) columns -> fold -> (B, C_out, 2n, 2n)
        size = x.shape[-1] * strides[-1] + (1 if strides[-1] == 1 else 0)
        # in fp32 whatever `dtype`: this stage sets the pixels, and it is a small share of the work
        if low:
            # channels-last memory is (B, n, n, C) rows: cast them to fp32 in one linear pass and take
            # one product, instead of copying the largest activation into NCHW first (student at batch
            # 256, one thread, an AVX512-BF16 EPYC: this stage 18.8 ms -> 3.9 ms, the same fp32 values)
            rows = x.permute(0, 2, 3, 1).reshape(-1, x.shape[1]).float()  # (B*n*n, C)
            columns = torch.mm(rows, w_out.t()).view(x.shape[0], x.shape[2] * x.shape[3], w_out.shape[0]).transpose(1, 2)
        else:
            columns = torch.matmul(w_out, x.contiguous().flatten(2))
        image = nn.functional.fold(columns, (size, size), 4, stride=strides[-1], padding=1)
        if strides[-1] == 1:
            image = image[..., :-1, :-1]
        image = torch.tanh_(image)
        if not return_features:
            return image
        features["pixels"] = image
        return image, features

    def _folded(self, dtype: torch.dtype = torch.float32):
        """(project weight, bias), [(hidden weight, bias)...], output columns weight; the hidden ones in `dtype`;
        rebuilt whenever a parameter or BN statistic has changed (an optimizer step, an EMA update,
        load_state_dict all bump the tensors' version counters)."""
        key = (weights_version(self), dtype)
        cached = getattr(self, "_folded_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        with torch.no_grad():
            # torch's own BN folding: W' = W * scale, b' = shift (per output channel)
            project = fuse_linear_bn_eval(self.project[0], self.project[1])  # (C0*49, latent), (C0*49,)
            hidden = []
            for block in self.blocks[:-1]:
                conv = block[0][0] if isinstance(block[0], nn.Sequential) else block[0]
                fused = fuse_conv_bn_eval(conv, block[1], transpose=True)
                hidden.append((fused.weight, fused.bias))  # (C, C', 4, 4), (C',)
            out = self.blocks[-1][0]
            c_in, c_out = out.weight.shape[:2]
            columns = out.weight.reshape(c_in, c_out * 16).t().contiguous()  # (C_out*16, C)
        project = (project.weight, project.bias)  # fp32 in every dtype (see infer)
        if dtype != torch.float32:  # cast once, here, not on every call
            hidden = [(weight.to(dtype), bias.to(dtype)) for weight, bias in hidden]
        folded = (project, hidden, columns)
        self._folded_cache = (key, folded)
        return folded


def weights_version(module: nn.Module) -> tuple:
    """A key that changes whenever any parameter or buffer of `module` changes or is replaced (an
    optimizer step, an EMA update and load_state_dict all bump the tensors' version counters):
    what a cache of weights derived from them (folded BatchNorm) is checked against."""
    return tuple((tensor.data_ptr(), tensor._version) for tensor in (*module.parameters(), *module.buffers()))


def _upsample(c_in: int, c_out: int, stride: int) -> nn.Module:
    """ConvTranspose k4 that maps 7->7 (stride 1) or n->2n (stride 2)."""
    if stride == 2:
        return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False)
    # k4 s1 cannot keep the size with symmetric padding in PyTorch (padding 1 gives 8x8), so
    # crop the last row and column, the same as Keras' 'same' padding that pads (1, 2).
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, stride=1, padding=1, bias=False), _CropLast())


class _CropLast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., :-1, :-1]  # (B, C, 8, 8) -> (B, C, 7, 7)


class Dropout(nn.Module):
    """Inverted dropout whose mask on a CPU comes from 16-bit random integers, four per draw.

    Same maths as nn.Dropout, with p rounded to a multiple of 1/65,536 (0.3 -> 0.300003). Why: on a
    CPU torch's random numbers come from one thread, one draw per element; bernoulli_ (what
    nn.Dropout uses) is slower still. Measured on a 2-core Xeon with AMX, a (128, 64, 14, 14)
    activation (the app's default run, real and fake together): bernoulli_ 15.7 ms, a mask from
    rand_like 7.2 ms, this 3.6 ms. In that run the discriminator's two dropouts took a quarter of
    the trainer thread's time (py-spy). On a GPU, torch's own fused dropout.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise GanlabError(f"dropout must be in [0, 1), got {p}")
        self.p = p
        self.threshold = min(round(p * 65536), 65535) - 32768  # keep where a uniform int16 is at least this
        self.scale = 65536 / (32768 - self.threshold)  # 1 / (1 - the rate actually drawn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":
            return nn.functional.dropout(x, self.p, training=True)
        count = x.numel()
        # one int64 draw over its whole range is four independent uniform int16 values
        bits = torch.randint(-(2**63), 2**63 - 1, ((count + 3) // 4,), dtype=torch.int64, device=x.device)
        keep = bits.view(torch.int16)[:count].view(x.shape) >= self.threshold
        return x * keep * self.scale


class Discriminator(nn.Module):
    """image (B, 1, 28, 28) -> real/fake logit (B,)."""

    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DiscriminatorConfig()
        c1, c2 = config.channels
        # spectral norm keeps the original layers and only reparametrises their weights (torch's own)
        norm = nn.utils.parametrizations.spectral_norm if config.spectral_norm else (lambda layer: layer)
        self.net = nn.Sequential(
            norm(nn.Conv2d(1, c1, 5, stride=2, padding=2)),  # (B, c1, 14, 14)
            nn.LeakyReLU(LEAK),
            Dropout(config.dropout),
            norm(nn.Conv2d(c1, c2, 5, stride=2, padding=2)),  # (B, c2, 7, 7)
            nn.LeakyReLU(LEAK),
            Dropout(config.dropout),
            nn.Flatten(),  # (B, c2*49)
            norm(nn.Linear(c2 * 7 * 7, 1)),  # (B, 1)
        )

    def forward(self, image: torch.Tensor, return_features: bool = False):
        """Logits (B,); with return_features also its two activation maps, named by size, the
        space a perceptual distillation loss compares student and teacher images in."""
        if not return_features:
            return self.net(image).squeeze(1)
        features = {}
        x = image
        for index, layer in enumerate(self.net):
            x = layer(x)
            if index in (1, 4):  # after each LeakyReLU: (B, c1, 14, 14), (B, c2, 7, 7)
                features[f"{x.shape[-1]}x{x.shape[-1]}"] = x
        return x.squeeze(1), features


def architecture_lines(config: GeneratorConfig) -> list[str]:
    """A generator config's stages, one line each ('ConvTranspose 4×4 stride 2, BatchNorm, LeakyReLU → 14×14×64').

    The one description of an architecture: the About tab and the model cards both render it.
    """
    first = config.channels[0]
    lines = [f"Dense {config.latent_dim} → 7×7×{first}, BatchNorm, LeakyReLU → 7×7×{first}"]
    size, widths = 7, list(config.channels) + [1]
    for index, stride in enumerate(config.strides):
        size *= stride
        tail = "tanh" if index == len(config.strides) - 1 else "BatchNorm, LeakyReLU"
        lines.append(f"ConvTranspose 4×4 stride {stride}, {tail} → {size}×{size}×{widths[index + 1]}")
    return lines


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
            # a spectrally normalised layer computes .weight from the stored original: initialise that
            parametrized = nn.utils.parametrize.is_parametrized(module, "weight")
            weight = module.parametrizations.weight.original if parametrized else module.weight
            with torch.no_grad():
                nn.init.normal_(weight, 0.0, 0.02, generator=generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(module.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(module.bias)


assert IMAGE_SIZE == 28  # the stage arithmetic above (7 -> 14 -> 28) assumes MNIST's size
