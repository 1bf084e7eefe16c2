"""One training step of a GAN or a distillation: the maths the Trainer runs each step, as a function.

The Trainer owns the models, the optimisers and every random stream; it draws the batch and
the noise and calls `train_step`, which updates the discriminator, then the generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ganlab.config import TrainConfig
from ganlab.losses import discriminator_loss, generator_loss, r1_penalty
from ganlab.models import Discriminator, Generator


@dataclass
class StepModels:
    """What one step updates: both networks, their optimisers, the distilled layers' projections
    (narrow students), the EMA copy, and the frozen teacher (None: no distillation)."""

    generator: Generator
    discriminator: Discriminator
    optimizer_g: torch.optim.Optimizer
    optimizer_d: torch.optim.Optimizer
    projections: nn.ModuleDict
    ema: AveragedModel | None = None
    teacher: Generator | None = None


def _as_float(features: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor] | None:
    """Feature maps in fp32 for the distillation MSE (a no-op unless autocast made them bf16)."""
    return None if features is None else {name: value.float() for name, value in features.items()}


def train_step(models: StepModels, config: TrainConfig, real: torch.Tensor, z: torch.Tensor, step: int) -> dict[str, float]:
    """One discriminator update, then one generator update; the loss parts as floats.

    real (B, 1, 28, 28) and z (B, latent) on the models' device; `step` (0-based) sets α's schedule.
    """
    batch = real.shape[0]

    # bf16: convolutions and matmuls run in bfloat16 (oneDNN uses AMX / AVX512-BF16 where the
    # CPU has them); parameters, gradients, optimiser state and the losses stay fp32.
    autocast = torch.autocast(real.device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")

    # 1. generate; the teacher sees the same z, without gradients
    with autocast:
        fake, student_features = models.generator(z, return_features=True)  # (B, 1, 28, 28)
    teacher_features = None
    if models.teacher is not None:
        with torch.no_grad(), autocast:
            _, teacher_features = models.teacher(z, return_features=True)

    # 2. discriminator: real -> 1, fake -> 0, one forward over both halves (no BN in D,
    #    so concatenating changes nothing but halves the number of kernel launches).
    #    teacher_as_real swaps a share of the real batch for the teacher's images on this z
    #    (the teacher as a second source of data the student should match)
    teacher_image = teacher_features["pixels"].float() if teacher_features is not None else None
    shown_real = real
    if config.teacher_as_real and teacher_image is not None:
        count = round(config.teacher_as_real * batch)
        shown_real = torch.cat([teacher_image[:count].to(real.dtype), real[count:]])
    models.discriminator.requires_grad_(True)
    if config.r1_gamma:
        shown_real.requires_grad_(True)  # R1 differentiates D(x) with respect to the real images
    with autocast:
        logits = models.discriminator(torch.cat([shown_real, fake.detach().to(real.dtype)])).float()  # (2B,)
    loss_d, parts_d = discriminator_loss(logits[:batch], logits[batch:], real_label=config.real_label)
    if config.r1_gamma:
        penalty, parts_r1 = r1_penalty(logits[:batch], shown_real, config.r1_gamma)
        loss_d = loss_d + penalty
        parts_d.update(parts_r1)
    models.optimizer_d.zero_grad(set_to_none=True)
    loss_d.backward()
    models.optimizer_d.step()

    # 3. generator: fool the updated D, and match the teacher's features
    models.discriminator.requires_grad_(False)  # gradients flow through D to G only
    perceptual = None
    with autocast:
        if config.perceptual_weight and teacher_image is not None:
            fake_logits, fake_d_features = models.discriminator(fake, return_features=True)
            with torch.no_grad():
                _, teacher_d_features = models.discriminator(teacher_image, return_features=True)
            perceptual = (_as_float(fake_d_features), _as_float(teacher_d_features))
        else:
            fake_logits = models.discriminator(fake)
    fake_logits = fake_logits.float()  # (B,)
    distilling = models.teacher is not None
    loss_g, parts_g = generator_loss(
        fake_logits,
        alpha=config.alpha_at(step) if distilling else 0.0,
        student_features=_as_float(student_features),
        teacher_features=_as_float(teacher_features),
        layers=config.layers if distilling else (),
        projections=models.projections,
        pixel_distance=config.pixel_distance,
        perceptual=perceptual,
        perceptual_weight=config.perceptual_weight,
    )
    models.optimizer_g.zero_grad(set_to_none=True)
    loss_g.backward()
    models.optimizer_g.step()
    if models.ema is not None:
        models.ema.update_parameters(models.generator)
    return {**parts_g, **parts_d}
