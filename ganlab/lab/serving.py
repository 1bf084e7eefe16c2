"""How the app is served to many visitors: the bounds on what one request can make the process hold.

Each bound is declared here once and passed to Gradio by app.launch (docs/reliability.md lists them):
- `MAX_REQUEST_BYTES`: any HTTP request body larger than this is answered 413 before it is read
  (every input of the app is a number, a short text or a checkbox; a 20 MB "seed" never reaches
  Gradio's JSON parser or its per-session state).
- `MAX_FILE_SIZE`: Gradio's own upload limit (the app takes no files).
- `DELETE_CACHE`: Gradio deletes its cached outputs (run downloads) older than an hour, every 10 minutes.
- `STATE_SESSION_CAPACITY`: per-session state is kept for at most this many sessions (oldest out).
- `QUEUE_MAX_SIZE`: at most this many events wait in Gradio's queue; more are refused as "queue full".
- `DRAW_CONCURRENCY`: the events that draw (`DRAW_EVENTS`: Compare, the walk, their downloads,
  the ONNX export, a Hub load) run this many at a time, and a session has at most one of them in
  Gradio's queue (a second is refused at once, `one_draw_per_session`), so one visitor cannot
  fill the queue ahead of others.
- Uploads: the app takes no files, so Gradio's upload route answers 403 (`NoUploads`).
"""

from __future__ import annotations

from typing import Any

MAX_REQUEST_BYTES = 64 * 1024
MAX_FILE_SIZE = "1mb"
DELETE_CACHE = (600, 3600)  # (every s, older than s)
STATE_SESSION_CAPACITY = 1000
QUEUE_MAX_SIZE = 100
# the events that draw with a generator (their cost grows with n, frames or a digit search); the
# run controls are cheap and poll once a second, so they are not bounded this way
DRAW_EVENTS = frozenset({"generate", "new_seed", "download_pngs", "latent_walk", "download_gif", "export_onnx", "load_hub"})
DRAW_CONCURRENCY = 2
DRAW_GROUP = "draw"  # their Gradio concurrency_id
BUSY_MESSAGE = "your last request is still being drawn: wait for it to finish, then ask again"


class BodyLimit:
    """ASGI middleware: refuse a request whose body exceeds `max_bytes` with 413, reading at most that much."""

    def __init__(self, app: Any, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        received, started, too_large = 0, False, False

        async def counted_receive() -> dict:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # a chunked body that says no length
                    too_large = True
                    raise RequestTooLarge
            return message

        async def checked_send(message: dict) -> None:
            nonlocal started
            if too_large:  # the app caught RequestTooLarge (FastAPI answers 400 for a body it cannot read): say 413
                if not started:
                    started = True
                    await self._refuse(send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, checked_send)
        except RequestTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = f"request body over {self.max_bytes} bytes: this app's inputs are numbers and short texts".encode()
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class RequestTooLarge(Exception):
    """A body grew past BodyLimit's bound while it was read."""


class NoUploads:
    """ASGI middleware: Gradio's upload route answers 403 (no component of this app takes files,
    and uploads would otherwise be kept on disk for anyone who posts them)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method") == "POST" and scope.get("path", "").rstrip("/").endswith("/upload"):
            body = b"this app takes no files"
            await send({"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def one_draw_per_session(queue: Any) -> None:
    """Refuse a session's draw event (DRAW_EVENTS) while another of its draws waits or runs in `queue`.

    Gradio bounds its queue as a whole, not per visitor: eight searches queued by one session
    made another's one-digit Generate wait 40 s. This wraps the queue's `push` (Gradio's own
    record of each session's pending events is what it reads); a refusal is Gradio's "error"
    answer to the join, which the page shows as a message.
    """
    push = queue.push

    def is_draw(fn: Any) -> bool:
        # by name, and by the shared concurrency group: the redraw-on-change triggers have no API
        # name, but a client can still join them by index
        return getattr(fn, "api_name", None) in DRAW_EVENTS or getattr(fn, "concurrency_id", None) == DRAW_GROUP

    async def fair_push(body: Any, request: Any, username: Any):
        session = getattr(body, "session_hash", None)
        if session and body.fn_index is not None:
            fns = queue.blocks.fns
            if is_draw(fns.get(body.fn_index)):
                pending = queue.pending_event_ids_session.get(session, ())
                events = [queue.event_ids_to_events.get(event_id) for event_id in list(pending)]
                if any(event is not None and is_draw(event.fn) for event in events):
                    return False, BUSY_MESSAGE, "error"
        return await push(body, request, username)

    queue.push = fair_push


def app_kwargs() -> dict[str, Any]:
    """FastAPI arguments for Gradio's launch(app_kwargs=...): the request-size limit, no uploads."""
    from starlette.middleware import Middleware

    return {"middleware": [Middleware(BodyLimit, max_bytes=MAX_REQUEST_BYTES), Middleware(NoUploads)]}
