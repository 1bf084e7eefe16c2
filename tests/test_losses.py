import math

import pytest
import torch

from ganlab.losses import discriminator_loss, distillation_loss, generator_loss


def bce(p, label):
    return -(label * math.log(p) + (1 - label) * math.log(1 - p))


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_discriminator_loss_against_hand_computation():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    total, parts = discriminator_loss(real, fake)
    expected_real = (bce(sigmoid(2.0), 1) + bce(sigmoid(-1.0), 1)) / 2
    expected_fake = (bce(sigmoid(0.5), 0) + bce(sigmoid(-3.0), 0)) / 2
    assert total.item() == pytest.approx(expected_real + expected_fake, rel=1e-6)
    assert parts["d_x"] == pytest.approx((sigmoid(2.0) + sigmoid(-1.0)) / 2, rel=1e-6)
    assert parts["d_g_z"] == pytest.approx((sigmoid(0.5) + sigmoid(-3.0)) / 2, rel=1e-6)


def test_label_smoothing_changes_only_the_real_term():
    real, fake = torch.tensor([2.0]), torch.tensor([0.5])
    _, smooth = discriminator_loss(real, fake, real_label=0.9)
    assert smooth["d_real_loss"] == pytest.approx(bce(sigmoid(2.0), 0.9), rel=1e-6)
    assert smooth["d_fake_loss"] == pytest.approx(bce(sigmoid(0.5), 0), rel=1e-6)


def test_generator_loss_mixes_adversarial_and_feature_mse():
    fake_logits = torch.tensor([0.3, -0.7])
    student = {"14x14": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "7x7": torch.zeros(2, 2)}
    teacher = {"14x14": torch.tensor([[1.0, 0.0], [3.0, 7.0]]), "7x7": torch.ones(2, 2)}
    adversarial = (bce(sigmoid(0.3), 1) + bce(sigmoid(-0.7), 1)) / 2
    mse_14 = (0 + 4 + 0 + 9) / 4
    for alpha in (0.0, 0.5, 1.0):
        total, parts = generator_loss(
            fake_logits, alpha=alpha, student_features=student, teacher_features=teacher, layers=["14x14"]
        )
        assert total.item() == pytest.approx((1 - alpha) * adversarial + alpha * mse_14, rel=1e-6)
        assert parts["adversarial"] == pytest.approx(adversarial, rel=1e-6)
        assert parts["distill_14x14"] == pytest.approx(mse_14)
    # several layers: the mean of the per-layer MSEs
    total, parts = distillation_loss(student, teacher, ["14x14", "7x7"])
    assert total.item() == pytest.approx((mse_14 + 1.0) / 2)
    assert parts["distill_7x7"] == pytest.approx(1.0)


def test_distillation_does_not_push_gradients_into_the_teacher():
    student = {"14x14": torch.zeros(2, 3, requires_grad=True)}
    teacher = {"14x14": torch.ones(2, 3, requires_grad=True)}
    total, _ = distillation_loss(student, teacher, ["14x14"])
    total.backward()
    assert teacher["14x14"].grad is None
    assert torch.allclose(student["14x14"].grad, torch.full((2, 3), -2 / 6))


def test_mismatched_feature_shapes_are_an_error():
    with pytest.raises(ValueError, match="14x14"):
        distillation_loss({"14x14": torch.zeros(2, 3)}, {"14x14": torch.zeros(2, 4)}, ["14x14"])


def test_pixel_l1_compares_only_the_pixels_layer_by_absolute_error():
    student = {"pixels": torch.tensor([[0.5, -1.0]]), "7x7": torch.tensor([[2.0, 0.0]])}
    teacher = {"pixels": torch.tensor([[0.0, 1.0]]), "7x7": torch.tensor([[0.0, 0.0]])}
    total, parts = distillation_loss(student, teacher, ["pixels", "7x7"], pixel_distance="l1")
    assert parts["distill_pixels"] == pytest.approx((0.5 + 2.0) / 2)  # mean |difference|
    assert parts["distill_7x7"] == pytest.approx(4.0 / 2)  # still MSE
    assert total.item() == pytest.approx((1.25 + 2.0) / 2)


def test_perceptual_term_is_l1_of_discriminator_features_added_with_its_weight():
    fake_logits = torch.tensor([0.0])
    student_d = {"14x14": torch.tensor([1.0, 3.0], requires_grad=True), "7x7": torch.tensor([0.0])}
    teacher_d = {"14x14": torch.tensor([0.0, 0.0], requires_grad=True), "7x7": torch.tensor([2.0])}
    perceptual = ((1 + 3) / 2 + 2) / 2  # mean over maps of mean |difference|
    total, parts = generator_loss(fake_logits, perceptual=(student_d, teacher_d), perceptual_weight=3.0)
    assert parts["perceptual"] == pytest.approx(perceptual)
    assert total.item() == pytest.approx(bce(0.5, 1) + 3.0 * perceptual, rel=1e-6)
    total.backward()
    assert teacher_d["14x14"].grad is None and student_d["14x14"].grad is not None  # the teacher is a target
