"""Pushing a checkpoint to the Hub with its model card: stage the files, upload them, whose token.

The staged folder is exactly what a local checkpoint folder holds plus README.md (the card) and,
for a generator, model.onnx; `publish` is what the CLI (ganlab-push) and the app's Push both call.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from torch import nn

from ganlab import model_card
from ganlab.checkpoints import CONFIG_NAME, TRAINING_NAME, WEIGHTS_NAME, load_checkpoint, read_config, save_checkpoint
from ganlab.errors import GanlabError
from ganlab.hub_ids import validate_repo_id
from ganlab.outputs import refuse_overlap

CARD_NAME = "README.md"


def stage_upload(source: nn.Module | str | os.PathLike, directory: str | os.PathLike, *, card: str) -> Path:
    """Write what a push uploads into `directory`: the checkpoint files plus README.md (the card).

    A folder's files are copied byte for byte, after a strict load proves they are sound; a
    model is saved with save_checkpoint. The staged folder is loaded again before returning.
    A generator also gets model.onnx, written only once onnxruntime agrees with PyTorch (ganlab.export).
    """
    from ganlab.export import ONNX_NAME, export_onnx

    directory = Path(directory)
    # staging deletes nothing: it writes into a new or empty folder (never one that holds the
    # source or anything else), so no file it did not just write is ever lost
    if directory.is_dir() and any(directory.iterdir()):
        raise GanlabError(f"{directory} is not empty: staging writes into a new or empty folder; choose another")
    if not isinstance(source, nn.Module):
        refuse_overlap(directory, [source], "staging folder")
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(source, nn.Module):
        save_checkpoint(source, directory)
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise GanlabError(f"{folder} is not a checkpoint folder; push a folder with {WEIGHTS_NAME} and {CONFIG_NAME}")
        if not (folder / CONFIG_NAME).is_file():
            raise GanlabError(f"{folder} has no {CONFIG_NAME}; a Hub checkpoint needs it beside {WEIGHTS_NAME}")
        load_checkpoint(folder)  # refuse to publish weights that do not load strictly
        for name in (WEIGHTS_NAME, CONFIG_NAME, TRAINING_NAME):
            if (folder / name).is_file():
                shutil.copyfile(folder / name, directory / name)
    (directory / CARD_NAME).write_text(card, encoding="utf-8")
    model = load_checkpoint(directory)
    if read_config(directory).kind == "generator":
        export_onnx(model, directory / ONNX_NAME)  # for onnxruntime users: z -> image, no PyTorch needed
        if model_card.SAMPLES_NAME in card:
            model_card.write_samples(model, directory)  # the grid the card shows
    return directory


def push_to_hub(
    model_dir_or_model: nn.Module | str | os.PathLike,
    repo_id: str,
    *,
    card: str,
    token: str | None = None,
    private: bool = False,
) -> str:
    """Create `repo_id` if needed and upload the checkpoint with its model card; returns the commit URL.

    token=None uses HF_TOKEN or the login saved by `hf auth login`. private=True refuses to upload
    into a repo that already exists and is public, rather than publish what was meant to stay private.
    """
    repo_id = validate_repo_id(repo_id)
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:  # huggingface_hub's HTTP client
        from httpx2 import HTTPError as TransportFailure
    except ImportError:  # pragma: no cover - other huggingface_hub versions
        TransportFailure = OSError

    with tempfile.TemporaryDirectory(prefix="ganlab-push-") as scratch:
        staged = stage_upload(model_dir_or_model, Path(scratch) / "upload", card=card)
        kind = read_config(staged).kind
        api = HfApi(token=token)
        try:
            # 'name' alone lands in the token's own namespace: the Hub's answer names the full id
            repo_id = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True).repo_id
            if private and not api.repo_info(repo_id, repo_type="model").private:
                raise GanlabError(
                    f"Hub repo {repo_id} already exists and is public: choose a new repo name to keep this "
                    "checkpoint private, or push it as public on purpose (untick private / leave out --private)"
                )
            commit = api.upload_folder(
                repo_id=repo_id,
                repo_type="model",
                folder_path=str(staged),
                commit_message=f"Upload ganlab {kind} checkpoint and model card",
            )
        except HfHubHTTPError as error:
            status = getattr(getattr(error, "response", None), "status_code", None)
            if status == 401:
                raise GanlabError(
                    f"the Hub refused the token for Hub repo {repo_id} (HTTP 401: invalid, expired or without "
                    "write access): log in again (`hf auth login` or HF_TOKEN; on a Space, Sign in with Hugging Face)"
                ) from error
            if status == 403:
                raise GanlabError(
                    f"not allowed to write to Hub repo {repo_id} (HTTP 403): push to your own namespace "
                    "('your-name/ganlab-student') or to an organisation you can write to"
                ) from error
            raise GanlabError(f"pushing to Hub repo {repo_id} failed (HTTP {status}): try again later") from error
        except (OSError, TransportFailure) as error:
            raise GanlabError(f"cannot reach the Hugging Face Hub to push {repo_id} ({error}): check your connection") from error
    return str(getattr(commit, "commit_url", commit))


def publish(
    kind: str,
    checkpoint_dir: str | os.PathLike,
    repo_id: str,
    *,
    metrics: dict | None = None,
    token: str | None = None,
    private: bool = False,
    dry_run_to: str | os.PathLike | None = None,
) -> str:
    """Push a checkpoint folder with its model card; the one push of scripts/push_to_hub.py and the app.

    The card (ganlab.model_card) gives the model's role (`kind`), its recipe from training.json,
    `metrics` and, for a generator, a sample grid. dry_run_to: write what would be uploaded into
    that folder instead (no network) and return it; else returns the commit URL.
    """
    repo_id = validate_repo_id(repo_id)
    card = model_card.model_card(kind, checkpoint_dir, metrics, repo_id=repo_id)
    if dry_run_to is not None:
        return str(stage_upload(checkpoint_dir, dry_run_to, card=card))
    return push_to_hub(checkpoint_dir, repo_id, card=card, token=token, private=private)


def push_token(oauth_token: str | None, *, on_space: bool) -> str | None:
    """The token a push from the app uses: the visitor's OAuth token, else (run locally) this machine's login.

    On a Space, never the machine's login: that would be the Space's own HF_TOKEN secret, and every
    visitor would push as the Space's owner. None means nobody is logged in.
    """
    if oauth_token:
        return oauth_token
    if on_space:
        return None
    from huggingface_hub import get_token

    return get_token()  # HF_TOKEN, else the token `hf auth login` saved
