"""A Hugging Face Hub look-alike on 127.0.0.1 for tests without internet.

Downloads: it answers what huggingface_hub's snapshot_download asks: the repo info and file tree
(GET {endpoint}/api/models/{repo_id}/revision/{revision}, with each file's size when asked
`?blobs=true`, and .../tree/{revision}), then HEAD
and GET on {endpoint}/{repo_id}/resolve/{revision}/{filename}, with the X-Repo-Commit, ETag and
Content-Length headers the client needs, and 404s carrying X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound exactly as the
Hub sends them. Point HF_ENDPOINT at `hub.url` before huggingface_hub is imported.

Uploads: what HfApi.create_repo and upload_folder send (huggingface_hub 2.x): POST /api/repos/create
(409 with the repo's url when it exists), POST /api/validate-yaml (the card's metadata), POST
/api/models/{repo_id}/preupload/{revision} (every file is answered "regular", so no LFS or Xet
transfer follows) and POST /api/models/{repo_id}/commit/{revision} (NDJSON, files inline in base64).
A write needs `Authorization: Bearer <token>` of a user added with `add_user` (else 401, as the
Hub answers an invalid token) and reaches only that user's namespace (else 403). A private repo
is visible only to its owner; to anyone else it is missing (401 RepoNotFound), as on the Hub.

Faults on demand: `drop_head` closes the connection without answering any request for a
repo; `drop_body_once` sends half of a file's body once, then closes the connection; `unsized`
lists a repo's files without their sizes; `broken_listing` answers 500 when a repo's files are
listed with their sizes (as a listing too slow for the Hub's timeout ends for the client).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


class FakeHub:
    def __init__(self) -> None:
        self.refs: dict[str, dict[str, str]] = {}  # repo id -> {branch or tag: commit}
        self.commits: dict[str, dict[str, dict[str, bytes]]] = {}  # repo id -> {commit: {file: bytes}}
        self.drop_head: set[str] = set()
        self.drop_body_once: set[tuple[str, str]] = set()  # (repo id, filename)
        self.unsized: set[str] = set()  # repo ids whose listing gives no file sizes
        self.broken_listing: set[str] = set()  # repo ids whose listing with sizes fails (HTTP 500)
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.users: dict[str, str] = {}  # token -> user name (the only namespace that token may write)
        self.private: set[str] = set()  # repo ids created private
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

    def add_user(self, name: str, token: str) -> str:
        """A user whose token may create and write repos in the namespace `name`; returns the token."""
        self.users[token] = name
        return token

    def files(self, repo_id: str, ref: str = "main") -> dict[str, bytes]:
        """The files `ref` of `repo_id` holds now ({} for a repo that does not exist)."""
        commit = self.refs.get(repo_id, {}).get(ref)
        return dict(self.commits[repo_id][commit]) if commit else {}

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

            def do_POST(self) -> None:
                hub._post(self)

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
        if repo_id not in self.commits or not self._may_read(request, repo_id):
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
            blobs = [v.lower() for v in parse_qs(urlsplit(request.path).query).get("blobs", [])] == ["true"]  # files_metadata=True: sizes too
            if blobs and repo_id in self.broken_listing:
                return _error(request, 500, None, "Internal Error")
            blobs = blobs and repo_id not in self.unsized
            payload = {
                "id": repo_id, "modelId": repo_id, "sha": commit, "private": repo_id in self.private,
                "siblings": [{"rfilename": name, **({"size": len(data)} if blobs else {})} for name, data in sorted(files.items())],
            }  # fmt: skip
        _json(request, 200, payload)

    # -- uploads -------------------------------------------------------------------------
    def _user(self, request: BaseHTTPRequestHandler) -> str | None:
        """The user whose token the request carries, or None (no token, or one the Hub does not know)."""
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        return self.users.get(token.strip()) if scheme.lower() == "bearer" else None

    def _may_read(self, request: BaseHTTPRequestHandler, repo_id: str) -> bool:
        return repo_id not in self.private or self._user(request) == repo_id.split("/")[0]

    def _writer(self, request: BaseHTTPRequestHandler, namespace: str) -> str | None:
        """The user allowed to write `namespace`; else the Hub's 401 or 403 is sent and None returned."""
        user = self._user(request)
        if user is None:
            _error(request, 401, None, "Invalid credentials in Authorization header")
            return None
        if user != namespace:
            _error(request, 403, None, f'You don\'t have the rights to create a model under the namespace "{namespace}"')
            return None
        return user

    def _post(self, request: BaseHTTPRequestHandler) -> None:
        """create_repo, validate-yaml, preupload and commit: what HfApi.upload_folder sends."""
        body = _read_body(request)  # always read it, so the kept-alive connection stays in step
        with self._lock:
            self.requests.append((request.command, request.path, None))
        parts = [unquote(part) for part in urlsplit(request.path).path.strip("/").split("/")]
        if parts == ["api", "repos", "create"]:
            return self._create_repo(request, json.loads(body))
        if parts == ["api", "validate-yaml"]:
            return _json(request, 200, {"errors": [], "warnings": []})
        if len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] in ("preupload", "commit"):
            repo_id, revision = "/".join(parts[2:4]), parts[5]
            if self._writer(request, parts[2]) is None:
                return None
            if repo_id not in self.commits:
                return _error(request, 404, "RepoNotFound", "Repository not found")
            if parts[4] == "preupload":
                files = [{"path": item["path"], "uploadMode": "regular", "shouldIgnore": False} for item in json.loads(body)["files"]]
                return _json(request, 200, {"files": files})
            return self._commit_files(request, repo_id, revision, body)
        return _error(request, 404, None, f"no such endpoint: POST {request.path}")

    def _create_repo(self, request: BaseHTTPRequestHandler, payload: dict) -> None:
        user = self._user(request)
        namespace = payload.get("organization") or user or ""
        if self._writer(request, namespace) is None:
            return
        repo_id = f"{namespace}/{payload['name']}"
        url = f"{self.url}/{repo_id}"
        if repo_id in self.commits:
            return _json(request, 409, {"error": "You already created this model repo", "url": url})
        self.add_commit(repo_id, {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"})
        if payload.get("visibility") == "private":
            self.private.add(repo_id)
        _json(request, 200, {"url": url, "name": repo_id})

    def _commit_files(self, request: BaseHTTPRequestHandler, repo_id: str, revision: str, body: bytes) -> None:
        """One commit on `revision` from the NDJSON body: its parent's files, plus and minus the listed ones."""
        files = self.files(repo_id, revision)
        for line in body.splitlines():
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key != "header":
                return _error(request, 400, None, f"the fake Hub takes inline files only, got {key!r}")
        commit = self.add_commit(repo_id, files, refs=(revision,))
        _json(request, 200, {"success": True, "commitOid": commit, "commitUrl": f"{self.url}/{repo_id}/commit/{commit}"})


def _read_body(request: BaseHTTPRequestHandler) -> bytes:
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while size := int(request.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(request.rfile.read(size))
            request.rfile.readline()  # the CRLF after each chunk
        while request.rfile.readline().strip():  # trailers, up to the blank line
            pass
        return b"".join(chunks)
    return request.rfile.read(int(request.headers.get("Content-Length") or 0))


def _json(request: BaseHTTPRequestHandler, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    request.send_response(status)
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
