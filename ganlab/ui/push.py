"""The Distill tab's panel that pushes the visitor's finished run's student to the Hub.

On a Space the visitor signs in with gr.LoginButton (hf_oauth in README.md's front matter) and the
push uses their OAuth token. Run locally there is no LoginButton: Gradio would mock OAuth with this
machine's login, and refuse to start without one, so the push uses that login directly (push_token).
"""

from __future__ import annotations

import os

import gradio as gr
from gradio.utils import get_space

from ganlab.hub import push_token
from ganlab.ui.common import Page, visitor_id

PUSH_HELP_SPACE = (
    "Sign in with your Hugging Face account, type a repo id in your namespace and press Push: the student "
    "of the run you started here goes there with its model card (this run's metrics and recipe, a sample grid). "
    "The Space asks you for permission to create and write your repos; it never pushes with a token of its own."
)
PUSH_HELP_LOCAL = (
    "Run locally, the push uses this machine's Hugging Face login: run `hf auth login` in a terminal "
    "(or start the app with `HF_TOKEN` set to a token with write access). The student of the run you started "
    "here goes to the repo with its model card (this run's metrics and recipe, a sample grid)."
)


def push_panel(page: Page) -> None:
    """The panel's layout and its event."""
    lab = page.lab
    on_space = get_space() is not None  # Gradio's own test (SYSTEM=spaces and SPACE_ID): real OAuth routes only then
    sign_in = on_space and bool(os.environ.get("OAUTH_CLIENT_ID"))  # set by the Space when hf_oauth is on; else no button, no crash
    with gr.Accordion("Push this run's student to the Hub", open=False):
        gr.Markdown(PUSH_HELP_SPACE if on_space else PUSH_HELP_LOCAL, elem_id="push-help")
        if sign_in:
            gr.LoginButton()
        with gr.Row():
            repo = gr.Textbox(label="Hub repo id", placeholder="your-name/ganlab-student", elem_id="push-repo")
            private = gr.Checkbox(value=True, label="private repo", elem_id="push-private")
        button = gr.Button("Push", elem_id="push")
        message = gr.Markdown(elem_id="push-message")

    def push_run(repo_id, private, owner_token=None, oauth_token: gr.OAuthToken | None = None, request: gr.Request = None):
        token = push_token(None if oauth_token is None else oauth_token.token, on_space=on_space)
        pushed, text = lab.push_run(repo_id, private, token=token, viewer=visitor_id(owner_token, request))
        return pushed, f"✅ {text}"

    page.on(button.click, push_run, [repo, private, page.owner_token], [repo, message], api_name="push_run")
