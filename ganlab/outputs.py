"""Where ganlab writes: the one output guard every script and the app ask before any work, and
atomic writes that readers never see half-done.

The guard refuses an output that is empty, too long for a file system, unresolvable (a symlink
loop), not writable, an existing non-regular file (a device, a pipe), or that is, contains or lies
inside one of the command's inputs: a command never writes over or into what it reads.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ganlab.errors import GanlabError

MAX_NAME_BYTES = 255  # one path component, on every common file system
MAX_PATH_BYTES = 4096  # PATH_MAX on Linux


def _checked_path(path: str | os.PathLike, what: str) -> Path:
    """`path` as a Path, refused if empty or longer than a file system takes."""
    text = os.fspath(path)
    if not isinstance(text, str) or not text.strip():
        raise GanlabError(f"the {what} path is empty (an unset shell variable?): give a path")
    encoded = os.fsencode(text)
    if len(encoded) > MAX_PATH_BYTES:
        raise GanlabError(f"the {what} path is {len(encoded):,} bytes; file systems take at most {MAX_PATH_BYTES:,}")
    for part in Path(text).parts:
        if len(os.fsencode(part)) > MAX_NAME_BYTES:
            raise GanlabError(f"a name in the {what} path is {len(os.fsencode(part)):,} bytes; file systems take at most {MAX_NAME_BYTES}")
    return Path(text)


def check_input_path(path: str | os.PathLike, what: str) -> Path:
    """An input path a user typed, refused if empty or too long (an empty one would mean '.')."""
    return _checked_path(path, what)


def _resolved(path: Path, what: str) -> Path:
    try:
        return path.resolve()
    except (RuntimeError, OSError) as error:  # RuntimeError: a symlink loop (Python < 3.13)
        raise GanlabError(f"cannot resolve the {what} {path} ({getattr(error, 'strerror', None) or error}): a symlink loop?") from None


def refuse_overlap(output: Path, inputs: Iterable[str | os.PathLike | None], what: str) -> None:
    """Refuse an output that is, contains or lies inside any of `inputs` (None entries are skipped)."""
    target = _resolved(output, what)
    for item in inputs:
        if item is None or not os.fspath(item).strip():
            continue
        source = _resolved(Path(item), "input")
        if target == source:
            relation = "is"
        elif source in target.parents:
            relation = "lies inside"
        elif target in source.parents:
            relation = "contains"
        else:
            continue
        raise GanlabError(f"refusing to write the {what} {output}: it {relation} the input {item}; choose another {what}")


def _probe_writable(folder: Path, target: Path) -> None:
    """Create and remove a scratch file in `folder`: the one sure test that `target` can be written."""
    try:
        handle, scratch = tempfile.mkstemp(dir=folder, prefix=".ganlab-probe-")
        os.close(handle)
        os.unlink(scratch)
    except OSError as error:
        raise GanlabError(f"cannot write {target}: {folder} takes no new files ({error.strerror or error})") from None


def _is_special(path: Path) -> bool:
    """An existing path that is neither a folder nor a regular file (after symlinks): a device, pipe or socket."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_output_file(path: str | os.PathLike, suffixes: tuple[str, ...], *, inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """`path` as a file a script may write, checked before any work starts (nothing is left behind)."""
    path = _checked_path(path, "output file")
    if path.suffix.lower() not in suffixes:
        raise GanlabError(f"{path} must end in {' or '.join(suffixes)}")
    if _is_special(path):
        raise GanlabError(f"{path} is not a regular file (a device or a pipe): ganlab never writes over one; name a file")
    if path.is_dir():
        raise GanlabError(f"{path} is a folder; name a file inside it, like {path / ('out' + suffixes[0])}")
    refuse_overlap(path, inputs, "output file")
    if not path.parent.is_dir():
        raise GanlabError(f"output folder {path.parent} does not exist")
    _probe_writable(path.parent, path)
    return path


def check_output_folder(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """`path` as a folder a checkpoint can be written to, checked before training starts."""
    path = _checked_path(path, "output folder")
    if path.exists() and not path.is_dir():
        raise GanlabError(f"{path} is a file; a checkpoint is a folder: name a new or existing folder")
    refuse_overlap(path, inputs, "output folder")
    existing = path
    while not existing.exists():  # the folder is created at the first write: probe its nearest ancestor
        existing = existing.parent
    if not existing.is_dir():
        raise GanlabError(f"cannot create folder {path}: {existing} is a file")
    _probe_writable(existing, path)
    return path


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write to a temporary file beside `path`, then rename: readers see old or new, never half.

    durable: fsync before the rename, so a crash cannot leave an empty file under the final name
    (off for throw-away files such as the app's image cache, where it would only add latency).
    A device or pipe under that name is never renamed over.
    """
    if _is_special(path):
        raise GanlabError(f"{path} is not a regular file (a device or a pipe): ganlab never writes over one")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise GanlabError(f"cannot write {path}: {error.strerror or error}") from error
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes owner-only files; these are shared artefacts
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as error:  # a full disk or a folder gone read-only: one line that names the file
        Path(temporary).unlink(missing_ok=True)
        raise GanlabError(f"cannot write {path}: {error.strerror or error}") from error
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, payload: Any) -> None:
    import json

    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())
