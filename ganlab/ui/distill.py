"""The Distill tab: a run's form, its controls, its live curves and samples, its history and its files."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import gradio as gr

from ganlab.config import DISTILL_LAYERS, FAST, RECIPES, recipe_by_label
from ganlab.lab import RUN_DEFAULTS, RunView
from ganlab.lab.runs import MAX_ADVANCE
from ganlab.lab.settings import MAX_SAMPLE_EVERY, SMOOTHING
from ganlab.ui.common import QUIET, Drawing, Page, grid_image, progress_html, visitor_id
from ganlab.ui.push import push_panel

log = logging.getLogger("ganlab.ui")


@dataclass
class DistillTab:
    """What the page's load event needs, and the tab's redraw for the dataset choice."""

    load_outputs: list  # the run's view and the form
    attach: object  # the page load's answer to them (never leaves Start grey)
    drawing: Drawing  # run_status with its inputs, for the dataset choice to redraw the tab


def _form(lab):
    """The run's settings, in Start's order (Lab.start_run): what most visitors change up front (recipe,
    time budget, baseline), the rest under Advanced, each with a line that says what it does."""
    defaults = RUN_DEFAULTS
    with gr.Row():
        recipe = gr.Dropdown(
            [chosen.label for chosen in RECIPES.values()], value=FAST.label, label="recipe", scale=3, min_width=320, elem_id="recipe",
            info="fills α, the distilled layers, the learning rates and the EMA below (Advanced)",
        )  # fmt: skip
        time_budget = gr.Number(
            value=defaults.time_budget_s, label="time budget (s)", min_width=160,
            info=f"the run ends here, or at its step cap (Advanced), whichever comes first (0: up to the {lab.settings.run_cap_s:g} s cap)",
        )  # fmt: skip
        baseline = gr.Checkbox(
            value=defaults.baseline, label="also train a no-distillation baseline", scale=2, min_width=260,
            info="the same student with α 0 (no teacher), side by side: what distillation adds",
        )  # fmt: skip
    with gr.Accordion("Advanced", open=False, elem_id="advanced"):
        with gr.Row():
            steps = gr.Number(value=defaults.steps, label="steps", elem_id="steps", info="an upper bound: in two minutes a CPU runs about a thousand")
            batch_size = gr.Number(value=defaults.batch_size, label="batch size", info="images per step")
            seed = gr.Number(value=defaults.seed, label="seed", info="the same seed and settings train the same student")
            sample_every = gr.Number(value=defaults.sample_every, label="show samples every (steps)", elem_id="sample-every", info=f"1–{MAX_SAMPLE_EVERY}")
        with gr.Row():
            alpha = gr.Number(value=defaults.alpha, label="α, distillation weight", info="0–1: the share of the generator's loss spent copying the teacher (0: none)")
            layers = gr.CheckboxGroup(list(DISTILL_LAYERS), value=list(defaults.layers), label="distilled layers", info="the feature maps copied: 7×7, 14×14 and the output pixels")
            ema_decay = gr.Number(value=defaults.ema_decay, label="EMA decay", info="samples and saves a moving average of the generator's weights (0: off)")
        with gr.Row():
            lr_generator = gr.Number(value=defaults.lr_generator, label="generator learning rate", info="Adam; (0, 0.1]")
            lr_discriminator = gr.Number(value=defaults.lr_discriminator, label="discriminator learning rate", info="Adam; (0, 0.1]")
    fields = [steps, time_budget, batch_size, lr_generator, lr_discriminator, alpha, layers, seed, baseline, ema_decay, sample_every]
    return recipe, fields


def _controls():
    with gr.Row():
        buttons = {
            # enabled by the page's load once it knows this browser's owner token and the slot's state: a Start
            # pressed earlier would belong to a session a reload ends, and the load's answer would overwrite its view
            "start": gr.Button("Start", variant="primary", elem_id="start", interactive=False),
            "pause": gr.Button("Pause", elem_id="pause", interactive=False),
            "resume": gr.Button("Resume", elem_id="resume", interactive=False),
            "step": gr.Button("Step", elem_id="step", interactive=False),
        }
        step_count = gr.Number(value=1, label=f"steps per Step (1–{MAX_ADVANCE})", elem_id="step-count", min_width=120)
        buttons["stop"] = gr.Button("Stop", variant="stop", elem_id="stop", interactive=False)
    return buttons, step_count


def _run_panel(page: Page) -> tuple[dict, gr.Slider, gr.Slider]:
    """What a poll updates, by name (phase line, bar, curves, grids, history, files, raw status), and the
    two sliders that shape it (loss smoothing, how far back the history shows)."""
    lab = page.lab
    view = {"phase": gr.Markdown("**Phase:** idle: no run yet", elem_id="run-phase"), "message": gr.Markdown(elem_id="run-message")}
    # one training slot per process: on a Space, a visitor who wants it to themselves duplicates it
    gr.DuplicateButton("Duplicate this Space to train without waiting", visible=bool(os.environ.get("SPACE_ID")), elem_id="duplicate")
    view["progress"] = gr.HTML(elem_id="run-progress-box")
    with gr.Row():
        # no label badges: each figure carries its own title, which a badge would cover
        view["losses"] = gr.Plot(label="losses", show_label=False, elem_id="loss-plot")
        view["quality"] = gr.Plot(label="quality (512 samples scored by the bundled classifier)", show_label=False, elem_id="quality-plot", visible=lab.classifier is not None)
    smoothing = gr.Slider(0.0, 0.99, value=SMOOTHING, step=0.01, label="loss smoothing (EMA weight; 0: raw)", elem_id="smoothing")
    with gr.Row():
        _, view["student"] = grid_image("student (fixed noise)", "run-student-image")
        view["baseline_column"], view["baseline"] = grid_image("baseline, α 0 (fixed noise)", "run-baseline-image", visible=False)
        _, view["teacher"] = grid_image("teacher (same noise)", "run-teacher-image")
        _, view["real"] = grid_image("real training images (the run's dataset)", "real-image")
    with gr.Accordion("Training history: how the samples evolved", open=True):
        # a share of the run so far rather than a snapshot number: the range never changes while the run grows
        with gr.Row():
            with gr.Column():
                history = gr.Slider(0, 100, value=100, step=1, label="how far into the run (%): drag left to scrub back from the latest samples to noise", elem_id="history")
                view["history_caption"] = gr.Markdown(elem_id="history-caption")
            _, view["history"] = grid_image("student at the chosen point", "history-image")
    with gr.Column(visible=False) as view["download_column"]:  # shown once the run's student is written
        view["download"] = gr.File(label="this run's student (safetensors)", interactive=False, height=90, elem_id="run-download")
    push_panel(page)
    with gr.Accordion("raw status (JSON)", open=False):
        view["details"] = gr.JSON()
    view["timer"] = gr.Timer(1.0, active=False)
    return view, smoothing, history


def _form_filler(lab, form: list):
    """The handler that fills the form with the shown run's settings on the page's load.

    Only there: a second answer to the form's fields (tried: on opening the tab) puts a field's
    stored value back over what a fast visitor has just typed, even when it answers gr.skip()."""

    def run_form():
        """The form as the shown run was started (after a reload, or for another visitor), else as it is."""
        request = lab.distillation.current_request()
        if request is None:
            return tuple(gr.skip() for _ in form)
        values = request.to_dict()
        names = ("steps", "time_budget_s", "batch_size", "lr_generator", "lr_discriminator", "alpha", "layers", "seed", "baseline", "ema_decay", "sample_every")
        chosen = request.recipe()
        return (*(values[name] for name in names), chosen.label if chosen else gr.skip())

    return run_form


def _attaching(run_status, start: gr.Button, message: gr.Markdown, run_form, form: list):
    """The page load's answer, in one response: the run's view and the form as the run was started.
    It alone enables Start, so that Start cannot be pressed before the form is final (two answers
    raced a fast visitor's typing); if the view fails, Start is enabled anyway (a press then says
    what is wrong) rather than left grey until a reload."""

    def attach(owner_token=None, smoothing=None, percent=100, models=None, request: gr.Request = None):
        try:
            shown = run_status(owner_token, smoothing, percent, models, request)
        except Exception as error:  # GanlabError or not: the page must stay usable
            log.warning("attach failed: %s", error)
            shown = {start: gr.Button(interactive=True), message: f"⚠️ {error}"}
        return {**shown, **dict(zip(form, run_form()))}

    return attach


def distill_tab(page: Page) -> DistillTab:
    lab, png = page.lab, page.png
    with gr.Tab("Distill from scratch"):
        recipe, fields = _form(lab)
        buttons, step_count = _controls()
        view, smoothing, history = _run_panel(page)
    # the order API clients have always received; the status line last (the guard's warning goes there)
    order = ("timer", "phase", "progress", "losses", "quality", "student", "baseline_column", "baseline", "teacher", "real",
             "history", "history_caption", "download_column", "download", *(f"button_{name}" for name in buttons), "details", "message")  # fmt: skip
    view.update({f"button_{name}": button for name, button in buttons.items()})
    outputs = [view[name] for name in order]

    def run_outputs(shown: RunView, percent=100) -> dict:
        history_grid, history_text = lab.history(percent)
        values = {
            "timer": gr.Timer(active=shown.active), "phase": f"**Phase:** {shown.phase}", "progress": progress_html(shown),
            "losses": shown.figure, "quality": shown.quality_figure, "student": png(shown.student_image),
            "baseline_column": gr.Column(visible=shown.baseline_image is not None), "baseline": png(shown.baseline_image),
            "teacher": png(shown.teacher_image), "real": png(shown.real_image), "history": png(history_grid),
            "history_caption": history_text, "download_column": gr.Column(visible=shown.checkpoint is not None),
            "download": shown.checkpoint, "details": shown.details, "message": shown.message,
            **{f"button_{name}": gr.Button(interactive=shown.controls[name]) for name in buttons},
        }  # fmt: skip
        return {view[name]: value for name, value in values.items()}

    def start_run(steps, time_budget_s, batch_size, lr_generator, lr_discriminator, alpha, layers, seed, baseline, ema_decay,
                  owner_token=None, sample_every=None, models=None, request: gr.Request = None):  # fmt: skip
        with lab.visitor(models):  # a visitor who loaded a Hub teacher distils from it
            inputs = (steps, time_budget_s, batch_size, lr_generator, lr_discriminator, alpha, layers, seed, baseline, ema_decay, sample_every)
            return run_outputs(lab.start_run(*inputs, owner=visitor_id(owner_token, request)))

    def run_status(owner_token=None, smoothing=None, percent=100, models=None, request: gr.Request = None):
        with lab.visitor(models):  # idle, the teacher column shows the visitor's dataset's teacher
            return run_outputs(lab.run_status(viewer=visitor_id(owner_token, request), smoothing=smoothing), percent)


    def stop_run(owner_token=None, smoothing=None, percent=100, request: gr.Request = None):
        return run_outputs(lab.stop_run(viewer=visitor_id(owner_token, request), smoothing=smoothing), percent)

    def pause_run(owner_token=None, smoothing=None, percent=100, request: gr.Request = None):
        return run_outputs(lab.pause_run(viewer=visitor_id(owner_token, request), smoothing=smoothing), percent)

    def resume_run(owner_token=None, smoothing=None, percent=100, request: gr.Request = None):
        return run_outputs(lab.resume_run(viewer=visitor_id(owner_token, request), smoothing=smoothing), percent)

    def step_run(steps=1, owner_token=None, smoothing=None, percent=100, request: gr.Request = None):
        return run_outputs(lab.step_run(steps, viewer=visitor_id(owner_token, request), smoothing=smoothing), percent)

    def show_history(percent=100):
        image, caption = lab.history(percent)
        return png(image), caption

    def apply_recipe(label):
        chosen = recipe_by_label(label) or FAST
        return chosen.alpha, list(chosen.layers), chosen.lr_generator, chosen.lr_discriminator, chosen.ema_decay

    form = [*fields, recipe]
    run_form = _form_filler(lab, form)

    lr_generator, lr_discriminator, alpha, layers, ema_decay = fields[3], fields[4], fields[5], fields[6], fields[9]
    recipe.change(apply_recipe, recipe, [alpha, layers, lr_generator, lr_discriminator, ema_decay], api_name="apply_recipe", api_visibility="undocumented")
    controls = [page.owner_token, smoothing, history]
    watch = [*controls, page.hub_choice]  # a poll also carries the visitor's dataset (the idle teacher column)
    # trailing inputs (sample_every, the Hub choice) are optional, so clients of the earlier API keep working
    page.on(buttons["start"].click, start_run, [*fields[:10], page.owner_token, fields[10], page.hub_choice], outputs, api_name="start_run", **QUIET)
    page.on(view["timer"].tick, run_status, watch, outputs, api_name="run_status", **QUIET)
    page.on(buttons["stop"].click, stop_run, controls, outputs, api_name="stop_run", **QUIET)
    page.on(buttons["pause"].click, pause_run, controls, outputs, api_name="pause_run", **QUIET)
    page.on(buttons["resume"].click, resume_run, controls, outputs, api_name="resume_run", **QUIET)
    page.on(buttons["step"].click, step_run, [step_count, *controls], outputs, api_name="step_run", **QUIET)
    page.on(smoothing.release, run_status, watch, outputs, api_name=False, **QUIET)
    page.on(history.change, show_history, history, [view["history"], view["history_caption"]], api_name="history", **QUIET)

    attach = _attaching(run_status, buttons["start"], view["message"], run_form, form)
    return DistillTab([*outputs, *form], attach, Drawing(watch, outputs, run_status))
