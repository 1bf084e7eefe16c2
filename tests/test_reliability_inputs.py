"""Reliability: malformed input on every surface (API, raw HTTP, UI, CLI, environment, files, Hub) gets one clear line.

Each case's message is recorded for docs/reliability.md (see reliability_helpers).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import REPO
from lab_fixtures import TINY_TEACHER
from reliability_helpers import BUNDLED_STUDENT, client, record_case, served  # noqa: F401 (fixtures)

from ganlab.checkpoints import load_checkpoint, save_checkpoint
from ganlab.config import GeneratorConfig
from ganlab.errors import GanlabError
from ganlab.models import Generator, init_weights


@dataclass(frozen=True)
class Case:
    surface: str  # where a visitor or an operator meets it
    input: str  # what was sent, for the docs table
    expect: str  # a substring of the message
    run: Callable[[dict[str, Any]], str]  # returns the message the visitor sees

    @property
    def id(self) -> str:
        return f"{self.surface}: {self.input}"


def api(endpoint: str, *args: Any, **kwargs: Any) -> Callable[[dict[str, Any]], str]:
    """A gradio_client call: the status text (last output), or the error message Gradio sent."""
    def call(context: dict[str, Any]) -> str:
        from gradio_client.exceptions import AppError

        try:
            result = context["client"].predict(*args, api_name=endpoint, **kwargs)
        except AppError as error:
            return f"refused by Gradio: {error}"
        return result[-1] if isinstance(result, (list, tuple)) else str(result)

    return call


def raw_http(endpoint: str, body: str) -> Callable[[dict[str, Any]], str]:
    """A hand-written JSON body (NaN, Infinity: what no well-behaved client sends) to /gradio_api/call."""
    def call(context: dict[str, Any]) -> str:
        import httpx

        base = context["url"] + "gradio_api/call/" + endpoint
        answer = httpx.post(base, content=body, headers={"content-type": "application/json"}, timeout=30)
        if answer.status_code != 200:
            return f"HTTP {answer.status_code}: {answer.text}"
        stream = httpx.get(f"{base}/{answer.json()['event_id']}", timeout=30).text
        event, data = re.findall(r"event: (\w+)\ndata: (.*)", stream)[-1]
        payload = json.loads(data)
        return payload[-1] if event == "complete" else f"refused by Gradio: {payload.get('error')}"

    return call


def facade(method: str, *args: Any, **kwargs: Any) -> Callable[[dict[str, Any]], str]:
    """What a UI button calls (app.py's handlers are thin adapters over these Lab methods)."""
    def call(context: dict[str, Any]) -> str:
        with pytest.raises(GanlabError) as caught:
            getattr(context["lab"], method)(*args, **kwargs)
        return f"⚠️ {caught.value}"

    return call


def cli(*args: str, env: dict[str, str] | None = None) -> Callable[[dict[str, Any]], str]:
    """A script run as a user runs it: exit status 2 and one line on stderr."""
    def call(context: dict[str, Any]) -> str:
        filled = [arg.format(**context["paths"]) for arg in args]
        result = subprocess.run(
            [sys.executable, *filled], cwd=REPO, capture_output=True, text=True, timeout=120,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        assert result.returncode == 2, result.stderr[-2000:]
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr[-2000:]
        return lines[0]

    return call


def file_load(name: str) -> Callable[[dict[str, Any]], str]:
    """ganlab.checkpoints.load_checkpoint on a damaged checkpoint (what the app, scripts and Hub loader use)."""
    def call(context: dict[str, Any]) -> str:
        with pytest.raises(GanlabError) as caught:
            load_checkpoint(context["paths"][name], expect="generator")
        return str(caught.value)

    return call


def app_start(**settings: str) -> Callable[[dict[str, Any]], str]:
    """The app pointed at a damaged checkpoint still starts; the model is marked untrained and why."""
    def call(context: dict[str, Any]) -> str:
        from ganlab.lab import Lab, LabSettings, TrainingSlot

        values = {key: value.format(**context["paths"]) for key, value in settings.items()}
        lab = Lab(LabSettings(runs_dir=context["paths"]["runs"], **values), slot=TrainingSlot(), classifier=None)
        assert lab.generate(0, 4).teacher_image.size > 0  # it still serves Compare
        return lab.model_notes()

    return call


def python_call(function: Callable[[], Any]) -> Callable[[dict[str, Any]], str]:
    def call(context: dict[str, Any]) -> str:
        with pytest.raises(GanlabError) as caught:
            function()
        return str(caught.value)

    return call


def _bad_images(kind: str):
    from ganlab.data import InMemoryBatches
    from ganlab.sampling import grid

    if kind == "grid-float":
        return lambda: grid(torch.rand(4, 28, 28).numpy())
    if kind == "grid-shape":
        import numpy as np

        return lambda: grid(np.zeros((4, 1, 28, 28), np.uint8))
    if kind == "batches-uint8":
        return lambda: InMemoryBatches(torch.zeros(8, 1, 28, 28, dtype=torch.uint8), 4)
    return lambda: InMemoryBatches(torch.zeros(8, 3, 32, 32), 4)


def _hub_repo(repo_id: str):
    from ganlab.hub import validate_repo_id

    return lambda: validate_repo_id(repo_id)


def _settings(environ: dict[str, str]):
    from ganlab.lab import LabSettings

    return lambda: LabSettings.from_env(environ)


NAN, INF = float("nan"), float("inf")

CASES = [
    # API: gradio_client against the served app (the Compare, Latent walk and Distill endpoints)
    Case("API /generate", "seed 'abc' (text in a number field)", "seed must be an integer", api("/generate", "abc", 4, BUNDLED_STUDENT)),
    Case("API /generate", "seed '' (empty)", "seed must be an integer", api("/generate", "", 4, BUNDLED_STUDENT)),
    Case("API /generate", "seed None", "seed must be an integer", api("/generate", None, 4, BUNDLED_STUDENT)),
    Case("API /generate", "seed -5 (negative)", "seed must be an integer", api("/generate", -5, 4, BUNDLED_STUDENT)),
    Case("API /generate", "seed 0.5 (not an integer)", "seed must be an integer", api("/generate", 0.5, 4, BUNDLED_STUDENT)),
    Case("API /generate", "seed 10**40 (huge)", "seed must be an integer", api("/generate", 10**40, 4, BUNDLED_STUDENT)),
    Case("API /generate", "seed '9'×5000 (a 5,000-digit string)", "seed must be an integer", api("/generate", "9" * 5000, 4, BUNDLED_STUDENT)),
    Case("API /generate", "n 100000 (above the samples cap)", "number of samples must be an integer in [1, 64]", api("/generate", 0, 100_000, BUNDLED_STUDENT)),
    Case("API /generate", "n 'inf' (text)", "number of samples must be", api("/generate", 0, "inf", BUNDLED_STUDENT)),
    Case("API /generate", "student 'ß☃' (unicode, not a choice)", "is not one of the choices", api("/generate", 0, 4, "ß☃")),
    Case("API /generate", "student '' (empty)", "is not one of the choices", api("/generate", 0, 4, "")),
    Case("API /generate", "student \"last run's student\" before any run", "finish a run", api("/generate", 0, 4, "last run's student")),
    Case("API /generate (raw HTTP)", "seed NaN (JSON literal)", "seed must be an integer", raw_http("generate", '{"data": [NaN, 4, "bundled student", "any", null]}')),
    Case("API /generate (raw HTTP)", "n Infinity (JSON literal)", "number of samples must be", raw_http("generate", '{"data": [0, Infinity, "bundled student", "any", null]}')),
    Case("API /generate (raw HTTP)", "two inputs instead of three", "needed", raw_http("generate", '{"data": [0, 4]}')),
    Case("API /generate (raw HTTP)", "a body that is not JSON", "JSON decode error", raw_http("generate", "{not json")),
    Case("API /latent_walk", "frames 10**6 (huge)", "frames must be an integer in [2, 32]", api("/latent_walk", 0, 1, 10**6, BUNDLED_STUDENT)),
    Case("API /latent_walk (raw HTTP)", "frames -Infinity", "frames must be", raw_http("latent_walk", '{"data": [0, 1, -Infinity, "bundled student", null]}')),
    Case("API /start_run", "steps 'ten'", "steps must be an integer", api("/start_run", steps="ten")),
    Case("API /start_run", "steps 10**9 (above the steps cap)", "steps must be an integer in [1, 20000]", api("/start_run", steps=10**9)),
    Case("API /start_run", "batch size 1e12 (above the batch cap)", "batch size must be an integer in [2, 512]", api("/start_run", batch_size=1e12)),
    Case("API /start_run", "generator learning rate -0.001", "generator learning rate must be a number in (0, 0.1]", api("/start_run", lr_generator=-0.001)),
    Case("API /start_run", "discriminator learning rate 'nan' (text)", "discriminator learning rate must be", api("/start_run", lr_discriminator="nan")),
    Case("API /start_run (raw HTTP)", "α NaN (JSON literal)", "α (distillation weight) must be", raw_http("start_run", '{"data": [5, 0, 16, 0.001, 0.001, NaN, ["14x14"], 0, false, 0.99, null, 20, null]}')),
    Case("API /start_run (raw HTTP)", "time budget 1e999 (parses as inf)", "time budget (s) must be", raw_http("start_run", '{"data": [5, 1e999, 16, 0.001, 0.001, 0.5, ["14x14"], 0, false, 0.99, null, 20, null]}')),
    Case("API /start_run", "EMA decay 1.5 (must stay below 1)", "EMA decay must be a number in [0, 0.9999]", api("/start_run", ema_decay=1.5)),
    Case("API /start_run", "EMA decay -0.5", "EMA decay must be a number in [0, 0.9999]", api("/start_run", ema_decay=-0.5)),
    Case("API /start_run", "layers ['☃'] (unicode, not a layer)", "is not one of the choices", api("/start_run", layers=["☃"])),
    Case("API /start_run", "layers 5 (not a list)", "is not one of the choices", api("/start_run", layers=5)),
    Case("API /start_run", "layers [] with α 0.9", "needs at least one distilled layer", api("/start_run", layers=[])),
    Case("API /start_run", "baseline 'yes' (not a boolean)", "baseline must be true or false", api("/start_run", baseline="yes")),
    Case("API /stop_run", "stop when nothing runs", "nothing to stop", api("/stop_run")),
    Case("API /load_hub", "repo id '../../etc/passwd' (path traversal)", "Hub repo id", api("/load_hub", "../../etc/passwd", "", "", "", 0, 4, BUNDLED_STUDENT)),
    Case("API /load_hub", "repo id 'user/../../secrets'", "Hub repo id", api("/load_hub", "", "", "user/../../secrets", "", 0, 4, BUNDLED_STUDENT)),
    # UI: the Lab methods app.py's buttons call, with what a browser field can hold
    Case("UI Compare", "samples 0", "number of samples must be an integer in [1, 64]", facade("generate", 0, 0)),
    Case("UI Latent walk", "frames 1", "frames must be an integer in [2, 32]", facade("latent_walk", 0, 1, 1)),
    Case("UI Distill", "time budget -1 s", "time budget (s) must be a number in [0, 600]", facade("start_run", time_budget_s=-1)),
    Case("UI Distill", "α 1.5", "α (distillation weight) must be a number in [0, 1]", facade("start_run", alpha=1.5)),
    Case("UI Distill", "pause when nothing runs", "nothing to pause", facade("pause_run")),
    # CLI
    Case("CLI sample.py", "--n nan", "--n: expected an integer", cli("scripts/sample.py", "--n", "nan")),
    Case("CLI sample.py", "--seed inf", "--seed: expected an integer", cli("scripts/sample.py", "--seed", "inf")),
    Case("CLI sample.py", "--n ☃ (unicode)", "--n: expected an integer", cli("scripts/sample.py", "--n", "☃")),
    Case("CLI sample.py", "--n '' (empty)", "--n: expected an integer", cli("scripts/sample.py", "--n", "")),
    Case("CLI sample.py", "--scale 99999999999999999999 (huge)", "--scale: expected an integer in [1, 16]", cli("scripts/sample.py", "--scale", "99999999999999999999")),
    Case("CLI sample.py", "--model a pickled .pt file", "pickled .pt/.pth files are refused", cli("scripts/sample.py", "--model", "{pickle}")),
    Case("CLI sample.py", "--model a truncated model.safetensors", "not a readable safetensors file", cli("scripts/sample.py", "--model", "{truncated}", "--out", "{out}")),
    Case("CLI sample.py", "--model ../../etc/passwd (path traversal)", "not a .safetensors file or a checkpoint folder", cli("scripts/sample.py", "--model", "{traversal}")),
    Case("CLI distill.py", "--lr-g inf", "--lr-g: expected a number in (0, 0.1]", cli("scripts/distill.py", "--lr-g", "inf")),
    Case("CLI distill.py", "--alpha -0.5 (negative)", "--alpha: expected a number in [0, 1]", cli("scripts/distill.py", "--alpha", "-0.5")),
    Case("CLI distill.py", "--device ☃", "device must be 'cpu', 'cuda', 'cuda:N' or 'auto'", cli("scripts/distill.py", "--device", "☃", "--dry-run", "--quiet")),
    Case("CLI train_teacher.py", "--batch-size 10**9 (huge)", "--batch-size: expected an integer", cli("scripts/train_teacher.py", "--batch-size", str(10**9))),
    Case("env app.py", "GANLAB_RUN_CAP_S=nan", "GANLAB_RUN_CAP_S (run_cap_s) must be a positive number", cli("app.py", env={"GANLAB_RUN_CAP_S": "nan"})),
    Case("env settings", "GANLAB_MAX_STEPS=lots", "GANLAB_MAX_STEPS must be an integer", python_call(_settings({"GANLAB_MAX_STEPS": "lots"}))),
    Case("env settings", "GANLAB_RUN_IDLE_S=inf", "GANLAB_RUN_IDLE_S (idle_stop_s) must be a positive number", python_call(_settings({"GANLAB_RUN_IDLE_S": "inf"}))),
    Case("env settings", "GANLAB_MAX_SAMPLES=-3", "max_samples must be at least 1", python_call(_settings({"GANLAB_MAX_SAMPLES": "-3"}))),
    Case("env settings", "GANLAB_TRAIN_DATA=☃", "GANLAB_TRAIN_DATA must be one of 'mnist', 'fashion-mnist', 'synthetic'", python_call(_settings({"GANLAB_TRAIN_DATA": "☃"}))),
    Case("env settings", "GANLAB_TRAIN_PRECISION=fp8", "GANLAB_TRAIN_PRECISION must be 'fp32', 'bf16' or 'auto'", python_call(_settings({"GANLAB_TRAIN_PRECISION": "fp8"}))),
    Case("env settings", "GANLAB_SAMPLE_THREADS=-1", "sample_threads must be 0 (automatic) or more", python_call(_settings({"GANLAB_SAMPLE_THREADS": "-1"}))),
    Case("CLI distill.py", "--precision fp16 (not offered)", "--precision: invalid choice", cli("scripts/distill.py", "--precision", "fp16")),
    # files: damaged checkpoints, as the loader and the starting app meet them
    Case("file", "model.safetensors truncated to half", "not a readable safetensors file", file_load("truncated")),
    Case("file", "model.safetensors overwritten with random bytes", "safetensors", file_load("corrupted")),
    Case("file", "model.safetensors of 0 bytes", "safetensors", file_load("empty")),
    Case("file", "NaN weights", "holds NaN or inf values", file_load("nan_weights")),
    Case("file", "config.json of another architecture (the teacher's)", "does not match its config", file_load("other_architecture")),
    Case("file", "config.json of a discriminator", "holds a discriminator, not a generator", file_load("discriminator")),
    Case("file", "config.json that is not JSON", "is not valid JSON", file_load("bad_json")),
    Case("file", "a pickled weights.pt", "pickled .pt/.pth files are refused", file_load("pickle")),
    Case("file", "a checkpoint folder named 'ünïcødé' that does not exist", "does not exist", file_load("missing_unicode")),
    Case("file → app", "GANLAB_STUDENT at a truncated checkpoint", "student is untrained", app_start(teacher="{good}", student="{truncated}")),
    Case("file → app", "GANLAB_STUDENT_REPO '../../etc' (path traversal)", "../../etc: ", app_start(teacher="{good}", student_repo="../../etc")),
    Case("file", "uint8 training images (wrong dtype)", "images must be floats in [-1, 1]", python_call(_bad_images("batches-uint8"))),
    Case("file", "training images of shape (8, 3, 32, 32)", "images must have shape (N, 1, 28, 28)", python_call(_bad_images("batches-shape"))),
    Case("file", "a float image grid (wrong dtype)", "grid needs uint8 images", python_call(_bad_images("grid-float"))),
    Case("file", "an image grid of shape (4, 1, 28, 28)", "grid needs uint8 images of shape (n, h, w)", python_call(_bad_images("grid-shape"))),
    Case("Hub", "repo id '../../../etc/passwd'", "Hub repo id", python_call(_hub_repo("../../../etc/passwd"))),
    Case("Hub", "repo id 'https://huggingface.co/user/x' (a URL)", "not a URL", python_call(_hub_repo("https://huggingface.co/user/x"))),
]  # fmt: skip


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> dict[str, str]:
    """One folder per kind of damaged checkpoint, plus a good one."""
    import numpy as np

    root = tmp_path_factory.mktemp("damaged")
    paths: dict[str, str] = {"root": str(root), "runs": str(root / "runs"), "out": str(root / "grid.png")}
    # A relative path that climbs from the repo to /etc/passwd, however deep the clone sits.
    paths["traversal"] = os.path.relpath("/etc/passwd", REPO)

    def student(name: str) -> Path:
        model = Generator(GeneratorConfig.student(width=8))
        init_weights(model, torch.Generator().manual_seed(0))
        folder = save_checkpoint(model, root / name)
        paths[name] = str(folder)
        return folder

    good = Generator(TINY_TEACHER)
    init_weights(good, torch.Generator().manual_seed(0))
    paths["good"] = str(save_checkpoint(good, root / "good"))
    weights = student("truncated") / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    (student("corrupted") / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(4096))
    (student("empty") / "model.safetensors").write_bytes(b"")
    broken = Generator(GeneratorConfig.student(width=8))
    with torch.no_grad():
        broken.blocks[0][0].weight.fill_(float("nan"))
    paths["nan_weights"] = str(save_checkpoint(broken, root / "nan_weights"))
    (student("other_architecture") / "config.json").write_text(json.dumps(GeneratorConfig.teacher().to_dict()))
    (student("discriminator") / "config.json").write_text(json.dumps({"kind": "discriminator"}))
    (student("bad_json") / "config.json").write_text("{not json")
    pickle_file = root / "weights.pt"
    pickle_file.write_bytes(b"\x80\x04\x95not a real pickle")  # never opened: refused by its suffix
    paths["pickle"] = str(pickle_file)
    paths["missing_unicode"] = str(root / "ünïcødé")
    return paths


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_malformed_input_gives_a_clear_message_and_no_traceback(case, request, damaged):
    context: dict[str, Any] = {"paths": damaged}
    if case.surface.startswith(("API", "UI")):
        url, lab = request.getfixturevalue("served")
        context.update(url=url, lab=lab, client=request.getfixturevalue("client") if case.surface.startswith("API") else None)
    message = case.run(context)
    assert case.expect in message, message
    assert "Traceback" not in message and 'File "' not in message
    assert not message.startswith("internal error") and "internal error (" not in message
    if case.surface.startswith(("API", "UI")):
        assert context["lab"].slot.busy() is None  # nothing was started by a refused request
    shown = message.replace(damaged["root"] + os.sep, "").replace(damaged["root"], ".")  # no temp paths in the docs
    record_case(CASES.index(case), case.surface, case.input, shown)


def test_the_table_covers_every_surface_and_at_least_thirty_cases():
    surfaces = {case.surface.split()[0] for case in CASES}
    assert {"API", "UI", "CLI", "env", "file", "Hub"} <= surfaces
    assert len(CASES) >= 30 and len({case.id for case in CASES}) == len(CASES)
