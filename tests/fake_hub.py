"""A Hugging Face Hub look-alike on 127.0.0.1 for tests without internet.

It answers what huggingface_hub's snapshot_download asks: the repo info and file tree
(GET {endpoint}/api/models/{repo_id}/revision/{revision} and .../tree/{revision}), then HEAD
and GET on {endpoint}/{repo_id}/resolve/{revision}/{filename}, with the X-Repo-Commit, ETag and
Content-Length headers the client needs, and 404s carrying X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound exactly as the
Hub sends them. Point HF_ENDPOINT at `hub.url` before huggingface_hub is imported.

Faults on demand: `drop_head` closes the connection without answering any request for a
repo; `drop_body_once` sends half of a file's body once, then closes the connection.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class FakeHub:
    def __init__(self) -> None:
        self.refs: dict[str, dict[str, str]] = {}  # repo id -> {branch or tag: commit}
        self.commits: dict[str, dict[str, dict[str, bytes]]] = {}  # repo id -> {commit: {file: bytes}}
        self.drop_head: set[str] = set()
        self.drop_body_once: set[tuple[str, str]] = set()  # (repo id, filename)
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- repository content --------------------------------------------------------------
    def add_commit(self, repo_id: str, files: dict[str, bytes], *, refs: tuple[str, ...] = ("main",)) -> str:
        """Store a commit of `files` and point `refs` at it; returns its 40-hex commit hash."""
        digest = hashlib.sha1(repo_id.encode())
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + files[name])
        commit = digest.hexdigest()
        self.commits.setdefault(repo_id, {})[commit] = dict(files)
        for ref in refs:
            self.refs.setdefault(repo_id, {})[ref] = commit
        return commit

    def add_folder(self, repo_id: str, folder: Path, *, refs: tuple[str, ...] = ("main",)) -> str:
        files = {path.name: path.read_bytes() for path in Path(folder).iterdir() if path.is_file()}
        return self.add_commit(repo_id, files, refs=refs)

    # -- server --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start the FakeHub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                hub._answer(self, with_body=False)

            def do_GET(self) -> None:
                hub._answer(self, with_body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- request handling ----------------------------------------------------------------
    def _answer(self, request: BaseHTTPRequestHandler, *, with_body: bool) -> None:
        with self._lock:
            self.requests.append((request.command, request.path, request.headers.get("Range")))
        parts = urlsplit(request.path).path.lstrip("/").split("/")
        if parts[:2] == ["api", "models"]:
            return self._api(request, parts[2:])
        at = parts.index("resolve") if "resolve" in parts else -1
        if at < 1 or at + 2 >= len(parts):
            return _error(request, 404, None, "Not a resolve URL")
        repo_id = "/".join(parts[:at])
        revision = unquote(parts[at + 1])
        filename = unquote("/".join(parts[at + 2 :]))
        commit = self._commit(request, repo_id, revision)
        if commit is None:
            return
        commits = self.commits[repo_id]
        if filename not in commits[commit]:
            return _error(request, 404, "EntryNotFound", f"{filename} does not exist", commit=commit)

        data = commits[commit][filename]
        request.send_response(200)  # Range requests get the whole file; the client handles that
        request.send_header("X-Repo-Commit", commit)
        request.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        request.send_header("Content-Type", "application/octet-stream")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if not with_body:
            return
        key = (repo_id, filename)
        if key in self.drop_body_once:
            self.drop_body_once.discard(key)
            request.wfile.write(data[: len(data) // 2])
            request.wfile.flush()
            request.close_connection = True
            request.connection.shutdown(2)  # hang up mid-body: the client sees a truncated download
            return
        request.wfile.write(data)


    def _commit(self, request: BaseHTTPRequestHandler, repo_id: str, revision: str) -> str | None:
        """The commit `revision` names in `repo_id`; else the Hub's answer is sent (or the line hung up) and None."""
        if repo_id in self.drop_head:
            request.close_connection = True  # hang up without a status line
            return None
        if repo_id not in self.commits:
            # the real Hub answers 401 to anonymous requests for missing (or private) repos
            _error(request, 401, "RepoNotFound", "Repository not found")
            return None
        commits = self.commits[repo_id]
        commit = self.refs[repo_id].get(revision) or (revision if revision in commits else None)
        if commit is None:
            _error(request, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return commit

    def _api(self, request: BaseHTTPRequestHandler, parts: list[str]) -> None:
        """repo_info and list_repo_tree, what snapshot_download asks before it downloads:
        /api/models/{repo}[/revision/{rev}] and /api/models/{repo}/tree/{rev} (no paging, flat repos)."""
        kind = "tree" if "tree" in parts else "revision"
        at = parts.index(kind) if kind in parts else len(parts)
        repo_id = "/".join(parts[:at])
        revision = unquote(parts[at + 1]) if at + 1 < len(parts) else "main"
        commit = self._commit(request, repo_id, revision)
        if commit is None:
            return
        files = self.commits[repo_id][commit]
        if kind == "tree":
            payload = [
                {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                for name, data in sorted(files.items())
            ]
        else:
            payload = {"id": repo_id, "modelId": repo_id, "sha": commit, "siblings": [{"rfilename": name} for name in sorted(files)]}
        body = json.dumps(payload).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)


def _error(request: BaseHTTPRequestHandler, status: int, code: str | None, message: str, commit: str | None = None) -> None:
    body = b"" if request.command == "HEAD" else f'{{"error": "{message}"}}'.encode()
    request.send_response(status)
    if code is not None:
        request.send_header("X-Error-Code", code)
    request.send_header("X-Error-Message", message)
    if commit is not None:
        request.send_header("X-Repo-Commit", commit)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    if body:
        request.wfile.write(body)
