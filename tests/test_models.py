import pytest
import torch

from ganlab.config import GeneratorConfig
from ganlab.errors import GanlabError
from ganlab.models import Discriminator, Generator, count_parameters, init_weights


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


@pytest.mark.parametrize("config", [GeneratorConfig.teacher(), GeneratorConfig.student(), GeneratorConfig.student(width=16)], ids=["teacher", "student", "student-w16"])
def test_the_folded_inference_path_equals_the_module_path(config):
    torch.manual_seed(0)
    model = Generator(config)
    init_weights(model)
    with torch.no_grad():  # BN statistics that are not the identity, so folding has work to do
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.normal_(0, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.bias.normal_(0, 0.1)
    model.eval()
    z = torch.randn(5, config.latent_dim)
    with torch.enable_grad():  # gradients on: the layer-by-layer module path
        image, features = model(z, return_features=True)
    with torch.no_grad():
        fast_image, fast_features = model(z, return_features=True)
    with torch.inference_mode():
        assert torch.allclose(model(z), image, atol=1e-5)
    assert torch.allclose(fast_image, image, atol=1e-5)
    assert fast_features.keys() == features.keys()
    for name in features:
        assert fast_features[name].shape == features[name].shape
        assert torch.allclose(fast_features[name], features[name], atol=1e-5), name


def test_the_folded_weights_follow_every_change_to_the_model():
    model = Generator(GeneratorConfig.student(width=8)).eval()
    z = torch.randn(3, 100)
    with torch.no_grad():
        before = model(z)
        model.project[1].running_mean.add_(1.0)  # a BN statistic
        after_stats = model(z)
        model.blocks[-1][0].weight.mul_(2.0)  # the output stage
        after_weight = model(z)
        other = Generator(GeneratorConfig.student(width=8))
        model.load_state_dict(other.state_dict())
        loaded = model(z)
        reference = other.eval()(z)
    assert not torch.allclose(before, after_stats)
    assert not torch.allclose(after_stats, after_weight)
    assert torch.allclose(loaded, reference, atol=1e-6)
    with torch.enable_grad():
        assert torch.allclose(model(z), loaded, atol=1e-5)
        model.train()
        model(z).sum().backward()  # training uses the library layers: gradients reach every weight
    assert all(parameter.grad is not None for parameter in model.parameters())
    assert model.state_dict().keys() == other.state_dict().keys()  # the cache is never saved


def test_bf16_sampling_stays_close_to_fp32_and_returns_fp32_images():
    from ganlab.errors import GanlabError
    from ganlab.precision import inference_dtype
    from ganlab.sampling import generate, noise

    torch.manual_seed(0)
    model = Generator(GeneratorConfig.student(width=16))
    init_weights(model, torch.Generator().manual_seed(0))
    z = noise(64, 0)
    exact, low = generate(model, z, "fp32"), generate(model, z, "bf16")
    assert low.dtype == torch.float32 and low.shape == exact.shape
    assert (low - exact).abs().max() < 0.05 and not torch.equal(low, exact)  # bf16 really ran, and stayed close
    assert torch.equal(generate(model, z, "fp32"), exact)  # the fp32 cache is rebuilt after the bf16 one
    # the projection runs in fp32 in both (rounding it was most of bf16's pixel error): bf16 starts
    # from fp32's 7x7 features, rounded once
    with torch.inference_mode():
        _, fp32_features = model.eval().infer(z, return_features=True)
        _, bf16_features = model.infer(z, dtype=torch.bfloat16, return_features=True)
    assert bf16_features["7x7"].dtype == torch.bfloat16
    assert torch.equal(bf16_features["7x7"], fp32_features["7x7"].to(torch.bfloat16))
    # the output stage reads bf16's channels-last map as rows instead of copying it to NCHW: the
    # same fp32 product and fold as the fp32 path's, on those features (student and teacher
    # designs, batch 64, 1 and 0)
    teacher = Generator(GeneratorConfig(channels=(32, 16, 8), strides=(1, 2, 2)))  # the teacher's design, narrower
    init_weights(teacher, torch.Generator().manual_seed(1))
    for generator, batch in ((model, 64), (model, 1), (teacher.eval(), 3), (model, 0)):
        with torch.inference_mode():
            image, features = generator.infer(z[:batch], dtype=torch.bfloat16, return_features=True)
        hidden = features["14x14"]
        assert image.shape == (batch, 1, 28, 28) and (batch == 0 or hidden.is_contiguous(memory_format=torch.channels_last))
        _, _, w_out = generator._folded(torch.bfloat16)
        columns = torch.matmul(w_out, hidden.float().contiguous().flatten(2))
        expected = torch.tanh(torch.nn.functional.fold(columns, (28, 28), 4, stride=2, padding=1))
        assert torch.allclose(image, expected, rtol=0, atol=1e-6)
    with pytest.raises(GanlabError, match="precision must be one of"):
        inference_dtype("fp8")


@pytest.mark.parametrize(
    "config", [GeneratorConfig.teacher(), GeneratorConfig.student(), GeneratorConfig(channels=(32, 16, 8, 4), strides=(1, 1, 2, 2))]
)
def test_multiply_adds_from_the_config_match_torchs_flop_counter(config):
    """The arithmetic the app's Hub cost cap reads (nothing built) agrees with what torch counts running the model."""
    from torch.utils.flop_counter import FlopCounterMode

    model = Generator(config).eval()
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, config.latent_dim))
    assert config.multiply_adds() == counter.get_total_flops() // 2
    assert GeneratorConfig.teacher().multiply_adds() == 33_567_744


def test_sizes_are_counted_on_the_model_itself_and_equal_the_seeds_table():
    """ganlab.registry builds each model on the meta device: the counts are the model's, and they
    match the original design's parameter table (teacher 1,961,728; student 784,640)."""
    from ganlab.registry import on_meta, parameter_count

    assert parameter_count(GeneratorConfig.teacher()) == 1_961_728
    assert parameter_count(GeneratorConfig.student()) == 784_640
    assert GeneratorConfig.student().multiply_adds() == 7_250_432  # 4.63x fewer than the teacher's 33,567,744
    assert all(p.device.type == "meta" for p in on_meta(GeneratorConfig.teacher()).parameters())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_form_of_the_stride_two_transposed_convolution_equals_torchs(dtype):
    """The forms scripts/bench_precision.py times (ganlab.conv_forms) compute the same layer, so
    their speeds are comparable; odd sizes and channel counts catch a phase or crop off by one."""
    from ganlab.conv_forms import FORMS, phase_weights

    torch.manual_seed(0)
    for batch, c_in, c_out, n in ((3, 8, 5, 7), (1, 3, 2, 14), (2, 16, 1, 5)):
        x, weight, bias = torch.randn(batch, c_in, n, n), torch.randn(c_in, c_out, 4, 4) / c_in, torch.randn(c_out)
        expected = torch.nn.functional.conv_transpose2d(x, weight, bias, stride=2, padding=1)
        for name, form in FORMS.items():
            got = form(x.to(dtype), weight.to(dtype), bias.to(dtype))
            assert got.shape == expected.shape and got.dtype == dtype, name
            tolerance = 1e-5 if dtype == torch.float32 else 0.05  # bf16: inputs and the output rounded to 8 bits
            assert (got.float() - expected).abs().max() < tolerance, name
        assert phase_weights(weight).shape == (4 * c_out, c_in, 2, 2)


def test_a_large_batch_is_drawn_in_chunks_with_the_same_pixels_as_in_one_piece():
    from ganlab.sampling import CPU_CHUNK, generate, noise

    model = Generator(GeneratorConfig.student(width=16))
    init_weights(model, torch.Generator().manual_seed(0))
    z = noise(2 * CPU_CHUNK + 5, 3)  # two full chunks and a short one
    for precision in ("fp32", "bf16"):
        whole = generate(model, z, precision, chunk=len(z))
        chunked = generate(model, z, precision)
        assert chunked.shape == (len(z), 1, 28, 28) and chunked.dtype == torch.float32
        # each sample depends only on its own noise (BatchNorm in eval mode): the same images up to
        # float rounding (torch picks kernels by batch size): within a grey level in bf16
        tolerance = 1e-5 if precision == "fp32" else 2 / 255
        assert torch.allclose(chunked, whole, rtol=0, atol=tolerance), precision
        assert torch.allclose(generate(model, z, precision, chunk=7), whole, rtol=0, atol=tolerance)
        assert torch.equal(chunked[:CPU_CHUNK], generate(model, z[:CPU_CHUNK], precision))  # a first chunk is that batch
    assert model.training  # generate leaves the model's mode as it found it, chunked or not
    # a module without the folded path (a plain nn.Module) is chunked the same way
    plain = torch.nn.Sequential(torch.nn.Linear(100, 784), torch.nn.Unflatten(1, (1, 28, 28)))
    assert torch.allclose(generate(plain, z, chunk=10), generate(plain, z, chunk=len(z)), atol=1e-5)
    with pytest.raises(GanlabError, match="chunk must be at least 1"):
        generate(model, z, chunk=0)


def test_the_allocator_is_tuned_once_and_leaves_a_chosen_threshold_alone(monkeypatch):
    import platform

    from ganlab import allocator

    calls = []
    answer = {"value": 1}
    monkeypatch.setattr(allocator, "_mallopt", lambda: lambda option, value: calls.append((option, value)) or answer["value"])
    for name in (*allocator.ENVIRONMENT, "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)

    def fresh():
        monkeypatch.setattr(allocator, "_tuned", None)
        calls.clear()
        return allocator.tune()

    tuned = fresh()
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        assert tuned == {} and calls == []
        return
    assert tuned == {"mmap_threshold": allocator.MMAP_THRESHOLD, "trim_threshold": allocator.TRIM_THRESHOLD}
    assert calls == [(-3, allocator.MMAP_THRESHOLD), (-1, allocator.TRIM_THRESHOLD)]  # M_MMAP_THRESHOLD, then M_TRIM_THRESHOLD
    assert allocator.tune() is tuned and len(calls) == 2  # once per process
    # a refused mmap threshold: the trim threshold alone (measured slower than neither) is not set
    answer["value"] = 0
    assert fresh() == {} and calls == [(-3, allocator.MMAP_THRESHOLD)]
    answer["value"] = 1
    # whoever runs it chose a threshold through glibc's own variables: theirs wins, nothing is set
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    assert fresh() == {} and calls == []
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=65536")
    assert fresh() == {} and calls == []
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")  # another tunable: ours still apply
    assert fresh() and len(calls) == 2


def test_the_discriminators_dropout_drops_p_of_its_inputs_and_scales_the_rest():
    from ganlab.models import Dropout

    layer = Dropout(0.3).train()
    x = torch.ones(500, 800, requires_grad=True)
    torch.manual_seed(0)
    y = layer(x)
    dropped = y == 0
    # four mask values come from each 64-bit draw: each of the four lanes drops at rate p on its own
    lanes = dropped.view(-1, 4).float().mean(0)
    assert torch.allclose(lanes, torch.full((4,), 0.3), atol=0.005), lanes
    assert torch.allclose(y[~dropped], torch.tensor(1 / 0.7))  # inverted dropout: the mean is kept
    assert abs(float(y.detach().mean()) - 1.0) < 0.01
    y.sum().backward()
    assert torch.equal(x.grad == 0, dropped)  # no gradient through a dropped unit
    torch.manual_seed(0)
    assert torch.equal(layer(x), y)  # the global seed decides the mask, as for nn.Dropout
    assert layer.eval()(x) is x and Dropout(0.0).train()(x) is x
    assert Dropout(0.95).train()(torch.ones(10_000)).eq(0).float().mean() > 0.9  # the largest p a config allows
    # lanes of one draw are independent: two of them both drop at about p squared
    both = (dropped.view(-1, 4)[:, 0] & dropped.view(-1, 4)[:, 1]).float().mean()
    assert abs(float(both) - 0.09) < 0.005, both
    with pytest.raises(GanlabError, match="dropout must be in"):
        Dropout(1.0)
