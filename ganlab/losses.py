"""Pure loss functions: each returns (total, parts) where parts are detached named floats.

The original design: adversarial BCE on logits, distillation = MSE between teacher and
student features on the same noise, generator loss = (1 - alpha)*adversarial + alpha*distill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, *, real_label: float = 1.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """BCE(real -> 1) + BCE(fake -> 0), the sum as in the original; real_label < 1 smooths."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    total = real + fake
    parts = {
        "discriminator": total.item(),
        "d_real_loss": real.item(),
        "d_fake_loss": fake.item(),
        # D(x) and D(G(z)): mean probabilities, the classic GAN health signals
        "d_x": torch.sigmoid(real_logits).mean().item(),
        "d_g_z": torch.sigmoid(fake_logits).mean().item(),
    }
    return total, parts


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor, gamma: float) -> tuple[torch.Tensor, dict[str, float]]:
    """(gamma / 2) * E ||grad_x D(x)||^2 on real images (Mescheder et al. 2018).

    It keeps D flat around the data, so G's gradients stay informative. `real` must require
    grad and `real_logits` must come from it; the graph is kept so the penalty can be trained.
    """
    (gradient,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    penalty = 0.5 * gamma * gradient.float().pow(2).flatten(1).sum(1).mean()
    return penalty, {"r1": penalty.item()}


def adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's non-saturating loss: its fakes labelled real."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def distillation_loss(
    student_features: Mapping[str, torch.Tensor],
    teacher_features: Mapping[str, torch.Tensor],
    layers: Sequence[str],
    projections: Mapping[str, torch.nn.Module] | None = None,
    *,
    pixel_distance: str = "mse",
) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean over layers of MSE(teacher, student) features; parts name each layer.

    A student narrower than the teacher at a layer is mapped up by a learned 1x1 projection
    (FitNets' regressor) passed in `projections`; equal shapes compare directly.
    pixel_distance "l1" compares the "pixels" layer by mean absolute error instead: L1 does not
    let a student average two plausible strokes into a grey one (it pulls to the median).
    """
    per_layer = []
    parts = {}
    for layer in layers:
        student = student_features[layer]
        if projections is not None and layer in projections:
            student = projections[layer](student)
        teacher = teacher_features[layer].detach()
        if student.shape != teacher.shape:
            raise ValueError(
                f"layer {layer}: student {tuple(student.shape)} vs teacher {tuple(teacher.shape)}"
            )
        loss = F.l1_loss(student, teacher) if layer == "pixels" and pixel_distance == "l1" else F.mse_loss(student, teacher)
        per_layer.append(loss)
        parts[f"distill_{layer}"] = loss.item()
    total = torch.stack(per_layer).mean()
    parts["distillation"] = total.item()
    return total, parts


def perceptual_loss(
    student_features: Mapping[str, torch.Tensor], teacher_features: Mapping[str, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean over the discriminator's feature maps of L1(student image's, teacher image's).

    TinyGAN's feature-level distillation: the images are compared where the discriminator
    looks (strokes and edges), not pixel by pixel. The teacher's side carries no gradient.
    """
    per_map = [F.l1_loss(student_features[name], teacher_features[name].detach()) for name in teacher_features]
    total = torch.stack(per_map).mean()
    return total, {"perceptual": total.item()}


def generator_loss(
    fake_logits: torch.Tensor,
    *,
    alpha: float = 0.0,
    student_features: Mapping[str, torch.Tensor] | None = None,
    teacher_features: Mapping[str, torch.Tensor] | None = None,
    layers: Sequence[str] = (),
    projections: Mapping[str, torch.nn.Module] | None = None,
    pixel_distance: str = "mse",
    perceptual: tuple[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor]] | None = None,
    perceptual_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """(1 - alpha) * adversarial + alpha * distillation (+ perceptual_weight * perceptual, given
    the discriminator's features of the student's and the teacher's images); alpha = 0 is the
    plain GAN loss."""
    adversarial = adversarial_loss(fake_logits)
    parts = {"adversarial": adversarial.item()}
    total = adversarial
    if teacher_features is not None and layers:
        distill, distill_parts = distillation_loss(student_features, teacher_features, layers, projections, pixel_distance=pixel_distance)
        parts.update(distill_parts)
        total = (1.0 - alpha) * adversarial + alpha * distill
    if perceptual is not None and perceptual_weight > 0:
        feature_loss, feature_parts = perceptual_loss(*perceptual)
        parts.update(feature_parts)
        total = total + perceptual_weight * feature_loss
    parts["generator"] = total.item()
    return total, parts
