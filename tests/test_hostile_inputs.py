"""Hostile inputs (issue #12): each is refused with one line, before anything is built or written.

Checkpoints can come from anyone's Hub repo, so their config.json, header and tensors are
checked in that order, each before the next step costs memory. Script subprocesses run under
an address-space limit, so a regression fails a test instead of exhausting the machine.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conftest import REPO
from ganlab import checkpoints
from ganlab.checkpoints import load_checkpoint, read_config, read_training_info
from ganlab.config import ClassifierConfig, DiscriminatorConfig, GeneratorConfig, TrainConfig
from ganlab.errors import GanlabError

ADDRESS_SPACE_LIMIT = 4 * 2**30  # enough for torch and a tiny model; far below any bomb


def run_limited(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """A scripts/ entry point as a user runs it, with at most 4 GiB of address space."""
    limit = lambda: resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))  # noqa: E731
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, preexec_fn=limit
    )


def assert_one_line(result: subprocess.CompletedProcess, message: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr[-2000:]


def with_config(folder: Path, config: dict | str) -> Path:
    """`folder`'s config.json replaced (a dict as JSON, a str as is); its weights kept."""
    (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    return folder


def with_tensors(folder: Path, change) -> Path:
    """`folder`'s weights rewritten through change(tensors), the header's config kept."""
    weights = folder / "model.safetensors"
    with safe_open(str(weights), framework="pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(weights))
    change(tensors)
    save_file(tensors, str(weights), metadata=metadata)
    return folder


def refuse_building(monkeypatch) -> None:
    """Make allocating any model parameter fail the test: the checks must come before. (Sizes are
    counted on the meta device, which holds shapes only: that is allowed.)"""
    original = torch.nn.Parameter.__new__

    def allocated(cls, data=None, requires_grad=True):
        if data is None or data.device.type != "meta":
            raise AssertionError("a model was built before its checkpoint was refused")
        return original(cls, data, requires_grad)

    monkeypatch.setattr(torch.nn.Parameter, "__new__", staticmethod(allocated))


def refuse_loading(monkeypatch) -> None:
    """Make loading any tensor fail the test: the header checks must come before."""

    def loaded(*args, **kwargs):
        raise AssertionError("tensors were loaded before the header was checked")

    monkeypatch.setattr(checkpoints, "load_file", loaded)


# --- 1. memory bomb from a checkpoint config ---------------------------------------------------

FORTY_STAGES = {"kind": "generator", "channels": [4096] * 40, "strides": [1] * 38 + [2, 2], "latent_dim": 100}
WIDE_LATENT = {"kind": "generator", "channels": [2048, 1024], "strides": [2, 2], "latent_dim": 4096}
BUDGET = r"describes [\d,]+ parameters; ganlab models have at most 50,000,000"


@pytest.mark.parametrize(
    "config, message",
    [
        (FORTY_STAGES, "a generator has at most 8 stages, got 40"),
        ({"kind": "generator", "channels": [8] * 9, "strides": [1] * 7 + [2, 2]}, "at most 8 stages, got 9"),
        (WIDE_LATENT, BUDGET),  # ~414 M parameters: 1.6 GB before the weights were even read
        ({"kind": "discriminator", "channels": [4096, 4096]}, BUDGET),
        ({"kind": "classifier", "channels": [32, 4096], "hidden": 65536}, BUDGET),
    ],
    ids=["forty-stages", "nine-small-stages", "wide-latent", "wide-discriminator", "wide-classifier"],
)
def test_an_oversized_config_is_refused_before_any_model_is_built(tiny_checkpoint, monkeypatch, config, message):
    with_config(tiny_checkpoint, config)
    refuse_building(monkeypatch)
    with pytest.raises(GanlabError, match=message):
        load_checkpoint(tiny_checkpoint)


@pytest.mark.parametrize(
    "config",
    [
        GeneratorConfig.teacher(),
        GeneratorConfig.student(8),
        GeneratorConfig(channels=(5, 6, 7, 3), strides=(1, 1, 2, 2), latent_dim=3),
        DiscriminatorConfig(channels=(3, 5)),
        ClassifierConfig(channels=(3, 5), hidden=7, num_classes=4),
    ],
    ids=["teacher", "student", "two-7x7-stages", "discriminator", "classifier"],
)
def test_the_budget_counts_what_the_built_model_holds(config):
    # the oracle: the arithmetic used before building equals the parameters and BN statistics built
    from ganlab.classifier import Classifier
    from ganlab.models import Discriminator, Generator

    model = {GeneratorConfig: Generator, DiscriminatorConfig: Discriminator, ClassifierConfig: Classifier}[type(config)](config)
    statistics = sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    assert config.parameter_count() == sum(p.numel() for p in model.parameters()) + statistics


def test_sample_on_a_forty_stage_folder_is_one_line(tiny_checkpoint, tmp_path):
    with_config(tiny_checkpoint, FORTY_STAGES)  # ~42 GiB if built
    result = run_limited("scripts/sample.py", "--model", str(tiny_checkpoint), "--out", str(tmp_path / "g.png"))
    assert_one_line(result, "a generator has at most 8 stages, got 40")
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda tensors: tensors.update({"blocks.0.0.weight": torch.zeros(512, 512, 4, 4)}), r"has shape \(512, 512, 4, 4\), config expects \(8, 4, 4, 4\)"),
        (lambda tensors: tensors.update({name: t.double() for name, t in tensors.items() if t.is_floating_point()}), "is F64, config expects F32"),
        (lambda tensors: tensors.update({"extra.weight": torch.zeros(4096, 4096)}), r"unexpected \['extra.weight'\]"),
    ],
    ids=["shape", "dtype", "extra-tensor"],
)
def test_tensors_are_checked_from_the_header_before_any_is_loaded(tiny_checkpoint, monkeypatch, change, message):
    with_tensors(tiny_checkpoint, change)
    refuse_loading(monkeypatch)
    with pytest.raises(GanlabError, match=message):
        load_checkpoint(tiny_checkpoint)


# --- 5. batch size 1 ---------------------------------------------------------------------------


def test_batch_size_one_is_refused_by_the_config():
    with pytest.raises(GanlabError, match=r"batch size must be an integer in \[2, 4096\], got 1"):
        TrainConfig(batch_size=1)


@pytest.mark.parametrize("script", ["scripts/train_teacher.py", "scripts/distill.py"])
def test_training_scripts_refuse_batch_size_one(tmp_path, script):
    result = run_limited(script, "--batch-size", "1", "--dry-run", "--quiet", "--out", str(tmp_path / "run"))
    assert_one_line(result, "--batch-size")
    assert "[2, 4096]" in result.stderr and not (tmp_path / "run").exists()


def test_the_lab_refuses_batch_size_one_and_claims_nothing(tmp_path):
    from lab_fixtures import tiny_lab

    lab = tiny_lab(tmp_path)
    with pytest.raises(GanlabError, match=r"batch size must be an integer in \[2, "):
        lab.start_run(steps=5, batch_size=1)
    assert lab.slot.current() is None


# --- 6. impossible BatchNorm statistics --------------------------------------------------------


@pytest.mark.parametrize("variance", [-1.0, 0.0])
def test_a_non_positive_batchnorm_variance_is_refused(tiny_checkpoint, variance):
    with_tensors(tiny_checkpoint, lambda tensors: tensors["project.1.running_var"].__setitem__(3, variance))
    with pytest.raises(GanlabError, match=r"BatchNorm variance project.1.running_var holds 1 values <= 0"):
        load_checkpoint(tiny_checkpoint)


def test_sample_refuses_a_negative_batchnorm_variance(tiny_checkpoint, tmp_path):
    with_tensors(tiny_checkpoint, lambda tensors: tensors["blocks.0.1.running_var"].neg_())
    result = run_limited("scripts/sample.py", "--model", str(tiny_checkpoint), "--out", str(tmp_path / "g.png"))
    assert_one_line(result, "BatchNorm variance blocks.0.1.running_var holds 4 values <= 0")
    assert not (tmp_path / "g.png").exists()  # it drew all-black (NaN) images before


# --- 7. config JSON edge cases -----------------------------------------------------------------

DEEP = "[" * 30_000 + "]" * 30_000  # RecursionError in json.loads; under the 64 KiB size limit
LONG_INTEGER = '{"kind": "generator", "latent_dim": ' + "9" * 5000 + "}"  # ValueError past 4,300 digits
HOSTILE_JSON = {
    "deep": (DEEP, "config.json nests deeper than 32 levels"),
    "deep-in-a-field": ('{"kind": "generator", "channels": ' + "[" * 40 + "]" * 40 + "}", "nests deeper than 32 levels"),
    "long-integer": (LONG_INTEGER, "config.json is not valid JSON: an integer of 5000 digits (at most 30)"),
    "oversized": (json.dumps(GeneratorConfig.student(8).to_dict()) + " " * 100_000, "config.json is larger than 65,536 bytes"),
}


@pytest.mark.parametrize("name", list(HOSTILE_JSON))
def test_hostile_config_json_is_one_clear_error(tiny_checkpoint, name):
    text, message = HOSTILE_JSON[name]
    with_config(tiny_checkpoint, text)
    with pytest.raises(GanlabError, match=re.escape(message)) as raised:
        read_config(tiny_checkpoint)
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 400


def test_a_deeply_nested_config_in_the_safetensors_header_is_refused(tiny_checkpoint, tmp_path):
    lone = tmp_path / "lone.safetensors"
    save_file(load_file(str(tiny_checkpoint / "model.safetensors")), str(lone), metadata={"config": DEEP})
    with pytest.raises(GanlabError, match="nests deeper than 32 levels"):
        read_config(lone)


@pytest.mark.parametrize("text", [DEEP, "[1]" + " " * 2_000_000], ids=["deep", "oversized"])
def test_hostile_training_json_reads_as_no_information(tiny_checkpoint, text):
    (tiny_checkpoint / "training.json").write_text(text)
    assert read_training_info(tiny_checkpoint) == {}


@pytest.mark.parametrize("name", ["deep", "long-integer"])
def test_sample_on_hostile_config_json_is_one_line(tiny_checkpoint, tmp_path, name):
    text, message = HOSTILE_JSON[name]
    with_config(tiny_checkpoint, text)
    result = run_limited("scripts/sample.py", "--model", str(tiny_checkpoint), "--out", str(tmp_path / "g.png"))
    assert_one_line(result, message)


def test_the_hub_path_runs_the_same_checks(tiny_checkpoint, tmp_path):
    # the real huggingface_hub client against the fake Hub, as tests/test_hub.py runs it
    from fake_hub import FakeHub
    from test_hub import run_client

    files = {path.name: path.read_bytes() for path in tiny_checkpoint.iterdir()}
    variance = with_tensors(shutil.copytree(tiny_checkpoint, tmp_path / "variance"), lambda t: t["project.1.running_var"].neg_())
    repos = {
        "forty-stages": ({**files, "config.json": json.dumps(FORTY_STAGES).encode()}, "a generator has at most 8 stages, got 40"),
        "wide-latent": ({**files, "config.json": json.dumps(WIDE_LATENT).encode()}, "ganlab models have at most 50,000,000"),
        "deep": ({**files, "config.json": DEEP.encode()}, "config.json nests deeper than 32 levels"),
        "long-integer": ({**files, "config.json": LONG_INTEGER.encode()}, "an integer of 5000 digits"),
        "variance": ({p.name: p.read_bytes() for p in variance.iterdir()}, "BatchNorm variance project.1.running_var holds"),
    }
    with FakeHub() as hub:
        for name, (repo_files, _) in repos.items():
            hub.add_commit(f"hostile/{name}", repo_files)
        scenarios = [{"name": name, "source": f"hostile/{name}", "expect": "generator"} for name in repos]
        results = run_client(scenarios, tmp_path / "out", hf_home=tmp_path / "hf", endpoint=hub.url)
        requested = [path for _, path, _ in hub.requests]
    for name, (_, message) in repos.items():
        result = results[name]
        assert result["type"] == "GanlabError" and message in result["message"], (name, result)
        assert "\n" not in result["message"] and f"hostile/{name}" in result["message"]
    # a refused config.json stops the load before the weights are downloaded
    for name in ("forty-stages", "wide-latent", "deep", "long-integer"):
        assert not any(path.startswith(f"/hostile/{name}/") and path.endswith("model.safetensors") for path in requested)


# --- 8. output paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "out, message",
    [("grids.png", "grids.png is a folder; name a file inside it"), ("/proc/x.png", "cannot write /proc/x.png: /proc takes no new files")],
    ids=["existing-folder", "proc"],
)
def test_sample_refuses_an_unwritable_out_before_loading_the_model(tmp_path, out, message):
    (tmp_path / "grids.png").mkdir()
    # a model that does not exist: the output is refused first, before any loading
    result = run_limited("scripts/sample.py", "--model", str(tmp_path / "no-model"), "--out", str(tmp_path / out))
    assert_one_line(result, message)
    assert [path.name for path in tmp_path.iterdir()] == ["grids.png"] and not any((tmp_path / "grids.png").iterdir())


def test_sample_writes_exactly_the_path_it_reports(tiny_checkpoint, tmp_path):
    out = tmp_path / "s.NPZ"
    result = run_limited("scripts/sample.py", "--model", str(tiny_checkpoint), "--n", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["s.NPZ", "tiny"]  # not s.NPZ.npz
    assert result.stdout.strip().endswith(f"to {out}")
    assert np.load(out)["images"].shape == (3, 28, 28)


def test_sample_refuses_a_grid_too_large_for_memory_before_loading(tmp_path):
    result = run_limited("scripts/sample.py", "--model", str(tmp_path / "no-model"), "--n", "100000", "--scale", "16", "--out", str(tmp_path / "g.png"))
    assert_one_line(result, "a grid of 100000 images at scale 16 would be 152,192 x 151,712 pixels; at most 100,000,000")
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("script", ["scripts/train_teacher.py", "scripts/distill.py"])
def test_training_scripts_refuse_an_existing_file_as_out_before_training(tmp_path, script):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    result = run_limited(script, "--dry-run", "--quiet", "--out", str(existing))
    assert_one_line(result, f"{existing} is a file; a checkpoint is a folder")
    assert "steps in" not in result.stdout and existing.read_text() == "keep me"
