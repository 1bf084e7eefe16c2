"""ganlab's Gradio app: teacher vs student, live distillation, latent walk.

    python app.py                     # http://127.0.0.1:7860
    GANLAB_TEACHER=runs/teacher python app.py

Wiring only: the layout, then every event at the bottom with its api_name. The logic is in
ganlab.lab.Lab, whose methods take exactly these inputs; caps come from GANLAB_* variables
(see ganlab.lab.settings.LabSettings).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import re
import secrets

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from gradio.utils import get_space  # noqa: E402

from ganlab.config import DISTILL_LAYERS, FAST, RECIPES, recipe_by_label  # noqa: E402
from ganlab.errors import GanlabError  # noqa: E402
from ganlab.hub import push_token  # noqa: E402
from ganlab.lab import DEFAULT_SAMPLES, DIGIT_CHOICES, RUN_DEFAULTS, STUDENT_CHOICES, Lab, RunView, serving  # noqa: E402
from ganlab.lab.runs import MAX_ADVANCE  # noqa: E402
from ganlab.lab.settings import MAX_SAMPLE_EVERY, SMOOTHING  # noqa: E402

log = logging.getLogger("ganlab.app")

CSS = """
.pixelated img { image-rendering: pixelated; }
#run-progress progress { width: 100%; height: 14px; }
.caption p { margin: 0 0 2px 0; font-weight: 600; }
#run-phase p { margin: 0; }
#about table th { word-break: keep-all; overflow-wrap: normal; white-space: nowrap; }
#about table { display: block; overflow-x: auto; }
"""


def grid_image(caption: str, elem_id: str | None = None, *, visible: bool = True):
    """A digit grid with its caption above it, not over it: no label badge or toolbar covers the top row."""
    with gr.Column(min_width=200, visible=visible) as column:
        column.caption = gr.Markdown(caption, elem_classes="caption")  # kept, so a caption can follow a choice
        image = gr.Image(
            show_label=False, buttons=[], type="numpy", format="png", elem_classes="pixelated",
            interactive=False, elem_id=elem_id,
        )  # fmt: skip
    return column, image


def guarded(fn):
    """A handler whose last output is a status text: bad input becomes a warning there, never an error page."""

    @functools.wraps(fn)
    def handler(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GanlabError as error:
            message = str(error)
        except Exception as error:  # keep the page alive; the server log has the traceback
            log.exception("handler %s failed", fn.__name__)
            message = f"internal error ({type(error).__name__}: {error}); see the server log"
        gr.Warning(message)
        outputs = handler.outputs
        return tuple(gr.skip() for _ in range(outputs - 1)) + (f"⚠️ {message}",)

    handler.outputs = 1
    return handler


def one_line_refusals(demo: gr.Blocks) -> None:
    """A value outside a choice component's list is refused with one log line and a short message,
    not Gradio's traceback echoing the whole value (a client may send 60 KB of it)."""
    from ganlab.config import shown

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


def _progress_html(view: RunView) -> str:
    percent = round(100 * view.progress)
    return f'<div id="run-progress"><progress max="100" value="{percent}"></progress> {view.progress_text}</div>'


def build_app(lab: Lab | None = None) -> gr.Blocks:
    lab = lab or Lab()
    defaults = RUN_DEFAULTS

    png = lab.images.png  # every image is served as one PNG file per content (see ganlab.lab.files)

    with gr.Blocks(title="ganlab: distilling a DCGAN", delete_cache=serving.DELETE_CACHE) as demo:
        gr.Markdown("# ganlab — distil a DCGAN teacher into a smaller student (MNIST)")
        gr.Markdown(
            f"Two generators draw digits from the same noise: a DCGAN **teacher** ({lab.teacher.parameters:,} values) and a "
            f"**student** {lab.student.parameters / lab.teacher.parameters:.2f}× its size, trained to copy it. **Compare** them below "
            "(same seed, same z), **Distill** a student of your own in two minutes and watch it learn, or **walk** between two seeds.",
            elem_id="intro",
        )
        notes = lab.model_notes()
        gr.Markdown(notes, visible=bool(notes), elem_id="model-notes")
        # who started a run: a random token kept in this browser (survives a reload), never shown;
        # outside the tabs, so that it is mounted (and saved) before the Distill tab is opened
        owner_token = gr.BrowserState(None, storage_key="ganlab-owner")
        # the Hub models this visitor loaded, as {role: [repo, revision]} (see Lab.visitor); others keep the app's
        hub_choice = gr.State(None)

        with gr.Tab("Compare"):
            with gr.Row():
                seed = gr.Number(value=0, label="seed", elem_id="seed")
                n = gr.Number(value=DEFAULT_SAMPLES, label=f"samples per model (1–{lab.settings.max_samples})")
                student_choice = gr.Radio(list(STUDENT_CHOICES), value=STUDENT_CHOICES[0], label="student")
                digit_choice = gr.Dropdown(list(DIGIT_CHOICES), value=DIGIT_CHOICES[0], label="digit (any, or the z whose teacher image reads as it)", elem_id="digit")
            with gr.Row():
                generate_button = gr.Button("Generate", variant="primary", elem_id="generate")
                new_seed_button = gr.Button("New seed", elem_id="new-seed")
                zip_button = gr.Button("Download these samples (zip of PNGs)", elem_id="download-pngs")
            # the file appears right under its button, in view (it once landed ~1,250 px below it);
            # empty file panels stay hidden until there is a file
            with gr.Column(visible=False) as compare_zip_box:
                compare_zip = gr.File(label="samples: teacher/NNN.png and student/NNN.png", interactive=False, height=90, elem_id="compare-zip")
            with gr.Row():
                _, teacher_image = grid_image("teacher", "teacher-image")
                student_column, student_image = grid_image(STUDENT_CHOICES[0], "student-image")
            compare_info = gr.Markdown(elem_id="compare-info")
            with gr.Accordion("Load models from the Hugging Face Hub", open=False):
                with gr.Row():
                    hub_teacher = gr.Textbox(label="teacher repo id", placeholder="user/ganlab-teacher")
                    hub_teacher_revision = gr.Textbox(label="teacher revision", placeholder="main")
                    hub_student = gr.Textbox(label="student repo id", placeholder="user/ganlab-student")
                    hub_student_revision = gr.Textbox(label="student revision", placeholder="main")
                hub_button = gr.Button("Load from the Hub", elem_id="hub-load")
                hub_message = gr.Markdown(elem_id="hub-message")

        with gr.Tab("Distill from scratch"):
            with gr.Row():
                recipe = gr.Dropdown([chosen.label for chosen in RECIPES.values()], value=FAST.label, label="recipe (fills α, layers, learning rates, EMA)", scale=3, min_width=320, elem_id="recipe")
                steps = gr.Number(value=defaults.steps, label="steps", elem_id="steps")
                time_budget = gr.Number(value=defaults.time_budget_s, label=f"time budget (s, 0: up to the {lab.settings.run_cap_s:g} s cap)")
                batch_size = gr.Number(value=defaults.batch_size, label="batch size")
            with gr.Row():
                lr_generator = gr.Number(value=defaults.lr_generator, label="generator learning rate")
                lr_discriminator = gr.Number(value=defaults.lr_discriminator, label="discriminator learning rate")
                alpha = gr.Number(value=defaults.alpha, label="α, distillation weight (0–1; 0: no distillation)")
                layers = gr.CheckboxGroup(list(DISTILL_LAYERS), value=list(defaults.layers), label="distilled layers")
                ema_decay = gr.Number(value=defaults.ema_decay, label="EMA of the generator's weights (decay; 0: off)")
                run_seed = gr.Number(value=defaults.seed, label="seed")
                sample_every = gr.Number(value=defaults.sample_every, label=f"show samples every (steps, 1–{MAX_SAMPLE_EVERY})", elem_id="sample-every")
                baseline = gr.Checkbox(value=defaults.baseline, label="also train a no-distillation baseline (α 0)")
            with gr.Row():
                start_button = gr.Button("Start", variant="primary", elem_id="start")
                pause_button = gr.Button("Pause", elem_id="pause", interactive=False)
                resume_button = gr.Button("Resume", elem_id="resume", interactive=False)
                step_button = gr.Button("Step", elem_id="step", interactive=False)
                step_count = gr.Number(value=1, label=f"steps per Step (1–{MAX_ADVANCE})", elem_id="step-count", min_width=120)
                stop_button = gr.Button("Stop", variant="stop", elem_id="stop", interactive=False)
            phase = gr.Markdown("**Phase:** idle: no run yet", elem_id="run-phase")
            run_message = gr.Markdown(elem_id="run-message")
            # one training slot per process: on a Space, a visitor who wants it to themselves duplicates it
            gr.DuplicateButton("Duplicate this Space to train without waiting", visible=bool(os.environ.get("SPACE_ID")), elem_id="duplicate")
            progress = gr.HTML(elem_id="run-progress-box")
            with gr.Row():
                # no label badges: each figure carries its own title, which a badge would cover
                loss_plot = gr.Plot(label="losses", show_label=False, elem_id="loss-plot")
                quality_plot = gr.Plot(label="quality (512 samples scored by the bundled classifier)", show_label=False, elem_id="quality-plot", visible=lab.classifier is not None)
            smoothing = gr.Slider(0.0, 0.99, value=SMOOTHING, step=0.01, label="loss smoothing (EMA weight; 0: raw)", elem_id="smoothing")
            with gr.Row():
                _, run_student_image = grid_image("student (fixed noise)", "run-student-image")
                baseline_column, run_baseline_image = grid_image("baseline, α 0 (fixed noise)", "run-baseline-image", visible=False)
                _, run_teacher_image = grid_image("teacher (same noise)", "run-teacher-image")
                _, real_image = grid_image("real MNIST digits", "real-image")
            with gr.Accordion("Training history: how the samples evolved", open=True):
                # a share of the run so far rather than a snapshot number: the range never changes while the run grows
                with gr.Row():
                    with gr.Column():
                        history = gr.Slider(0, 100, value=100, step=1, label="how far into the run (%): drag left to scrub back from the latest samples to noise", elem_id="history")
                        history_caption = gr.Markdown(elem_id="history-caption")
                    _, history_image = grid_image("student at the chosen point", "history-image")
            with gr.Column(visible=False) as download_column:  # shown once the run's student is written
                download = gr.File(label="this run's student (safetensors)", interactive=False, height=90, elem_id="run-download")
            _push_panel(lab, owner_token)
            with gr.Accordion("raw status (JSON)", open=False):
                run_details = gr.JSON()
            timer = gr.Timer(1.0, active=False)

        with gr.Tab("Latent walk"):
            with gr.Row():
                seed_a = gr.Number(value=0, label="from seed")
                seed_b = gr.Number(value=1, label="to seed")
                frames = gr.Number(value=10, label=f"frames (2–{lab.settings.max_frames})")
                walk_student = gr.Radio(list(STUDENT_CHOICES), value=STUDENT_CHOICES[0], label="student")
            with gr.Row():
                walk_button = gr.Button("Walk", variant="primary", elem_id="walk")
                gif_button = gr.Button("Download the walk (animated GIF)", elem_id="download-gif")
            with gr.Column(visible=False) as walk_gif_box:  # under its button, in view
                walk_gif = gr.File(label="walk: teacher left, student right", interactive=False, height=90, elem_id="walk-gif")
            # one strip a row, at full width: a frame shows at its 84 px, not squeezed beside the other strip
            _, walk_teacher = grid_image("teacher (the classifier's digit under each frame)", "walk-teacher")
            _, walk_student_image = grid_image("student (same z)", "walk-student")
            walk_info = gr.Markdown()

        with gr.Tab("About"):
            gr.Markdown(lab.about(), elem_id="about")
            onnx_button = gr.Button("Export the teacher and student to ONNX", elem_id="export-onnx")
            with gr.Column(visible=False) as onnx_box:
                onnx_files = gr.File(label="ONNX files (z (batch, 100) -> image (batch, 1, 28, 28); see the README for onnxruntime)", file_count="multiple", interactive=False, height=140, elem_id="onnx-files")  # both files in view
            onnx_message = gr.Markdown(elem_id="onnx-message")

        # ---- handlers: thin adapters from Lab views to component values --------------------------
        def visiting(fn):
            """A handler whose last input is the visitor's Hub choice: `fn` runs with those models."""

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

        @guarded
        @visiting
        def generate(seed, n, student, digit=DIGIT_CHOICES[0]):
            view = lab.generate(seed, n, student, digit)
            return png(view.teacher_image), png(view.student_image), view.info

        @guarded
        @visiting
        def new_seed(n, student, digit=DIGIT_CHOICES[0]):
            value = lab.random_seed()
            view = lab.generate(value, n, student, digit)
            return value, png(view.teacher_image), png(view.student_image), view.info

        @guarded
        @visiting
        def download_pngs(seed, n, student, digit=DIGIT_CHOICES[0]):
            return gr.Column(visible=True), lab.compare_pngs(seed, n, student, digit), gr.skip()

        @guarded
        @visiting
        def export_onnx():
            paths = lab.onnx_files()
            return gr.Column(visible=True), paths, "Verified against PyTorch with onnxruntime (max difference ≤ 1e-4 on 256 samples)."

        def run_outputs(view: RunView, percent=100):
            controls = view.controls
            history_grid, history_text = lab.history(percent)
            return (
                gr.Timer(active=view.active),
                f"**Phase:** {view.phase}",
                _progress_html(view),
                view.figure,
                view.quality_figure,
                png(view.student_image),
                gr.Column(visible=view.baseline_image is not None),
                png(view.baseline_image),
                png(view.teacher_image),
                png(view.real_image),
                png(history_grid),
                history_text,
                gr.Column(visible=view.checkpoint is not None),
                view.checkpoint,
                gr.Button(interactive=controls["start"]),
                gr.Button(interactive=controls["pause"]),
                gr.Button(interactive=controls["resume"]),
                gr.Button(interactive=controls["step"]),
                gr.Button(interactive=controls["stop"]),
                view.details,
                view.message,
            )

        @guarded
        def start_run(steps, time_budget_s, batch_size, lr_generator, lr_discriminator, alpha, layers, seed, baseline, ema_decay, owner_token=None, sample_every=None, models=None, request: gr.Request = None):
            with lab.visitor(models):  # a visitor who loaded a Hub teacher distils from it
                return run_outputs(lab.start_run(steps, time_budget_s, batch_size, lr_generator, lr_discriminator, alpha, layers, seed, baseline, ema_decay, sample_every, owner=_visitor(owner_token, request)))

        @guarded
        def run_status(owner_token=None, smoothing=None, percent=100, request: gr.Request = None):
            return run_outputs(lab.run_status(viewer=_visitor(owner_token, request), smoothing=smoothing), percent)

        @guarded
        def stop_run(owner_token=None, smoothing=None, percent=100, request: gr.Request = None):
            return run_outputs(lab.stop_run(viewer=_visitor(owner_token, request), smoothing=smoothing), percent)

        @guarded
        def pause_run(owner_token=None, smoothing=None, percent=100, request: gr.Request = None):
            return run_outputs(lab.pause_run(viewer=_visitor(owner_token, request), smoothing=smoothing), percent)

        @guarded
        def resume_run(owner_token=None, smoothing=None, percent=100, request: gr.Request = None):
            return run_outputs(lab.resume_run(viewer=_visitor(owner_token, request), smoothing=smoothing), percent)

        @guarded
        def step_run(steps=1, owner_token=None, smoothing=None, percent=100, request: gr.Request = None):
            return run_outputs(lab.step_run(steps, viewer=_visitor(owner_token, request), smoothing=smoothing), percent)

        @guarded
        def show_history(percent=100):
            image, caption = lab.history(percent)
            return png(image), caption

        @guarded
        def load_hub(teacher_repo, teacher_revision, student_repo, student_revision, seed, n, student, digit=DIGIT_CHOICES[0], models=None):
            message, models = lab.load_hub(teacher_repo, teacher_revision, student_repo, student_revision, models=models)
            try:
                with lab.visitor(models):
                    view = lab.generate(seed, n, student, digit)
            except GanlabError as error:  # the load stands (the choice is kept); only the drawing was refused
                gr.Warning(str(error))
                return gr.skip(), gr.skip(), gr.skip(), models, f"✅ {message}; ⚠️ nothing drawn: {error}"
            return png(view.teacher_image), png(view.student_image), view.info, models, f"✅ {message}"

        def apply_recipe(label):
            chosen = recipe_by_label(label) or FAST
            return chosen.alpha, list(chosen.layers), chosen.lr_generator, chosen.lr_discriminator, chosen.ema_decay

        @guarded
        @visiting
        def latent_walk(seed_a, seed_b, frames, student):
            view = lab.latent_walk(seed_a, seed_b, frames, student)
            return png(view.teacher_image), png(view.student_image), view.info

        @guarded
        @visiting
        def download_gif(seed_a, seed_b, frames, student):
            return gr.Column(visible=True), lab.latent_walk_gif(seed_a, seed_b, frames, student), gr.skip()

        form = [steps, time_budget, batch_size, lr_generator, lr_discriminator, alpha, layers, run_seed, baseline, ema_decay, sample_every, recipe]

        def run_form():
            """The form as the shown run was started (after a reload, or for another visitor), else as it is."""
            settings = lab.current_run_settings()
            if settings is None:
                return tuple(gr.skip() for _ in form)
            names = ("steps", "time_budget_s", "batch_size", "lr_generator", "lr_discriminator", "alpha", "layers", "seed", "baseline", "ema_decay", "sample_every")
            chosen = next((r for r in RECIPES.values() if (r.alpha, list(r.layers), r.lr_generator, r.lr_discriminator, r.ema_decay)
                           == (settings["alpha"], settings["layers"], settings["lr_generator"], settings["lr_discriminator"], settings["ema_decay"])), None)  # fmt: skip
            return (*(settings[name] for name in names), chosen.label if chosen else gr.skip())

        generate.outputs, new_seed.outputs, latent_walk.outputs, load_hub.outputs = 3, 4, 3, 5
        download_pngs.outputs, download_gif.outputs, export_onnx.outputs = 3, 3, 3
        run_components = [
            timer, phase, progress, loss_plot, quality_plot, run_student_image, baseline_column, run_baseline_image, run_teacher_image,
            real_image, history_image, history_caption, download_column, download, start_button, pause_button, resume_button, step_button, stop_button, run_details, run_message,
        ]  # fmt: skip
        for handler in (start_run, run_status, stop_run, pause_run, resume_run, step_run):
            handler.outputs = len(run_components)
        show_history.outputs = 2

        # ---- events ------------------------------------------------------------------------------
        compare_outputs = [teacher_image, student_image, compare_info]
        # the events that draw share DRAW_CONCURRENCY places, and each session has one draw in the queue at most
        draw = {"concurrency_id": serving.DRAW_GROUP, "concurrency_limit": serving.DRAW_CONCURRENCY}
        # digit is the last input of each Compare event, so clients that send (seed, n, student) keep working
        generate_button.click(generate, [seed, n, student_choice, digit_choice, hub_choice], compare_outputs, api_name="generate", **draw)
        # the right column is titled by the model it shows ("last run's baseline", not "student")
        student_choice.change(lambda choice: choice, student_choice, student_column.caption, api_name=False, show_progress="hidden", queue=False)
        # Compare reacts: choosing a student or a digit redraws, and so does Enter in seed or samples
        # (always_last: a burst of changes draws once, with the last values)
        for trigger in (student_choice.input, digit_choice.input, seed.submit, n.submit):
            trigger(generate, [seed, n, student_choice, digit_choice, hub_choice], compare_outputs, api_name=False, trigger_mode="always_last", **draw)
        new_seed_button.click(new_seed, [n, student_choice, digit_choice, hub_choice], [seed, *compare_outputs], api_name="new_seed", **draw)
        zip_button.click(download_pngs, [seed, n, student_choice, digit_choice, hub_choice], [compare_zip_box, compare_zip, compare_info], api_name="download_pngs", **draw)
        hub_button.click(
            load_hub,
            [hub_teacher, hub_teacher_revision, hub_student, hub_student_revision, seed, n, student_choice, digit_choice, hub_choice],
            [*compare_outputs, hub_choice, hub_message],
            api_name="load_hub",
        )
        recipe.change(apply_recipe, recipe, [alpha, layers, lr_generator, lr_discriminator, ema_decay], api_name="apply_recipe", api_visibility="undocumented")
        run_inputs = [steps, time_budget, batch_size, lr_generator, lr_discriminator, alpha, layers, run_seed, baseline, ema_decay]
        # the run events never show Gradio's "processing" overlay: the phase line and the bar say what happens
        quiet = {"concurrency_limit": None, "show_progress": "hidden"}
        # trailing inputs (sample_every, the Hub choice) are optional, so clients of the earlier API keep working
        start_button.click(start_run, [*run_inputs, owner_token, sample_every, hub_choice], run_components, api_name="start_run", **quiet)
        timer.tick(run_status, [owner_token, smoothing, history], run_components, api_name="run_status", **quiet)
        stop_button.click(stop_run, [owner_token, smoothing, history], run_components, api_name="stop_run", **quiet)
        pause_button.click(pause_run, [owner_token, smoothing, history], run_components, api_name="pause_run", **quiet)
        resume_button.click(resume_run, [owner_token, smoothing, history], run_components, api_name="resume_run", **quiet)
        step_button.click(step_run, [step_count, owner_token, smoothing, history], run_components, api_name="step_run", **quiet)
        smoothing.release(run_status, [owner_token, smoothing, history], run_components, api_name=False, **quiet)
        history.change(show_history, history, [history_image, history_caption], api_name="history", **quiet)
        walk_button.click(latent_walk, [seed_a, seed_b, frames, walk_student, hub_choice], [walk_teacher, walk_student_image, walk_info], api_name="latent_walk", **draw)
        for trigger in (walk_student.input, seed_a.submit, seed_b.submit, frames.submit):
            trigger(latent_walk, [seed_a, seed_b, frames, walk_student, hub_choice], [walk_teacher, walk_student_image, walk_info], api_name=False, trigger_mode="always_last", **draw)
        gif_button.click(download_gif, [seed_a, seed_b, frames, walk_student, hub_choice], [walk_gif_box, walk_gif, walk_info], api_name="download_gif", **draw)
        onnx_button.click(export_onnx, hub_choice, [onnx_box, onnx_files, onnx_message], api_name="export_onnx", **draw)
        # a page (re)load shows samples at once and re-attaches to a run in progress
        # one after the other: a session has one draw in the queue at a time
        demo.load(generate, [seed, n, student_choice, digit_choice, hub_choice], compare_outputs, api_name="generate_on_load", api_visibility="undocumented", **draw).then(
            latent_walk, [seed_a, seed_b, frames, walk_student, hub_choice], [walk_teacher, walk_student_image, walk_info], api_name="walk_on_load", api_visibility="undocumented", **draw
        )
        demo.load(_owner_token, owner_token, owner_token, api_name="owner_token", api_visibility="private", concurrency_limit=None, show_progress="hidden").then(
            run_status, owner_token, run_components, api_name="attach", api_visibility="undocumented", concurrency_limit=None, show_progress="hidden"
        ).then(run_form, None, form, api_name="run_form", api_visibility="undocumented", concurrency_limit=None, show_progress="hidden")
    one_line_refusals(demo)
    return demo


OWNER_TOKEN = re.compile(r"[0-9a-f]{32}")


def _owner_token(token: str | None) -> str:
    """This browser's owner token: the one it keeps, or a new random one (page load, hidden from the API)."""
    return token if isinstance(token, str) and OWNER_TOKEN.fullmatch(token) else secrets.token_hex(16)


def _visitor(token: str | None, request: gr.Request | None) -> str:
    """Who is asking: the browser's owner token, else (an API client) its session.

    A gradio_client Client keeps one session for all its calls, so the client that started a run
    controls it; it may also pass its own 32-hex owner_token to control it from another client.
    """
    if isinstance(token, str) and OWNER_TOKEN.fullmatch(token):
        return "token:" + token
    session = getattr(request, "session_hash", None) or ""
    return "session:" + session if session else "api"


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


def _push_panel(lab: Lab, owner_token: gr.BrowserState) -> None:
    """The Distill tab's panel that pushes the visitor's finished run's student to the Hub: its layout and its event.

    On a Space the visitor signs in with gr.LoginButton (hf_oauth in README.md's front matter) and the
    push uses their OAuth token. Run locally there is no LoginButton: Gradio would mock OAuth with this
    machine's login, and refuse to start without one, so the push uses that login directly (push_token).
    """
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

    @guarded
    def push_run(repo_id, private, owner_token=None, oauth_token: gr.OAuthToken | None = None, request: gr.Request = None):
        token = push_token(None if oauth_token is None else oauth_token.token, on_space=on_space)
        pushed, text = lab.push_run(repo_id, private, token=token, viewer=_visitor(owner_token, request))
        return pushed, f"✅ {text}"

    push_run.outputs = 2
    button.click(push_run, [repo, private, owner_token], [repo, message], api_name="push_run")


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
    lab = Lab()  # a malformed GANLAB_* variable is one line and exit status 2 (run_main)
    launch(build_app(lab), [str(lab.runs_dir)], server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))


if __name__ == "__main__":
    from ganlab.cli import run_main

    run_main(main)
