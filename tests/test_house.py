"""The house rules the code keeps: an installable package with its commands, no import circle,
small files and functions, one dataset registry that the rest of the code reads."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import runpy
import tomllib

import pytest

from conftest import REPO
from ganlab import data, datasets
from ganlab.config import TrainConfig
from ganlab.errors import GanlabError


def test_every_console_command_in_pyproject_names_a_callable():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"ganlab-train", "ganlab-distill", "ganlab-sample", "ganlab-evaluate"} <= set(scripts)
    for name, target in scripts.items():
        module, _, attribute = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attribute)), name


def test_no_script_edits_sys_path():
    offenders = [path.name for path in (REPO / "scripts").glob("*.py") if "sys.path.insert" in path.read_text()]
    assert offenders == []


def test_the_package_has_no_import_circle():
    graph = runpy.run_path(str(REPO / "scripts" / "import_graph.py"))
    edges = graph["graph"]()
    assert "ganlab.lab.facade" in edges and graph["circles"](edges) == []


def test_files_and_functions_stay_small():
    too_long = []
    for path in [*sorted((REPO / "ganlab").rglob("*.py")), REPO / "app.py"]:
        source = path.read_text()
        if source.count("\n") > 400:
            too_long.append(f"{path.name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                too_long.append(f"{path.name}:{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert too_long == []


def test_a_second_dataset_is_one_registry_entry(monkeypatch, tmp_path):
    """A new entry is accepted by TrainConfig, recorded in it, and read by the data layer (its folder,
    its checksums, its classifier); an unknown name is one line."""
    fashion = dataclasses.replace(datasets.MNIST, name="fashion-test", title="Fashion test", folder="FashionTest",
                                  sha256={"a-idx3-ubyte": "0" * 64}, classifier="checkpoints/fashion-test/classifier")  # fmt: skip
    monkeypatch.setitem(datasets.DATASETS, fashion.name, fashion)
    config = TrainConfig(dataset="fashion-test")
    assert config.to_dict()["dataset"] == "fashion-test"
    assert data.raw_dir(tmp_path, "fashion-test") == tmp_path / "FashionTest" / "raw"
    assert not data.dataset_present("fashion-test", tmp_path)
    with pytest.raises(GanlabError, match="Fashion test file .*a-idx3-ubyte is missing"):
        data.verify(tmp_path, "fashion-test")
    with pytest.raises(GanlabError, match="unknown dataset 'cifar'"):
        TrainConfig(dataset="cifar")
    assert TrainConfig().dataset == "mnist"  # a checkpoint from before the field existed loads as MNIST
