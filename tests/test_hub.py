"""Hub loading and pushing without internet.

Local folders load in-process. Hub downloads run huggingface_hub's real client (HEAD/GET,
cache, refs, revisions, retries) in a subprocess against tests/fake_hub.FakeHub on 127.0.0.1:
HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE are read when huggingface_hub is imported, so they
must be set before that import. One subprocess runs many scenarios to keep the tests fast.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

from fake_hub import FakeHub
from ganlab import hub
from ganlab import model_card as cards
from ganlab.checkpoints import build_model, load_checkpoint, save_checkpoint
from ganlab.config import DiscriminatorConfig, GeneratorConfig
from ganlab.errors import GanlabError
from ganlab.models import count_parameters, init_weights

REPO_ROOT = Path(__file__).resolve().parent.parent


def tiny_generator(seed: int) -> torch.nn.Module:
    model = build_model(GeneratorConfig.student(width=8))
    init_weights(model, torch.Generator().manual_seed(seed))
    with torch.no_grad():  # non-default BN statistics, so buffers are compared too
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.normal_(0, 1, generator=torch.Generator().manual_seed(seed + 1))
    return model


def assert_same_weights(folder_or_model, reference: torch.nn.Module) -> None:
    loaded = load_file(str(Path(folder_or_model) / "model.safetensors")) if isinstance(folder_or_model, (str, Path)) else folder_or_model.state_dict()
    expected = reference.state_dict()
    assert sorted(loaded) == sorted(expected)
    for name, tensor in expected.items():
        assert torch.equal(loaded[name], tensor), name


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Tiny checkpoints: two student versions, a discriminator, and broken ones."""
    root = tmp_path_factory.mktemp("checkpoints")
    models = {"v1": tiny_generator(1), "v2": tiny_generator(2)}
    save_checkpoint(models["v1"], root / "student-v1", training={"mode": "distill", "steps": 10})
    save_checkpoint(models["v2"], root / "student-v2", training={"mode": "distill", "steps": 20})
    save_checkpoint(build_model(DiscriminatorConfig(channels=(4, 8))), root / "discriminator")
    # a tensor the config does not know about: strict loading must refuse it
    extra = save_checkpoint(tiny_generator(3), root / "extra-tensor")
    tensors = load_file(str(extra / "model.safetensors"))
    tensors["extra.weight"] = torch.zeros(3)
    save_file(tensors, str(extra / "model.safetensors"))
    corrupt = root / "corrupt"
    corrupt.mkdir()
    shutil.copyfile(root / "student-v1" / "config.json", corrupt / "config.json")
    (corrupt / "model.safetensors").write_bytes(b"this is not a safetensors file" * 8)
    return SimpleNamespace(root=root, models=models, **{p.name.replace("-", "_"): p for p in root.iterdir()})


# --- local folders: the same loader the Hub path ends in ----------------------------------------


def test_directory_round_trip_is_exact(folders):
    for source in (folders.student_v1, folders.student_v1 / "model.safetensors", str(folders.student_v1)):
        model = hub.from_pretrained(source, expect="generator")
        assert not model.training
        assert model.config == GeneratorConfig.student(width=8)
        assert_same_weights(model, folders.models["v1"])
    assert_same_weights(hub.load_generator(str(folders.student_v2)), folders.models["v2"])


def test_local_loading_is_strict_and_checks_the_kind(folders):
    with pytest.raises(GanlabError, match=r"unexpected \['extra.weight'\]"):
        hub.from_pretrained(folders.extra_tensor)
    with pytest.raises(GanlabError, match="holds a discriminator, not a generator"):
        hub.load_generator(str(folders.discriminator))
    with pytest.raises(GanlabError, match="not a readable safetensors file"):
        hub.from_pretrained(folders.corrupt)


def test_local_source_mistakes_are_explained(folders, tmp_path):
    with pytest.raises(GanlabError, match="a revision only applies to Hub repos"):
        hub.from_pretrained(folders.student_v1, revision="v1")
    with pytest.raises(GanlabError, match="does not exist"):
        hub.from_pretrained(str(tmp_path / "missing"))
    with pytest.raises(GanlabError, match="does not exist"):
        hub.from_pretrained("./runs/nothing-here/model.safetensors")
    with pytest.raises(GanlabError, match="enter a checkpoint folder or a Hub repo id"):
        hub.from_pretrained("   ")
    for odd in ("a\0b", "x" * 5000, "~no-such-user-xyz/model"):
        with pytest.raises(GanlabError):  # never an OSError or ValueError from the filesystem
            hub.from_pretrained(odd)


@pytest.mark.parametrize(
    "text, expected", [("user/ganlab-student", "user/ganlab-student"), ("  user/name.v2 \n", "user/name.v2"), ("mnist", "mnist")]
)
def test_validate_repo_id_accepts_and_strips(text, expected):
    assert hub.validate_repo_id(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "enter a Hub repo id"),
        ("   ", "enter a Hub repo id"),
        ("../etc/passwd", "looks like a file path"),
        ("user/../../secret", "looks like a file path"),
        ("/abs/path", "looks like a file path"),
        ("~/models", "looks like a file path"),
        ("a/b/c", "at most one '/'"),
        ("user/has space", "not a valid Hub repo id"),
        ("user/bad--name", "not a valid Hub repo id"),
        ("user/ñame", "not a valid Hub repo id"),
        ("user/-dash", "not a valid Hub repo id"),
        ("https://huggingface.co/user/model", "not a URL"),
        ("u/" + "x" * 300, "at most 193 characters"),
        (None, "must be text"),
    ],
)
def test_validate_repo_id_rejects_with_a_reason(text, message):
    with pytest.raises(GanlabError, match=message):
        hub.validate_repo_id(text)


def test_validate_revision():
    assert hub.validate_revision(None) is None
    assert hub.validate_revision("  ") is None
    assert hub.validate_revision(" v1.0 ") == "v1.0"
    assert hub.validate_revision("refs/pr/1") == "refs/pr/1"
    for bad in ("has space", "../main", "-rf", "x" * 300):
        with pytest.raises(GanlabError, match="revision"):
            hub.validate_revision(bad)


# --- the real client against the fake Hub, in subprocesses -------------------------------------

CLIENT = r"""
import json, os, sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from ganlab import hub
from ganlab.checkpoints import save_checkpoint

out = Path(sys.argv[1])
results = {}
for scenario in json.loads(sys.stdin.read()):
    name = scenario["name"]
    started = time.monotonic()
    try:
        if scenario.get("anonymous"):  # what a visitor names: no token, whatever HF_TOKEN holds
            model = hub.from_hub(
                scenario["source"], revision=scenario.get("revision"), expect=scenario.get("expect"), token=False,
                max_multiply_adds=scenario.get("max_multiply_adds"),
            )
        else:
            model = hub.from_pretrained(scenario["source"], revision=scenario.get("revision"), expect=scenario.get("expect"))
        result = {}
        save_checkpoint(model, out / name)
        result.update(ok=True, kind=model.config.kind, training=model.training)
    except Exception as error:
        result = {"ok": False, "type": type(error).__name__, "message": str(error)}
    result["seconds"] = time.monotonic() - started
    results[name] = result
print(json.dumps(results))
"""


def run_client(
    scenarios: list[dict], out: Path, *, hf_home: Path, endpoint: str, offline: bool = False, token: str | None = None
) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "GANLAB_")) and "proxy" not in key.lower()}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        HF_HOME=str(hf_home),
        HF_ENDPOINT=endpoint,
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_ETAG_TIMEOUT="5",
        HF_HUB_DOWNLOAD_TIMEOUT="5",
        NO_PROXY="127.0.0.1,localhost",
        OMP_NUM_THREADS="1",
    )
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    if token:
        env["HF_TOKEN"] = token
    completed = subprocess.run(
        [sys.executable, "-c", CLIENT, str(out)],
        input=json.dumps(scenarios),
        capture_output=True,
        text=True,
        env=env,
        cwd=str(REPO_ROOT),
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


ALICE_TOKEN = "hf_alice_test_token"


@pytest.fixture(scope="module")
def fake_hub(folders):
    with FakeHub() as server:
        server.v1 = server.add_folder("ganlab/student", folders.student_v1, refs=("v1",))
        server.v2 = server.add_folder("ganlab/student", folders.student_v2, refs=("main",))
        server.add_folder("ganlab/discriminator", folders.discriminator)
        server.add_folder("ganlab/extra-tensor", folders.extra_tensor)
        server.add_folder("ganlab/corrupt", folders.corrupt)
        server.add_commit("ganlab/config-only", {"config.json": (folders.student_v1 / "config.json").read_bytes()})
        server.add_commit("other/bert", {"config.json": b'{"model_type": "bert"}', "model.safetensors": b"{}"})
        server.add_folder("ganlab/hangs-up", folders.student_v2)
        server.drop_head.add("ganlab/hangs-up")
        server.add_folder("ganlab/flaky", folders.student_v2)
        config = (folders.student_v1 / "config.json").read_bytes()  # a tiny student, then far too many bytes
        server.add_commit("ganlab/oversized", {"config.json": config, "model.safetensors": bytes(2 * 1024 * 1024)})
        server.drop_body_once.add(("ganlab/flaky", "model.safetensors"))
        server.add_folder("ganlab/unsized", folders.student_v2)
        server.unsized.add("ganlab/unsized")
        server.add_commit("ganlab/huge-config", {"config.json": b" " * (2 * 1024 * 1024), "model.safetensors": b"never fetched"})
        for repo_id in ("ganlab/unlisted", "ganlab/oversized-unlisted"):  # the sized listing fails: HEAD sizes them
            server.broken_listing.add(repo_id)
        server.add_folder("ganlab/unlisted", folders.student_v2)
        server.add_commit("ganlab/oversized-unlisted", {"config.json": config, "model.safetensors": bytes(2 * 1024 * 1024)})
        # within the parameter budget, 67x the teacher's multiply-adds per image (five 690-wide stages at 7x7)
        costly = json.dumps({"kind": "generator", "channels": [690] * 7, "strides": [1, 1, 1, 1, 1, 2, 2], "latent_dim": 100})
        server.add_commit("ganlab/costly", {"config.json": costly.encode(), "model.safetensors": b"never fetched"})
        server.add_user("alice", ALICE_TOKEN)
        server.add_folder("alice/private-student", folders.student_v1)
        server.private.add("alice/private-student")
        yield server


@pytest.fixture(scope="module")
def online(fake_hub, tmp_path_factory):
    """Results of the real client downloading from the fake Hub into a fresh cache."""
    root = tmp_path_factory.mktemp("online")
    scenarios = [
        {"name": "main", "source": "ganlab/student", "expect": "generator"},
        {"name": "tag", "source": "ganlab/student", "revision": "v1"},
        {"name": "commit", "source": "ganlab/student", "revision": fake_hub.v1},
        {"name": "missing_repo", "source": "ganlab/does-not-exist"},
        {"name": "missing_revision", "source": "ganlab/student", "revision": "no-such-branch"},
        {"name": "missing_file", "source": "ganlab/config-only"},
        {"name": "wrong_kind", "source": "ganlab/discriminator", "expect": "generator"},
        {"name": "not_ganlab", "source": "other/bert"},
        {"name": "extra_tensor", "source": "ganlab/extra-tensor"},
        {"name": "corrupt", "source": "ganlab/corrupt"},
        {"name": "hangs_up", "source": "ganlab/hangs-up"},
        {"name": "flaky", "source": "ganlab/flaky"},
        {"name": "invalid_id", "source": "ganlab/bad--id"},
        {"name": "oversized", "source": "ganlab/oversized"},
        {"name": "unsized", "source": "ganlab/unsized"},
        {"name": "huge_config", "source": "ganlab/huge-config"},
        {"name": "unlisted", "source": "ganlab/unlisted"},
        {"name": "oversized_unlisted", "source": "ganlab/oversized-unlisted"},
        {"name": "costly", "source": "ganlab/costly", "anonymous": True, "max_multiply_adds": 134_270_976},
    ]
    before = len(fake_hub.requests)
    results = run_client(scenarios, root / "out", hf_home=root / "hf", endpoint=fake_hub.url)
    return SimpleNamespace(results=results, out=root / "out", hf_home=root / "hf", requests=fake_hub.requests[before:])


def test_hub_download_loads_the_exact_weights_and_fills_the_cache(online, folders, fake_hub):
    assert online.results["main"]["ok"], online.results["main"]
    assert online.results["main"]["kind"] == "generator" and online.results["main"]["training"] is False
    assert_same_weights(online.out / "main", folders.models["v2"])
    # the client's own cache layout: a ref for main, a snapshot per commit
    cache = online.hf_home / "hub" / "models--ganlab--student"
    assert (cache / "refs" / "main").read_text() == fake_hub.v2
    assert (cache / "snapshots" / fake_hub.v2 / "model.safetensors").is_file()
    assert (cache / "snapshots" / fake_hub.v2 / "training.json").is_file()


def test_hub_revision_by_tag_and_by_commit(online, folders, fake_hub):
    for name in ("tag", "commit"):
        assert online.results[name]["ok"], online.results[name]
        assert_same_weights(online.out / name, folders.models["v1"])
    # weights are fetched at the commit config.json resolved to, never at a moving branch
    assert ("HEAD", f"/ganlab/student/resolve/{fake_hub.v1}/model.safetensors", None) in online.requests


@pytest.mark.parametrize(
    "name, message",
    [
        ("missing_repo", r"Hub repo ganlab/does-not-exist was not found \(404\)"),
        ("missing_revision", r"revision 'no-such-branch' was not found in Hub repo ganlab/student \(404\)"),
        ("missing_file", "^Hub repo ganlab/config-only has no model.safetensors: it is not a ganlab checkpoint"),
        ("wrong_kind", "Hub repo ganlab/discriminator holds a discriminator, not a generator"),
        ("not_ganlab", "is not a ganlab checkpoint: config.json has kind None"),
        ("extra_tensor", r"model.safetensors of Hub repo ganlab/extra-tensor does not match its config: .*unexpected \['extra.weight'\]"),
        ("corrupt", "model.safetensors of Hub repo ganlab/corrupt is not a readable safetensors file"),
        ("hangs_up", "the connection dropped"),
        ("invalid_id", "not a valid Hub repo id"),
        ("oversized", r"^Hub repo ganlab/oversized: model.safetensors is 2,097,152 bytes, more than its config allows \([0-9,]+\); not downloaded$"),
        ("huge_config", r"^Hub repo ganlab/huge-config: config.json is 2,097,152 bytes, more than a ganlab config.json may be"),
        ("oversized_unlisted", r"^Hub repo ganlab/oversized-unlisted: model.safetensors is 2,097,152 bytes, more than its config allows"),
        ("costly", r"^Hub repo ganlab/costly describes a generator of 2,245,119,240 multiply-adds per image; this app runs at most 134,270,976"),
    ],
)
def test_hub_failures_are_one_clear_ganlab_error(online, name, message):
    result = online.results[name]
    assert not result["ok"] and result["type"] == "GanlabError", result
    assert "\n" not in result["message"]
    assert re.search(message, result["message"]), result["message"]


def test_hub_checks_kind_before_downloading_weights_and_validates_before_any_request(online):
    paths = [path for _, path, _ in online.requests]
    # snapshot_download resolves main to its commit first, then fetches config.json at that commit
    assert any(path.startswith("/ganlab/discriminator/resolve/") and path.endswith("/config.json") for path in paths)
    assert not any(path.startswith("/ganlab/discriminator/") and "model.safetensors" in path for path in paths)
    assert not any("bad--id" in path for path in paths)
    # an oversized weights file is sized from the listing, never fetched
    assert not any(path.startswith("/ganlab/oversized/") and "model.safetensors" in path for path in paths)
    assert not any(path.startswith("/ganlab/huge-config/") and "/resolve/" in path and method == "GET" for method, path, _ in online.requests)
    # when the listing fails, a HEAD request sizes the file: an oversized one is still never fetched
    weights = [(method, path) for method, path, _ in online.requests if path.startswith("/ganlab/oversized-unlisted/") and "model.safetensors" in path]
    assert weights and {method for method, _ in weights} == {"HEAD"}
    assert not any(path.startswith("/ganlab/costly/") and "model.safetensors" in path for path in paths)


def test_a_failed_listing_sizes_the_weights_one_by_one_and_loads(online, folders):
    # the listing failed (unlisted) or gave no sizes (unsized): a HEAD request per file sized them
    for name in ("unlisted", "unsized"):
        assert online.results[name]["ok"], online.results[name]
        assert_same_weights(online.out / name, folders.models["v2"])
        heads = [path for method, path, _ in online.requests if method == "HEAD" and path.startswith(f"/ganlab/{name}/")]
        assert any(path.endswith("/model.safetensors") for path in heads), heads


def test_what_a_visitor_names_loads_without_the_servers_token(fake_hub, folders, tmp_path):
    """HF_TOKEN opens the owner's private repo to the owner's own commands, never to a visitor's load."""
    scenarios = [
        {"name": "owner", "source": "alice/private-student"},
        {"name": "visitor", "source": "alice/private-student", "anonymous": True},
        {"name": "visitor_public", "source": "ganlab/student", "anonymous": True},
    ]
    results = run_client(scenarios, tmp_path / "out", hf_home=tmp_path / "hf", endpoint=fake_hub.url, token=ALICE_TOKEN)
    assert results["owner"]["ok"], results["owner"]
    assert_same_weights(tmp_path / "out" / "owner", folders.models["v1"])
    assert not results["visitor"]["ok"] and results["visitor"]["type"] == "GanlabError"
    assert results["visitor"]["message"] == (
        "Hub repo alice/private-student was not found (404): check the spelling 'user/name' (this app loads public repos only)"
    )
    assert results["visitor_public"]["ok"], results["visitor_public"]


def test_from_hub_never_reads_a_local_path(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # where checkpoints/teacher exists
    asked = []

    def download(repo_id, **kwargs):
        asked.append(repo_id)
        raise GanlabError(f"Hub repo {repo_id} was not found (404)")

    monkeypatch.setattr(hub, "download_checkpoint", download)
    with pytest.raises(GanlabError, match="404"):  # what a visitor types is a repo id, never a server path
        hub.from_hub("checkpoints/teacher", expect="generator")
    assert asked == ["checkpoints/teacher"]
    # from_pretrained, for someone at their own machine, still prefers the local folder
    assert hub.from_pretrained("checkpoints/teacher", expect="generator").config.kind == "generator"
    assert asked == ["checkpoints/teacher"]


def test_hub_download_retries_after_a_dropped_connection(online, folders, fake_hub):
    assert online.results["flaky"]["ok"], online.results["flaky"]
    assert_same_weights(online.out / "flaky", folders.models["v2"])
    weights_gets = [path for method, path, _ in online.requests if method == "GET" and path.startswith("/ganlab/flaky/") and path.endswith("model.safetensors")]
    assert len(weights_gets) == 2  # the first one was cut off half-way
    assert not list((online.hf_home / "hub" / "models--ganlab--flaky" / "blobs").glob("*.incomplete"))


def test_offline_mode_loads_from_the_prepopulated_cache(online, fake_hub, folders, tmp_path):
    before = len(fake_hub.requests)
    scenarios = [
        {"name": "main", "source": "ganlab/student", "expect": "generator"},
        {"name": "tag", "source": "ganlab/student", "revision": "v1"},
        {"name": "never_downloaded", "source": "ganlab/flaky-never", "expect": "generator"},
    ]
    results = run_client(scenarios, tmp_path, hf_home=online.hf_home, endpoint=fake_hub.url, offline=True)
    assert results["main"]["ok"] and results["tag"]["ok"], results
    assert_same_weights(tmp_path / "main", folders.models["v2"])
    assert_same_weights(tmp_path / "tag", folders.models["v1"])
    assert results["never_downloaded"]["type"] == "GanlabError"
    assert "not in the local Hugging Face cache and HF_HUB_OFFLINE is set" in results["never_downloaded"]["message"]
    assert len(fake_hub.requests) == before  # offline means no request at all


def test_unreachable_hub_fails_fast_uses_the_cache_and_falls_back_to_bundled(online, folders, tmp_path):
    hf_home = tmp_path / "hf"
    shutil.copytree(online.hf_home, hf_home, symlinks=True)
    scenarios = [
        {"name": "cached", "source": "ganlab/student", "expect": "generator"},
        {"name": "uncached", "source": "ganlab/never-downloaded"},
    ]
    started = time.monotonic()
    results = run_client(scenarios, tmp_path / "out", hf_home=hf_home, endpoint=closed_port_url())
    assert results["cached"]["ok"], results["cached"]
    assert results["cached"]["seconds"] < 5  # the cache serves at once: no retries against a closed port (was 26 s)
    assert_same_weights(tmp_path / "out" / "cached", folders.models["v2"])
    assert results["uncached"]["type"] == "GanlabError"
    assert results["uncached"]["message"].startswith("cannot reach the Hugging Face Hub at http://127.0.0.1:")
    assert results["uncached"]["seconds"] < 5  # no ~25 s of retries before saying so
    assert time.monotonic() - started < 60


# --- pushing and model cards -------------------------------------------------------------------


class RecordingApi:
    """Stands in for huggingface_hub.HfApi: records calls and what the upload folder held."""

    calls: list = []
    fail_with: Exception | None = None

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, **options):
        if RecordingApi.fail_with is not None:
            raise RecordingApi.fail_with
        RecordingApi.calls.append(("create_repo", repo_id, options))
        return SimpleNamespace(repo_id=repo_id)

    def repo_info(self, repo_id, **options):  # a repo it created has the visibility it was created with
        private = [call[2]["private"] for call in RecordingApi.calls if call[:2] == ("create_repo", repo_id)]
        return SimpleNamespace(private=bool(private and private[-1]))

    def upload_folder(self, *, repo_id, folder_path, **options):
        files = {path.name: path.read_bytes() for path in Path(folder_path).iterdir()}
        RecordingApi.calls.append(("upload_folder", repo_id, files, options))
        return SimpleNamespace(commit_url=f"https://hub.test/{repo_id}/commit/abc")


@pytest.fixture
def recording_api(monkeypatch):
    import huggingface_hub

    RecordingApi.calls, RecordingApi.fail_with = [], None
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    return RecordingApi


def test_push_uploads_the_checkpoint_files_and_the_card(recording_api, folders):
    url = hub.push_to_hub(folders.student_v1, " alice/ganlab-student ", card="# card\n", private=True)
    assert url == "https://hub.test/alice/ganlab-student/commit/abc"
    (create, repo_id, options), (upload, upload_repo, files, _) = recording_api.calls
    assert (create, repo_id, upload, upload_repo) == ("create_repo", "alice/ganlab-student", "upload_folder", "alice/ganlab-student")
    assert options["private"] is True and options["exist_ok"] is True
    assert sorted(files) == ["README.md", "config.json", "model.onnx", "model.safetensors", "training.json"]
    assert files["README.md"] == b"# card\n"
    for name in ("config.json", "model.safetensors", "training.json"):
        assert files[name] == (folders.student_v1 / name).read_bytes()  # byte for byte


def test_the_pushed_model_onnx_downloads_from_the_hub_and_runs_in_onnxruntime(recording_api, folders, tmp_path):
    """Push (the upload recorded), serve that commit from the fake Hub, download model.onnx as a user would."""
    from huggingface_hub import hf_hub_download

    from ganlab.export import session
    from ganlab.sampling import generate, noise

    hub.push_to_hub(folders.student_v1, "alice/ganlab-student", card="# card\n")
    (_, (_, _, files, _)) = recording_api.calls
    with FakeHub() as server:
        commit = server.add_commit("alice/ganlab-student", files)
        path = hf_hub_download("alice/ganlab-student", "model.onnx", endpoint=server.url, cache_dir=tmp_path / "hf")
    assert Path(path).read_bytes() == files["model.onnx"] and commit in path
    z = noise(8, 4)
    images = session(path, threads=1).run(["image"], {"z": z.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(images), generate(folders.models["v1"], z), rtol=0, atol=1e-4)


def test_push_refuses_bad_input_before_any_network(recording_api, folders, tmp_path):
    with pytest.raises(GanlabError, match="looks like a file path"):
        hub.push_to_hub(folders.student_v1, "../x", card="")
    with pytest.raises(GanlabError, match="does not match its config"):
        hub.push_to_hub(folders.extra_tensor, "alice/x", card="")
    with pytest.raises(GanlabError, match="is not a checkpoint folder"):
        hub.push_to_hub(tmp_path / "missing", "alice/x", card="")
    assert recording_api.calls == []


def test_push_explains_a_missing_login(recording_api, folders):
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    response = httpx2.Response(401, request=httpx2.Request("POST", "https://hub.test/api/repos/create"))
    recording_api.fail_with = HfHubHTTPError("401 Unauthorized", response=response)
    with pytest.raises(GanlabError, match=r"the Hub refused the token for Hub repo alice/x \(HTTP 401.*\): log in again \(`hf auth login`"):
        hub.push_to_hub(tiny_generator(0), "alice/x", card="")


def test_model_card_describes_the_checkpoint(folders):
    from huggingface_hub import ModelCard

    metrics = {"fid": 12.3456789, "recognizable": {"rate": 0.91}}
    text = cards.model_card("student", folders.student_v1, metrics, repo_id="alice/ganlab-student")
    card = ModelCard(text)
    assert card.data.library_name == "pytorch" and card.data.license == cards.LICENSE
    assert card.data.datasets == ["ylecun/mnist"] and "knowledge-distillation" in card.data.tags
    counts = count_parameters(folders.models["v1"])
    assert f"| `trainable parameters` | {counts['trainable']:,} |" in text
    assert f"{counts['keras']:,}" in text
    assert "| `steps` | 10 |" in text and "| `mode` | distill |" in text  # from training.json
    assert "| `fid` | 12.3457 |" in text and "| `recognizable.rate` | 0.91 |" in text
    assert "3. ConvTranspose 4×4 stride 2, BatchNorm, LeakyReLU → 14×14×4" in text
    assert "4. ConvTranspose 4×4 stride 2, tanh → 28×28×1" in text
    assert 'load_generator("alice/ganlab-student")' in text
    for heading in ("## Architecture", "## Parameters", "## Training recipe", "## Metrics", "## Intended use", "## Limitations"):
        assert heading in text
    bare = cards.model_card("baseline", folders.discriminator)
    assert "No training.json was saved" in bare and "No evaluation metrics were recorded" in bare
    with pytest.raises(GanlabError, match="model card kind must be one of"):
        cards.model_card("generator", folders.student_v1)


def test_a_classifier_card_reports_its_test_accuracy(tmp_path):
    from ganlab.classifier import Classifier
    from ganlab.config import ClassifierConfig

    folder = save_checkpoint(Classifier(ClassifierConfig(channels=(2, 4), hidden=8)), tmp_path / "classifier",
                             training={"steps": 5, "test_accuracy": 0.9925})  # fmt: skip
    card = cards.model_card("classifier", folder)
    assert "| `MNIST test accuracy (10,000 images)` | 0.9925 |" in card and "image-classification" in card


def test_push_script_dry_run_writes_what_it_would_upload(folders, tmp_path):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({  # scripts/evaluate.py's format
        "meta": {"n": 1000, "seeds": [0, 1], "reference": "MNIST test", "wall_time_s": 3.0},
        # evaluate.py labels its rows; the card is found through the row's checkpoint folder
        "models": {"student (distilled)": {"path": str(folders.student_v1), "runs": [{"fid": 7.4}, {"fid": 7.6}],
                                           "summary": {"fid": {"mean": 7.5, "std": 0.141}}}},
    }))
    command = [
        sys.executable, str(REPO_ROOT / "scripts" / "push_to_hub.py"), "--namespace", "alice", "--dry-run",
        "--out", str(tmp_path / "out"), "--teacher", str(folders.student_v2), "--student", str(folders.student_v1),
        "--classifier", str(tmp_path / "no-classifier"), "--metrics", str(metrics),
    ]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "skip classifier: no checkpoint at" in completed.stdout
    assert "student: would push" in completed.stdout and "huggingface.co/alice/ganlab-student" in completed.stdout
    student = tmp_path / "out" / "student"
    assert sorted(path.name for path in student.iterdir()) == ["README.md", "config.json", "model.onnx", "model.safetensors", "samples.png", "training.json"]
    card = (student / "README.md").read_text()
    assert "| `fid` | 7.5 ± 0.14 |" in card and "| `evaluation.n` | 1000 |" in card and "| `evaluation.seeds` | 0, 1 |" in card
    assert str(folders.student_v1) not in card and "wall_time_s` | 3" not in card
    assert "No evaluation metrics were recorded" in (tmp_path / "out" / "teacher" / "README.md").read_text()
    assert_same_weights(load_checkpoint(student), folders.models["v1"])

    bad = subprocess.run(command[:3] + ["bad--name"] + command[4:], capture_output=True, text=True, env=environment, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
    assert "not a valid Hub repo id" in bad.stderr

