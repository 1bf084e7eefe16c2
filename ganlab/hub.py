"""Hugging Face Hub: load ganlab checkpoints, a thin layer over snapshot_download (pushing: ganlab.hub_push).

A Hub repo holds exactly what a local checkpoint folder holds (model.safetensors, config.json,
training.json, plus a README.md model card), so a download ends in the same strict loader as
a local folder: ganlab.checkpoints.load_checkpoint. One code path, and nothing is unpickled.

huggingface_hub is imported lazily: it reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE when it is
first imported, and importing ganlab should not freeze those before a caller has set them.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from ganlab.checkpoints import (
    CONFIG_NAME,
    MAX_CONFIG_BYTES,
    MAX_TRAINING_BYTES,
    TRAINING_NAME,
    WEIGHTS_NAME,
    load_checkpoint,
    max_weights_bytes,
    read_json,
)
from ganlab.config import config_from_dict, shown
from ganlab.errors import GanlabError
from ganlab.hub_ids import _COMMIT_HASH, MAX_REPO_ID_LENGTH, MAX_REVISION_LENGTH, validate_repo_id, validate_revision  # noqa: F401
# pushing lives in ganlab.hub_push; its names are importable from here too
from ganlab.hub_push import CARD_NAME, publish, push_to_hub, push_token, stage_upload  # noqa: F401

def _existing_path(text: str) -> Path | None:
    """The local file or folder `text` names, or None (also for names no filesystem accepts)."""
    try:
        path = Path(text).expanduser()
        return path if path.exists() else None
    except (OSError, ValueError, RuntimeError):  # too long, NUL byte, unknown ~user
        return None


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith(("/", "./", "../", "~", "."))
        or "\\" in text
        or text.count("/") > 1
        or text.endswith((".safetensors", ".pt", ".pth", ".bin", ".ckpt"))
    )


def from_pretrained(source: str, *, revision: str | None = None, expect: str | None = None) -> nn.Module:
    """A model, in eval mode, from a local checkpoint folder / .safetensors file or a Hub repo id.

    An existing local path wins over a repo id of the same spelling. expect='generator',
    'discriminator' or 'classifier' refuses another kind of model (on the Hub, before the
    weights are downloaded). Every failure is a GanlabError that says what to do.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise GanlabError(f"a model source must be a folder or a Hub repo id, got {type(source).__name__}")
    text = str(source).strip()
    if not text:
        raise GanlabError("enter a checkpoint folder or a Hub repo id like 'user/ganlab-student'")
    revision = validate_revision(revision)
    local = _existing_path(text)
    if local is not None:
        if revision is not None:
            raise GanlabError(f"{text} is a local checkpoint; a revision only applies to Hub repos")
        return load_checkpoint(local, expect=expect)
    if _looks_like_path(text):
        raise GanlabError(f"checkpoint {text} does not exist (a path is not a Hub repo id)")
    return from_hub(text, revision=revision, expect=expect)


def from_hub(
    repo_id: str, *, revision: str | None = None, expect: str | None = None, cache_dir: str | os.PathLike | None = None,
    token: bool | str | None = None, max_multiply_adds: int | None = None,
) -> nn.Module:
    """A model, in eval mode, from a Hub repo id only: never a local path, whatever its spelling.

    What a visitor types goes here, not to from_pretrained: on a server, 'checkpoints/x' or
    'data/y' must not load (or reveal) the server's own files. cache_dir: where the files are
    downloaded (default huggingface_hub's cache). token: huggingface_hub's (None: HF_TOKEN or
    the login; False: anonymous, for what a visitor names, so that a Space's own token never
    opens its owner's private repos to whoever types their names). max_multiply_adds: refuse a
    generator that costs more per image to run, before its weights are fetched.
    """
    repo_id = validate_repo_id(repo_id)
    revision = validate_revision(revision)
    folder = download_checkpoint(
        repo_id, revision=revision, expect=expect, cache_dir=cache_dir, token=token, max_multiply_adds=max_multiply_adds
    )
    label = _label(repo_id, revision)
    try:
        return load_checkpoint(folder, expect=expect)
    except GanlabError as error:
        # name the repo, not the cache folder it was downloaded to
        message = str(error).replace(str(folder / WEIGHTS_NAME), f"{WEIGHTS_NAME} of {label}")
        raise GanlabError(message.replace(str(folder), label)) from None


def load_generator(source: str, revision: str | None = None) -> nn.Module:
    """A generator (teacher or student) from a local checkpoint or a Hub repo id."""
    return from_pretrained(source, revision=revision, expect="generator")


def _label(repo_id: str, revision: str | None) -> str:
    return f"Hub repo {repo_id}" + (f" at revision {revision}" if revision else "")


def download_checkpoint(
    repo_id: str, *, revision: str | None = None, expect: str | None = None, cache_dir: str | os.PathLike | None = None,
    token: bool | str | None = None, max_multiply_adds: int | None = None,
) -> Path:
    """Download config.json, model.safetensors and training.json of a Hub repo into the cache.

    Returns the snapshot folder, named by the commit hash. Two snapshot_download calls: first
    config.json alone (is this a ganlab checkpoint of the expected kind? nothing else is
    fetched before that is known), then the weights pinned to the commit config.json came
    from, so a push in between cannot mix two versions. Offline (HF_HUB_OFFLINE) or with the
    Hub unreachable, huggingface_hub serves the cached snapshot, and says when it has none.
    """
    repo_id = validate_repo_id(repo_id)
    revision = validate_revision(revision)
    label = _label(repo_id, revision)

    # 1. config.json, sized first (a repo's config.json can be any size): is this a ganlab
    # checkpoint of the expected kind? With the Hub out of reach, only the cache is read.
    online = _check_sizes(repo_id, revision, {CONFIG_NAME: MAX_CONFIG_BYTES}, label=label, token=token)
    folder = _snapshot(repo_id, revision, [CONFIG_NAME], label=label, cache_dir=cache_dir, token=token, online=online)
    if not (folder / CONFIG_NAME).is_file():
        raise GanlabError(f"{label} has no {CONFIG_NAME}: it is not a ganlab checkpoint (expected {CONFIG_NAME} and {WEIGHTS_NAME})")
    commit = folder.name if _COMMIT_HASH.fullmatch(folder.name) else revision
    try:  # bounded size and depth, every field and the parameter budget checked: nothing built yet
        config = config_from_dict(read_json(folder / CONFIG_NAME, max_bytes=MAX_CONFIG_BYTES, source=CONFIG_NAME))
    except GanlabError as error:
        raise GanlabError(f"{label} is not a ganlab checkpoint: {error}") from None
    if expect is not None and config.kind != expect:
        raise GanlabError(f"{label} holds a {config.kind}, not a {expect}; choose a {expect} repo")
    if max_multiply_adds is not None and config.kind == "generator" and config.multiply_adds() > max_multiply_adds:
        raise GanlabError(
            f"{label} describes a generator of {config.multiply_adds():,} multiply-adds per image; this app "
            f"runs at most {max_multiply_adds:,}, so that one visitor's model cannot hold up everyone's requests"
        )

    # 2. the weights and how they were trained (optional), pinned to the same commit, and no
    # bigger than that config allows: a repo's files are sized before a byte of them is fetched
    limits = {WEIGHTS_NAME: max_weights_bytes(config), TRAINING_NAME: MAX_TRAINING_BYTES}
    online = _check_sizes(repo_id, commit, limits, label=label, token=token)
    if _snapshot(repo_id, commit, [WEIGHTS_NAME, TRAINING_NAME], label=label, cache_dir=cache_dir, token=token, online=online) != folder:
        raise GanlabError(f"{label}: config.json and model.safetensors came from different commits; try again")
    if not (folder / WEIGHTS_NAME).is_file():
        raise GanlabError(f"{label} has no {WEIGHTS_NAME}: it is not a ganlab checkpoint (expected {CONFIG_NAME} and {WEIGHTS_NAME})")
    return folder


def _check_sizes(
    repo_id: str, revision: str | None, limits: dict[str, int], *, label: str, token: bool | str | None = None
) -> bool:
    """Refuse a file of the repo larger than `limits` allows for its name; False when the Hub
    cannot be reached at all (offline, no connection), so that the caller reads only its cache.

    One listing request with the Hub's own timeout: list_repo_tree retries a refused connection
    with backoff, which made a cached model take 26 s to load with the Hub unreachable (measured).
    When the listing fails (a repo of thousands of files can outlast the timeout), each limited
    file is sized on its own (a HEAD request), as is a file it lists without a size. A limited
    file of unknown size is refused.
    """
    from huggingface_hub import HfApi, constants

    try:
        info = HfApi().model_info(
            repo_id, revision=revision, files_metadata=True, timeout=constants.HF_HUB_ETAG_TIMEOUT, token=token
        )
        sizes = {sibling.rfilename: sibling.size for sibling in info.siblings or []}
        unsized = [name for name in limits if name in sizes and sizes[name] is None]
    except Exception:  # noqa: BLE001 - sized file by file below
        sizes, unsized = {}, list(limits)
    if unsized:  # the listing failed, or gave no size for a file: one HEAD request each
        sized = _sizes_one_by_one(repo_id, revision, unsized, label=label, token=token)
        if sized is None:
            return False
        sizes = {**{k: v for k, v in sizes.items() if k not in unsized}, **sized}
    for name, limit in limits.items():
        if name not in sizes:
            continue  # not in the repo: the snapshot call says so if it is required
        size = sizes[name]
        if size > limit:
            allowed = "its config allows" if name == WEIGHTS_NAME else f"a ganlab {name} may be"
            raise GanlabError(f"{label}: {name} is {size:,} bytes, more than {allowed} ({limit:,}); not downloaded")
    return True


def _sizes_one_by_one(
    repo_id: str, revision: str | None, names: list[str], *, label: str, token: bool | str | None
) -> dict[str, int | None] | None:
    """{name: size} from one HEAD request per file (absent files left out); None when the Hub
    cannot be reached at all; a GanlabError when it answers but a size cannot be had."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import OfflineModeIsEnabled, RemoteEntryNotFoundError

    try:  # huggingface_hub's HTTP client
        from httpx2 import ConnectError, ConnectTimeout, TimeoutException
    except ImportError:  # pragma: no cover - other huggingface_hub versions
        ConnectError = ConnectTimeout = TimeoutException = OSError

    if constants.HF_HUB_OFFLINE:
        return None
    sizes: dict[str, int | None] = {}
    for name in names:
        try:
            metadata = get_hf_file_metadata(
                hf_hub_url(repo_id, name, revision=revision), token=token, timeout=constants.HF_HUB_ETAG_TIMEOUT
            )
        except RemoteEntryNotFoundError:
            continue  # not in the repo: the snapshot call says so if it is required
        except (ConnectError, ConnectTimeout, OfflineModeIsEnabled):
            return None
        except TimeoutException:  # connected, but no answer in time: the size is unknown
            raise GanlabError(f"{label}: the Hub did not give the size of {name} in time; not downloaded, try again") from None
        except Exception as error:  # noqa: BLE001 - any other answer: the size is unknown, nothing is fetched
            explained = _explain(error, repo_id, name, revision, label=label, anonymous=token is False)
            if isinstance(explained, GanlabError):
                raise explained from None
            raise GanlabError(f"{label}: the size of {name} could not be had from the Hub; not downloaded") from None
        if metadata.size is None:
            raise GanlabError(f"{label}: the Hub gave no size for {name}; not downloaded")
        sizes[name] = metadata.size
    return sizes


def _snapshot(
    repo_id: str, revision: str | None, files: list[str], *, label: str, cache_dir=None, token: bool | str | None = None,
    online: bool = True,
) -> Path:
    """snapshot_download of `files`, its errors turned into one-line GanlabErrors naming `label`.
    online=False: the files could not be sized, so only the cache (sized when they came) is read."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(
            repo_id, revision=revision, allow_patterns=files, library_name="ganlab", cache_dir=cache_dir, token=token,
            local_files_only=not online,
        ))
    except Exception as error:  # noqa: BLE001 - sorted by _explain; anything unrecognised is re-raised
        explained = _explain(error, repo_id, files[0], revision, label=label, anonymous=token is False, unreachable=not online)
        if explained is error:
            raise
        raise explained from error


def _not_cached(label: str, filename: str, detail: str, *, anonymous: bool, unreachable: bool) -> GanlabError:
    """Why a file that is not in the local cache could not be fetched either: offline mode, no Hub, or the download."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return GanlabError(
            f"{label} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set: "
            "unset it and connect to the internet, or load a local checkpoint folder"
        )
    if unreachable:
        return GanlabError(
            f"cannot reach the Hugging Face Hub at {constants.ENDPOINT} (offline?) and {label} is not in "
            "the local cache: check your connection or HF_ENDPOINT" + ("" if anonymous else ", or load a local checkpoint folder")
        )
    return GanlabError(f"could not download {filename} of {label} ({detail}) and it is not in the local cache: check your connection and try again")


def _explain(
    error: Exception, repo_id: str, filename: str, revision: str | None, *, label: str, anonymous: bool = False,
    unreachable: bool = False,
) -> Exception:
    """The GanlabError for a failed download (or `error` itself when it is not a download failure).

    anonymous: the download sent no token (a visitor's load), so the way out is never a token or a
    local folder. unreachable: the Hub could not be reached before this cache-only read.
    """
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:  # huggingface_hub's HTTP client
        from httpx2 import ConnectError, TimeoutException
        from httpx2 import HTTPError as TransportFailure
    except ImportError:  # pragma: no cover - other huggingface_hub versions
        ConnectError = TimeoutException = TransportFailure = OSError

    detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
    if isinstance(error, GatedRepoError):
        if anonymous:
            return GanlabError(f"{label} is gated: this app loads public repos only")
        return GanlabError(f"{label} is gated: accept its terms on the Hub, then set HF_TOKEN or run `hf auth login`")
    if isinstance(error, RepositoryNotFoundError):
        return GanlabError(
            f"Hub repo {repo_id} was not found (404): check the spelling 'user/name'"
            + (" (this app loads public repos only)" if anonymous else ", or set HF_TOKEN if the repo is private")
        )
    if isinstance(error, RevisionNotFoundError):
        return GanlabError(
            f"revision {revision!r} was not found in Hub repo {repo_id} (404): use an existing branch, "
            "tag or commit hash, or leave the revision empty for 'main'"
        )
    if isinstance(error, RemoteEntryNotFoundError):
        return GanlabError(
            f"{label} has no {filename}: it is not a ganlab checkpoint (expected {CONFIG_NAME} and {WEIGHTS_NAME})"
        )
    if isinstance(error, IncompleteSnapshotError):
        return GanlabError(
            f"the cached copy of {label} lacks {filename} and the Hub cannot be asked now: connect to the "
            "internet (or unset HF_HUB_OFFLINE) and try again, or load a local checkpoint folder"
        )
    if isinstance(error, (LocalEntryNotFoundError, OfflineModeIsEnabled)):
        unreachable = unreachable or isinstance(error.__cause__, (ConnectError, TimeoutException))
        return _not_cached(label, filename, detail, anonymous=anonymous, unreachable=unreachable)
    if isinstance(error, HfHubHTTPError):
        status = getattr(getattr(error, "response", None), "status_code", "an error")
        return GanlabError(
            f"the Hub answered HTTP {status} for {filename} of {label}: try again later"
            + ("" if anonymous else " (or set HF_TOKEN if the repo is private)")
        )
    if isinstance(error, HFValidationError):
        return GanlabError(f"{shown(repo_id)} is not a valid Hub repo id: {detail}")
    if isinstance(error, (TransportFailure, OSError)):
        return GanlabError(
            f"downloading {filename} of {label} failed: the connection dropped or the file arrived "
            f"incomplete ({detail}); try again"
        )
    return error


# --- pushing ---------------------------------------------------------------------------------
