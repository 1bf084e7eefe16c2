import pytest
import torch

from ganlab.config import GeneratorConfig
from ganlab.errors import GanlabError
from ganlab.models import Discriminator, Generator, count_parameters


def test_teacher_and_student_match_the_original_parameter_table():
    # Keras-style: parameters plus BatchNorm moving mean/variance (the original table)
    teacher = count_parameters(Generator(GeneratorConfig.teacher()))
    student = count_parameters(Generator(GeneratorConfig.student()))
    assert teacher["keras"] == 1_961_728
    assert student["keras"] == 784_640
    # trainable = keras count minus two running statistics per BN channel
    assert teacher["trainable"] == 1_961_728 - 2 * (7 * 7 * 256 + 128 + 64) == 1_936_256
    assert student["trainable"] == 784_640 - 2 * (7 * 7 * 128 + 64) == 771_968


def test_hand_count_of_the_teacher_layers():
    dense = 100 * 7 * 7 * 256
    bn = 4 * 7 * 7 * 256 + 4 * 128 + 4 * 64
    convs = 256 * 128 * 16 + 128 * 64 * 16 + 64 * 1 * 16
    assert dense + bn + convs == 1_961_728


@pytest.mark.parametrize("config", [GeneratorConfig.teacher(), GeneratorConfig.student()])
def test_generators_expose_equal_shape_features(config):
    generator = Generator(config).eval()
    image, features = generator(torch.randn(3, 100), return_features=True)
    assert image.shape == (3, 1, 28, 28)
    assert features["7x7"].shape == (3, 128, 7, 7)
    assert features["14x14"].shape == (3, 64, 14, 14)
    assert features["pixels"] is image
    assert image.abs().max() <= 1.0  # tanh output range
    plain = generator(torch.randn(3, 100))
    assert isinstance(plain, torch.Tensor)


def test_teacher_7x7_feature_is_after_its_stride_one_stage():
    teacher = Generator(GeneratorConfig.teacher()).eval()
    z = torch.randn(2, 100)
    _, features = teacher(z, return_features=True)
    projected = teacher.project(z).view(2, 256, 7, 7)
    assert torch.allclose(features["7x7"], teacher.blocks[0](projected))


def test_discriminator_gives_one_logit_per_image():
    assert Discriminator().eval()(torch.randn(5, 1, 28, 28)).shape == (5,)


def test_student_width_scales_and_bad_widths_are_refused():
    narrow = Generator(GeneratorConfig.student(width=16)).eval()
    _, features = narrow(torch.randn(2, 100), return_features=True)
    assert features["7x7"].shape == (2, 16, 7, 7) and features["14x14"].shape == (2, 8, 14, 14)
    with pytest.raises(GanlabError, match="width"):
        GeneratorConfig.student(width=0)
    with pytest.raises(GanlabError, match="strides"):
        GeneratorConfig(channels=(64, 32), strides=(1, 1))


def test_the_sub_pixel_output_stage_equals_the_transposed_convolution():
    from ganlab.models import SubPixelConvTranspose2d

    layer = SubPixelConvTranspose2d(16, 1, 4, stride=2, padding=1, bias=False)
    reference = torch.nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1, bias=False)
    reference.weight.data.copy_(layer.weight.data)
    x = torch.randn(3, 16, 14, 14)
    with torch.inference_mode():
        fast = layer(x)
    assert fast.shape == (3, 1, 28, 28)
    assert torch.allclose(fast, reference(x), atol=1e-5)
    # with gradients on, the library path runs and gradients reach the weight
    layer(x).sum().backward()
    assert layer.weight.grad is not None
    # the state dict is a plain ConvTranspose2d's, so checkpoints are unchanged
    assert set(layer.state_dict()) == {"weight"}
