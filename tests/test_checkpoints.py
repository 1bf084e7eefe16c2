import json

import pytest
import torch

from ganlab.checkpoints import build_model, load_checkpoint, read_config, save_checkpoint
from ganlab.config import GeneratorConfig, config_from_dict
from ganlab.errors import GanlabError
from ganlab.models import Discriminator, Generator, init_weights
from ganlab.sampling import generate, noise


def test_round_trip_gives_identical_outputs(tmp_path):
    model = Generator(GeneratorConfig.student(width=16))
    init_weights(model, torch.Generator().manual_seed(0))
    # non-trivial BN running statistics, so the buffers are part of what is checked
    model.train()(torch.randn(32, 100))
    save_checkpoint(model, tmp_path / "ckpt", training={"steps": 1})
    loaded = load_checkpoint(tmp_path / "ckpt", expect="generator")
    assert loaded.config == model.config
    z = noise(8, 5)
    assert torch.equal(generate(model, z), generate(loaded, z))
    # the lone .safetensors file carries its config in its header
    alone = load_checkpoint(tmp_path / "ckpt" / "model.safetensors")
    assert torch.equal(generate(alone, z), generate(model, z))
    assert json.loads((tmp_path / "ckpt" / "training.json").read_text()) == {"steps": 1}


def test_corrupted_truncated_and_missing_files_are_clear_errors(tiny_checkpoint, tmp_path):
    weights = tiny_checkpoint / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(GanlabError, match="not a readable safetensors"):
        load_checkpoint(tiny_checkpoint)
    weights.write_bytes(b"\x00" * 64)
    with pytest.raises(GanlabError, match="safetensors"):
        load_checkpoint(tiny_checkpoint)
    with pytest.raises(GanlabError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    pickle_file = tmp_path / "weights.pt"
    pickle_file.write_bytes(b"not really")
    with pytest.raises(GanlabError, match="pickled"):
        load_checkpoint(pickle_file)


def test_config_of_another_architecture_is_refused(tiny_checkpoint):
    (tiny_checkpoint / "config.json").write_text(json.dumps(GeneratorConfig.teacher().to_dict()))
    with pytest.raises(GanlabError, match="does not match|shape"):
        load_checkpoint(tiny_checkpoint)
    (tiny_checkpoint / "config.json").write_text('{"kind": "generator", "channels": [8, 4], "bogus": 1}')
    with pytest.raises(GanlabError, match="unknown fields"):
        read_config(tiny_checkpoint)
    (tiny_checkpoint / "config.json").write_text("{not json")
    with pytest.raises(GanlabError, match="not valid JSON"):
        read_config(tiny_checkpoint)


def test_float_widths_and_strides_in_a_config_are_normalised_or_refused():
    # JSON may spell 8 as 8.0: that is 8, and the model builds; 8.5 is no width at all
    config = config_from_dict({"kind": "generator", "channels": [8.0, 4.0], "strides": [2.0, 2]})
    assert config.channels == (8, 4) and config.strides == (2, 2) and all(type(v) is int for v in config.channels + config.strides)
    assert build_model(config)(torch.zeros(2, 100)).shape == (2, 1, 28, 28)
    assert config_from_dict({"kind": "discriminator", "channels": [4.0, 8.0]}).channels == (4, 8)
    for bad, message in (
        ({"kind": "generator", "channels": [8.5, 4], "strides": [2, 2]}, "generator channel width"),
        ({"kind": "generator", "channels": [8, 4], "strides": [2.5, 2]}, "generator stride"),
        ({"kind": "classifier", "channels": [4, "8"]}, "classifier channel width"),
    ):
        with pytest.raises(GanlabError, match=message):
            config_from_dict(bad)


def test_wrong_kind_is_refused(tmp_path):
    save_checkpoint(Discriminator(), tmp_path / "d")
    with pytest.raises(GanlabError, match="not a generator"):
        load_checkpoint(tmp_path / "d", expect="generator")


def test_nan_weights_are_refused(tmp_path):
    model = Generator(GeneratorConfig.student(width=8))
    with torch.no_grad():
        model.blocks[-1][0].weight.fill_(float("nan"))
    save_checkpoint(model, tmp_path / "nan")
    with pytest.raises(GanlabError, match="NaN"):
        load_checkpoint(tmp_path / "nan")


def test_interrupted_save_leaves_the_previous_checkpoint_loadable(tiny_checkpoint, monkeypatch):
    before = (tiny_checkpoint / "model.safetensors").read_bytes()
    import ganlab.checkpoints as checkpoints

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(checkpoints, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(Generator(GeneratorConfig.student(width=8)), tiny_checkpoint)
    assert (tiny_checkpoint / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tiny_checkpoint.iterdir()) == ["config.json", "model.safetensors", "training.json"]
    load_checkpoint(tiny_checkpoint)
