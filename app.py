"""ganlab's Gradio app: teacher vs student, live distillation, latent walk.

    python app.py                     # http://127.0.0.1:7860
    GANLAB_TEACHER=runs/teacher python app.py

Wiring only: the page's header and shared state, one builder per tab (ganlab/ui/: each tab's
layout, handlers and events together), and the page-load events. The logic is in
ganlab.lab.Lab, whose methods take exactly the tabs' inputs; caps come from GANLAB_* variables
(see ganlab.lab.settings.LabSettings).
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import torch  # noqa: E402

from ganlab.lab import Lab, serving  # noqa: E402
from ganlab.ui.about import about_tab  # noqa: E402
from ganlab.ui.common import CSS, DRAW, Page, one_line_refusals, owner_token  # noqa: E402
from ganlab.ui.compare import compare_tab  # noqa: E402
from ganlab.ui.dataset import dataset_picker, wire_dataset  # noqa: E402
from ganlab.ui.distill import distill_tab  # noqa: E402
from ganlab.ui.walk import walk_tab  # noqa: E402


def build_app(lab: Lab | None = None) -> gr.Blocks:
    lab = lab or Lab()
    with gr.Blocks(title="ganlab: distilling a DCGAN", delete_cache=serving.DELETE_CACHE) as demo:
        gr.Markdown("# ganlab — distil a DCGAN teacher into a smaller student")
        gr.Markdown(
            f"Two generators draw digits (or, on Fashion-MNIST, garments) from the same noise: a DCGAN **teacher** ({lab.teacher.parameters:,} values) and a "
            f"**student** {lab.student.parameters / lab.teacher.parameters:.2f}× its size, trained to copy it. **Compare** them below "
            "(same seed, same z), **Distill** a student of your own in two minutes and watch it learn, or **walk** between two seeds.",
            elem_id="intro",
        )
        notes = lab.model_notes()
        gr.Markdown(notes, visible=bool(notes), elem_id="model-notes")
        # who started a run: a random token kept in this browser (survives a reload), never shown;
        # outside the tabs, so that it is mounted (and saved) before the Distill tab is opened
        page = Page(lab, owner_token=gr.BrowserState(None, storage_key="ganlab-owner"), hub_choice=gr.State(None))
        picker = dataset_picker()
        compare = compare_tab(page)
        distill = distill_tab(page)
        walk = walk_tab(page)
        about = about_tab(page)
        wire_dataset(page, picker, class_menu=compare.inputs[3], redraws=[compare, walk, distill.drawing], about=about)

        # a page (re)load shows samples at once and re-attaches to a run in progress;
        # one after the other: a session has one draw in the queue at a time
        on_load = dict(api_visibility="undocumented", concurrency_limit=None, show_progress="hidden")
        demo.load(compare.guarded(), compare.inputs, compare.outputs, api_name="generate_on_load", api_visibility="undocumented", **DRAW).then(
            walk.guarded(), walk.inputs, walk.outputs, api_name="walk_on_load", api_visibility="undocumented", **DRAW
        )
        demo.load(owner_token, page.owner_token, page.owner_token, api_name="owner_token", api_visibility="private", concurrency_limit=None, show_progress="hidden").then(
            distill.attach, distill.drawing.inputs, distill.load_outputs, api_name="attach", **on_load
        )  # fmt: skip
    one_line_refusals(demo)
    return demo


def launch(demo: gr.Blocks, lab_dirs: list[str] | None = None, **kwargs):
    """Serve `demo` with the bounds of ganlab.lab.serving; `lab_dirs`: the Lab's own folder (runs_dir), the only one served."""
    # Numbers carry no `precision`, so every value reaches Lab's checks unrounded (precision=0 would
    # crash on NaN, inf or text before any handler runs). show_error: what Gradio itself refuses
    # (a missing input, a value outside a Radio's choices) reaches the client as its message
    # instead of {"error": null}; our handlers never raise (see `guarded`).
    kwargs.setdefault("show_error", True)
    # the PNGs are static: served as they are, never copied into (or rewritten in) Gradio's cache
    gr.set_static_paths([os.path.join(folder, "images") for folder in lab_dirs or []])
    kwargs.setdefault("state_session_capacity", serving.STATE_SESSION_CAPACITY)
    kwargs.setdefault("max_file_size", serving.MAX_FILE_SIZE)
    kwargs.setdefault("app_kwargs", serving.app_kwargs())
    queue = demo.queue(default_concurrency_limit=1, max_size=serving.QUEUE_MAX_SIZE)
    serving.one_draw_per_session(demo._queue)  # Gradio's queue object: its push is where a join arrives
    return queue.launch(css=CSS, allowed_paths=lab_dirs or [], **kwargs)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    # this thread only builds the Lab and serves: one torch thread, so it never holds an OpenMP
    # team beside a run's (that makes libgomp throttle both: ganlab.lab.sampler)
    torch.set_num_threads(1)
    lab = Lab()  # a malformed GANLAB_* variable is one line and exit status 2 (run_main)
    launch(build_app(lab), [str(lab.runs_dir)], server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))


if __name__ == "__main__":
    from ganlab.cli import run_main

    run_main(main)
