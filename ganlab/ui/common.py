"""What every tab of the app shares: the page's state, the handler guard, grids with captions.

Each tab module builds its layout, its handlers and its events together; `Page.on` wires an
event so that a handler's output count is always its outputs list's length (never typed by hand)
and a GanlabError (or any crash) becomes a warning in the tab's status line, never an error page.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
import torch

from ganlab.config import shown
from ganlab.errors import GanlabError
from ganlab.lab import Lab, RunView, serving

log = logging.getLogger("ganlab.app")

CSS = """
.pixelated img { image-rendering: pixelated; }
#run-progress progress { width: 100%; height: 14px; }
.caption p { margin: 0 0 2px 0; font-weight: 600; }
#run-phase p { margin: 0; }
#about table th { word-break: keep-all; overflow-wrap: normal; white-space: nowrap; }
#about table { display: block; overflow-x: auto; }
#compare-info table th, #compare-info table td { white-space: nowrap; }
/* a button that does nothing now looks it (Gradio's disabled buttons once looked live) */
button:disabled, button[disabled] { opacity: 0.4; cursor: not-allowed; filter: grayscale(0.7); }
/* a phone: digits on the first screen (the grids above Compare's controls), side by side, each
   half the width; a smaller title */
@media (max-width: 640px) {
  .pair { flex-wrap: nowrap !important; gap: 6px !important; }
  .pair > .column { min-width: 0 !important; flex: 1 1 0 !important; }
  #compare-tab .pair { order: -1; }
  h1 { font-size: 1.35rem !important; }
  #intro p { font-size: 0.85rem; }
}
"""

# the events that draw share DRAW_CONCURRENCY places, and each session has one draw in the queue at most
DRAW = {"concurrency_id": serving.DRAW_GROUP, "concurrency_limit": serving.DRAW_CONCURRENCY}
# the run events never show Gradio's "processing" overlay: the phase line and the bar say what happens
QUIET = {"concurrency_limit": None, "show_progress": "hidden"}
OWNER_TOKEN = re.compile(r"[0-9a-f]{32}")


def grid_image(caption: str, elem_id: str | None = None, *, visible: bool = True):
    """A digit grid with its caption above it, not over it: no label badge or toolbar covers the top row."""
    with gr.Column(min_width=200, visible=visible) as column:
        column.caption = gr.Markdown(caption, elem_classes="caption")  # kept, so a caption can follow a choice
        image = gr.Image(
            show_label=False, buttons=[], type="numpy", format="png", elem_classes="pixelated",
            interactive=False, elem_id=elem_id,
        )  # fmt: skip
    return column, image


def guarded(fn: Callable, outputs: int) -> Callable:
    """`fn` whose last output is a status text: bad input becomes a warning there, never an error page.

    It runs on one torch thread in the handler's own (Gradio's) thread: an op there on more threads
    would give that thread an OpenMP team for as long as it lives, beside a run's, and slow the run
    (ganlab.lab.sampler); the sampler runs the heavy work at the count the machine calls for."""

    @functools.wraps(fn)
    def handler(*args, **kwargs):
        threads = torch.get_num_threads()
        if threads != 1:
            torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        except GanlabError as error:
            message = str(error)
        except Exception as error:  # keep the page alive; the server log has the traceback
            log.exception("handler %s failed", fn.__name__)
            message = f"internal error ({type(error).__name__}: {error}); see the server log"
        finally:
            if threads != 1:
                torch.set_num_threads(threads)  # a team is made by an op, not by this: none is made here
        gr.Warning(message)
        return tuple(gr.skip() for _ in range(outputs - 1)) + (f"⚠️ {message}",)

    return handler


def owner_token(token: str | None) -> str:
    """This browser's owner token: the one it keeps, or a new random one (page load, hidden from the API)."""
    return token if isinstance(token, str) and OWNER_TOKEN.fullmatch(token) else secrets.token_hex(16)


def visitor_id(token: str | None, request: gr.Request | None) -> str:
    """Who is asking: the browser's owner token, else (an API client) its session.

    A gradio_client Client keeps one session for all its calls, so the client that started a run
    controls it; it may also pass its own 32-hex owner_token to control it from another client.
    """
    if isinstance(token, str) and OWNER_TOKEN.fullmatch(token):
        return "token:" + token
    session = getattr(request, "session_hash", None) or ""
    return "session:" + session if session else "api"


def progress_html(view: RunView) -> str:
    percent = round(100 * view.progress)
    return f'<div id="run-progress"><progress max="100" value="{percent}"></progress> {view.progress_text}</div>'


@dataclass
class Drawing:
    """A tab's drawing event, for the page's load to repeat: its inputs, its outputs and its handler."""

    inputs: list
    outputs: list
    handler: Callable

    def guarded(self) -> Callable:
        return guarded(self.handler, len(self.outputs))


@dataclass
class Page:
    """The app's page while it is built: the Lab, and the state every tab reads."""

    lab: Lab
    owner_token: gr.BrowserState  # who started a run: a random token kept in this browser, never shown
    hub_choice: gr.State  # the Hub models this visitor loaded, {role: [repo, revision]} (see Lab.visitor)

    def png(self, image):
        return self.lab.images.png(image)  # every image is served as one PNG file per content (ganlab.lab.files)

    def on(self, trigger: Callable, fn: Callable, inputs: Any, outputs: Sequence, **kwargs: Any) -> Any:
        """trigger(guarded fn, inputs, outputs, ...): the guard's output count is len(outputs)."""
        return trigger(guarded(fn, len(outputs)), inputs, list(outputs), **kwargs)

    def visiting(self, fn: Callable) -> Callable:
        """A handler whose last input is the visitor's Hub choice: `fn` runs with those models."""
        lab = self.lab

        def handler(*args):
            *inputs, models = args
            with lab.visitor(models):
                return fn(*inputs)

        handler.__name__ = fn.__name__
        # fn's own parameter names, then the Hub choice (a gr.State, never shown in the API): the
        # "Use via API" page and keyword calls name seed, n, ... instead of param_0, param_1, ...
        parameters = list(inspect.signature(fn).parameters.values())
        hub = inspect.Parameter("hub_models", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
        handler.__signature__ = inspect.Signature([*parameters, hub])
        return handler


def one_line_refusals(demo: gr.Blocks) -> None:
    """A value outside a choice component's list is refused with one log line and a short message,
    not Gradio's traceback echoing the whole value (a client may send 60 KB of it)."""
    for block in demo.blocks.values():
        if not isinstance(block, (gr.Radio, gr.Dropdown, gr.CheckboxGroup)):
            continue
        preprocess, label = block.preprocess, block.label or type(block).__name__

        def checked(payload, preprocess=preprocess, label=label):
            try:
                return preprocess(payload)
            except (gr.Error, TypeError):  # TypeError: a number where a list of choices belongs
                log.info("refused %s: %s is not one of its choices", label, shown(payload, 60))
                raise gr.Error(f"{label}: {shown(payload, 60)} is not one of the choices", print_exception=False) from None

        block.preprocess = checked
