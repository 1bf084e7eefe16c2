"""Push a UI run's student to the Hub (issue 13, item 3), against the fake local Hub.

The push goes through huggingface_hub's real client (create_repo, upload_folder) to tests/fake_hub.py,
whose users and tokens stand in for the Hub's: a good token lands the files (private as asked),
a refused token and a repo in another namespace each give one line, and the checks that need no
Hub (repo id, ownership, a finished run, a login) make no request at all.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from conftest import free_port, wait_for  # noqa: E402
from fake_hub import FakeHub  # noqa: E402
from lab_fixtures import tiny_lab  # noqa: E402

from ganlab import hub, model_card  # noqa: E402
from ganlab.checkpoints import WEIGHTS_NAME  # noqa: E402
from ganlab.errors import GanlabError  # noqa: E402
from ganlab.lab.publish import NOT_LOGGED_IN, card_kind, run_metrics  # noqa: E402

OWNER_HEX = "a" * 32  # the owner token a browser keeps (app._owner_token)
OWNER = "token:" + OWNER_HEX  # who the app says is asking (app._visitor)
STRANGER = "token:" + "b" * 32
ALICE = "alice-write-token"


@pytest.fixture(scope="module")
def fake_hub():
    """The fake Hub, with huggingface_hub pointed at it (HF_ENDPOINT is read once, at import)."""
    from huggingface_hub import constants

    with FakeHub() as server, pytest.MonkeyPatch.context() as patch:
        patch.setattr(constants, "ENDPOINT", server.url)
        patch.setenv("HF_ENDPOINT", server.url)
        server.add_user("alice", ALICE)
        server.add_commit("bob/taken", {"README.md": b"bob's model\n"})  # public, not alice's
        yield server


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A Lab whose slot holds a run that OWNER started and that has ended (a few steps on synthetic digits)."""
    lab = tiny_lab(tmp_path_factory.mktemp("push"), data_source="synthetic", run_cap_s=120)
    lab.start_run(steps=4, batch_size=8, time_budget_s=60, owner=OWNER)
    wait_for(lambda: not lab.slot.current().alive, timeout=120)
    run = lab.slot.current()
    assert (run.output_dir / "student" / WEIGHTS_NAME).is_file()
    yield lab
    lab.slot.shutdown()


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and len(message) < 400, message
    return message


def test_the_owner_pushes_the_student_with_the_scripts_card_private_by_default(fake_hub, finished):
    run = finished.slot.current()
    folder = run.output_dir / "student"
    pushed, message = finished.push_run(" alice/ganlab-run ", token=ALICE, viewer=OWNER)

    assert pushed == "alice/ganlab-run" and "(private)" in message and f"{fake_hub.url}/alice/ganlab-run/commit/" in message
    assert "alice/ganlab-run" in fake_hub.private
    files = fake_hub.files("alice/ganlab-run")
    assert {"README.md", "config.json", "model.safetensors", "training.json", "model.onnx", "samples.png"} <= set(files)
    for name in ("model.safetensors", "config.json", "training.json"):
        assert files[name] == (folder / name).read_bytes()  # the run's own files, byte for byte
    # the card scripts/push_to_hub.py writes (ganlab.hub.publish), with this run's metrics and recipe
    card = files["README.md"].decode()
    assert card == model_card.model_card(card_kind(run), folder, run_metrics(run), repo_id="alice/ganlab-run")
    assert "| `training.steps` | 4 |" in card and f"| `ui_run` | {run.id} |" in card and "![64 samples from seed 0](samples.png)" in card
    assert "model-index" not in card  # the losses of a run are listed, never declared as evaluation results


def test_unticked_private_pushes_a_public_repo_and_a_bare_name_lands_in_the_users_namespace(fake_hub, finished):
    pushed, message = finished.push_run("ganlab-public-run", private=False, token=ALICE, viewer=OWNER)
    assert "(private)" not in message and "/alice/ganlab-public-run/commit/" in message
    assert "model.safetensors" in fake_hub.files("alice/ganlab-public-run") and "alice/ganlab-public-run" not in fake_hub.private


def test_private_never_pushes_into_an_existing_public_repo(fake_hub, finished):
    fake_hub.add_commit("alice/already-public", {"README.md": b"old\n"})
    with pytest.raises(GanlabError) as error:
        finished.push_run("alice/already-public", private=True, token=ALICE, viewer=OWNER)
    assert "already exists and is public" in one_line(error)
    assert fake_hub.files("alice/already-public") == {"README.md": b"old\n"}


def test_a_refused_token_is_one_line(fake_hub, finished):
    with pytest.raises(GanlabError) as error:
        finished.push_run("alice/never", token="hf_expired", viewer=OWNER)
    message = one_line(error)
    assert "refused the token" in message and "HTTP 401" in message and "hf auth login" in message
    assert "alice/never" not in fake_hub.commits


@pytest.mark.parametrize("repo, private", [("bob/new-model", True), ("bob/taken", False)])
def test_a_repo_in_another_namespace_is_one_line(fake_hub, finished, repo, private):
    before = fake_hub.files(repo)
    with pytest.raises(GanlabError) as error:
        finished.push_run(repo, private=private, token=ALICE, viewer=OWNER)
    assert f"not allowed to write to Hub repo {repo} (HTTP 403)" in one_line(error)
    assert fake_hub.files(repo) == before


@pytest.mark.parametrize("repo", ["", "  ", "../x", "a/b/c", "https://huggingface.co/alice/x", "bad--name", "ünï/cödé"])
def test_a_bad_repo_id_is_refused_before_any_request(fake_hub, finished, repo):
    before = len(fake_hub.requests)
    with pytest.raises(GanlabError) as error:
        finished.push_run(repo, token=ALICE, viewer=STRANGER)  # the repo id is checked first, even for a stranger
    assert "repo" in one_line(error)
    assert len(fake_hub.requests) == before


def test_only_the_owner_may_push_and_only_when_logged_in(fake_hub, finished):
    before = len(fake_hub.requests)
    with pytest.raises(GanlabError) as error:
        finished.push_run("alice/stolen", token=ALICE, viewer=STRANGER)
    assert "no run of yours yet" in one_line(error)
    with pytest.raises(GanlabError) as error:
        finished.push_run("alice/stolen", token=None, viewer=OWNER)
    assert one_line(error) == NOT_LOGGED_IN
    assert len(fake_hub.requests) == before


def test_no_finished_run_no_push(fake_hub, tmp_path):
    lab = tiny_lab(tmp_path, data_source="synthetic", run_cap_s=120)
    before = len(fake_hub.requests)
    with pytest.raises(GanlabError, match="no run of yours yet"):
        lab.push_run("alice/x", token=ALICE, viewer=OWNER)
    lab.start_run(steps=20_000, batch_size=8, time_budget_s=60, owner=OWNER)
    try:
        with pytest.raises(GanlabError, match="still training"):
            lab.push_run("alice/x", token=ALICE, viewer=OWNER)
    finally:
        lab.slot.shutdown()
    assert len(fake_hub.requests) == before


def test_the_push_token_is_the_visitors_on_a_space_and_this_machines_locally(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_the_spaces_own_secret")
    assert hub.push_token("oauth-token", on_space=True) == "oauth-token"
    assert hub.push_token(None, on_space=True) is None  # never the Space's own token for a visitor
    assert hub.push_token(None, on_space=False) == "hf_the_spaces_own_secret"  # run locally: this machine's login


def test_the_space_shows_a_login_button_and_a_local_app_does_not(finished, monkeypatch):
    import gradio as gr
    import gradio.oauth

    from app import build_app

    def login_buttons() -> int:
        demo = build_app(finished)  # Gradio attaches its OAuth routes here, when a LoginButton is present
        demo.close()
        return sum(isinstance(block, gr.LoginButton) for block in demo.blocks.values())

    monkeypatch.delenv("SYSTEM", raising=False)
    assert login_buttons() == 0  # locally Gradio would mock OAuth and refuse to start without a login
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "someone/ganlab")
    monkeypatch.delenv("OAUTH_CLIENT_ID", raising=False)
    assert login_buttons() == 0  # a Space without hf_oauth: no sign-in, and no crash at start
    # what a Space with `hf_oauth: true` provides (gradio.oauth reads it when imported)
    space_oauth = {"OAUTH_CLIENT_ID": "client", "OAUTH_CLIENT_SECRET": "secret", "OAUTH_SCOPES": "openid profile write-repos manage-repos",
                   "OPENID_PROVIDER_URL": "https://huggingface.co"}  # fmt: skip
    for name, value in space_oauth.items():
        monkeypatch.setenv(name, value)
        monkeypatch.setattr(gradio.oauth, name, value)
    assert login_buttons() == 1


def test_the_app_pushes_through_its_api_with_the_machines_login(fake_hub, finished, monkeypatch):
    """gradio_client -> /push_run -> Lab.push_run: run locally (no SPACE_ID), the token is HF_TOKEN."""
    from gradio_client import Client

    from app import build_app, launch

    monkeypatch.delenv("SYSTEM", raising=False)
    monkeypatch.setenv("HF_TOKEN", ALICE)
    demo = build_app(finished)
    port = free_port()
    launch(demo, [str(finished.runs_dir)], server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        repo, message = client.predict("alice/ganlab-from-the-app", True, OWNER_HEX, api_name="/push_run")
        assert repo == "alice/ganlab-from-the-app" and message.startswith("✅ Pushed this run's student"), message
        assert "model.safetensors" in fake_hub.files("alice/ganlab-from-the-app")
        _, refused = client.predict("alice/ganlab-from-the-app", True, "b" * 32, api_name="/push_run")
        assert refused.startswith("⚠️ no run of yours yet"), refused
    finally:
        demo.close()


def test_a_finished_run_stays_its_owners_to_push_after_another_visitor_starts_one(fake_hub, tmp_path):
    lab = tiny_lab(tmp_path, data_source="synthetic", run_cap_s=120)
    try:
        lab.start_run(steps=4, batch_size=8, time_budget_s=60, owner=OWNER)
        wait_for(lambda: not lab.slot.current().alive, timeout=120)
        mine = lab.slot.current()
        lab.start_run(steps=4, batch_size=8, time_budget_s=60, owner=STRANGER)  # someone else's run is now the latest
        wait_for(lambda: not lab.slot.current().alive, timeout=120)
        assert lab.slot.current() is not mine
        pushed, _ = lab.push_run("alice/mine-after-all", token=ALICE, viewer=OWNER)
        assert fake_hub.files(pushed)["model.safetensors"] == (mine.output_dir / "student" / WEIGHTS_NAME).read_bytes()
    finally:
        lab.slot.shutdown()
