"""Hub repo ids and revisions, checked before any request: a typo costs no work and no network."""

from __future__ import annotations

import re

from ganlab.config import shown
from ganlab.errors import GanlabError

MAX_REPO_ID_LENGTH = 96 * 2 + 1  # 'namespace/name', each part at most 96 characters
MAX_REVISION_LENGTH = 255
_ID_CHARACTERS = re.compile(r"[A-Za-z0-9._/-]+")  # ASCII only: the Hub refuses the rest
_COMMIT_HASH = re.compile(r"[0-9a-f]{40}")


def validate_repo_id(text: str) -> str:
    """A Hub model repo id ('user/name' or 'name'), stripped; a GanlabError says what is wrong."""
    if not isinstance(text, str):
        raise GanlabError(f"a Hub repo id must be text like 'user/ganlab-student', got {type(text).__name__}")
    repo_id = text.strip()
    if not repo_id:
        raise GanlabError("enter a Hub repo id like 'user/ganlab-student'")
    if len(repo_id) > MAX_REPO_ID_LENGTH:
        raise GanlabError(f"a Hub repo id has at most {MAX_REPO_ID_LENGTH} characters, got {len(repo_id)}")
    if "://" in repo_id or repo_id.lower().startswith(("huggingface.co/", "hf.co/")):
        raise GanlabError(f"enter only the repo id 'user/name', not a URL: {shown(repo_id)}")
    if repo_id.startswith(("/", "~", ".")) or "\\" in repo_id or ".." in repo_id:
        raise GanlabError(
            f"{shown(repo_id)} looks like a file path, not a Hub repo id; use 'user/name', "
            "or a checkpoint folder that exists"
        )
    if repo_id.count("/") > 1:
        raise GanlabError(f"a Hub repo id has at most one '/' ('user/name'), got {shown(repo_id)}")
    from huggingface_hub.utils import HFValidationError
    from huggingface_hub.utils import validate_repo_id as hub_validate_repo_id

    try:
        if not _ID_CHARACTERS.fullmatch(repo_id):
            raise HFValidationError("non-ASCII or special characters")
        hub_validate_repo_id(repo_id)
    except HFValidationError:
        raise GanlabError(
            f"{shown(repo_id)} is not a valid Hub repo id: use 'user/name' with ASCII letters, digits, "
            "'-', '_' and '.', no '--' or '..', not starting or ending with '-' or '.'"
        ) from None
    return repo_id


def validate_revision(text: str | None) -> str | None:
    """A branch, tag or commit hash, stripped; None or blank means the default branch."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise GanlabError(f"a revision must be text (a branch, tag or commit hash), got {type(text).__name__}")
    revision = text.strip()
    if not revision:
        return None
    if len(revision) > MAX_REVISION_LENGTH:
        raise GanlabError(f"a revision has at most {MAX_REVISION_LENGTH} characters, got {len(revision)}")
    if not _ID_CHARACTERS.fullmatch(revision) or ".." in revision or revision.startswith(("/", "-")):
        raise GanlabError(
            f"{shown(revision)} is not a valid revision: use a branch, tag or commit hash "
            "(letters, digits, '-', '_', '.', '/'), or leave it empty for 'main'"
        )
    return revision
