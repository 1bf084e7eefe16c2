"""The Compare tab: teacher and student from the same seed, a digit on request, Hub models."""

from __future__ import annotations

import gradio as gr

from ganlab.errors import GanlabError
from ganlab.lab import DEFAULT_SAMPLES, DIGIT_CHOICES, STUDENT_CHOICES
from ganlab.ui.common import DRAW, Drawing, Page, grid_image, guarded


def compare_tab(page: Page) -> Drawing:
    lab, png = page.lab, page.png
    with gr.Tab("Compare", elem_id="compare-tab"):
        with gr.Row():
            seed = gr.Number(value=0, label="seed", elem_id="seed")
            n = gr.Number(value=DEFAULT_SAMPLES, label=f"samples per model (1–{lab.settings.max_samples})")
            student = gr.Radio(list(STUDENT_CHOICES), value=STUDENT_CHOICES[0], label="student")
            digit = gr.Dropdown(list(DIGIT_CHOICES), value=DIGIT_CHOICES[0], label="digit (any, or the z whose teacher image reads as it)", elem_id="digit")
        with gr.Row():
            generate_button = gr.Button("Generate", variant="primary", elem_id="generate")
            new_seed_button = gr.Button("New seed", elem_id="new-seed")
            zip_button = gr.Button("Download these samples (zip of PNGs)", elem_id="download-pngs")
        # the file appears right under its button, in view (it once landed ~1,250 px below it);
        # empty file panels stay hidden until there is a file
        with gr.Column(visible=False) as zip_box:
            samples_zip = gr.File(label="samples: teacher/NNN.png and student/NNN.png", interactive=False, height=90, elem_id="compare-zip")
        with gr.Row(elem_classes="pair"):
            _, teacher_image = grid_image("teacher", "teacher-image")
            student_column, student_image = grid_image(STUDENT_CHOICES[0], "student-image")
        info = gr.Markdown(elem_id="compare-info")
        with gr.Accordion("Load models from the Hugging Face Hub", open=False):
            with gr.Row():
                hub_teacher = gr.Textbox(label="teacher repo id", placeholder="user/ganlab-teacher")
                hub_teacher_revision = gr.Textbox(label="teacher revision", placeholder="main")
                hub_student = gr.Textbox(label="student repo id", placeholder="user/ganlab-student")
                hub_student_revision = gr.Textbox(label="student revision", placeholder="main")
            hub_button = gr.Button("Load from the Hub", elem_id="hub-load")
            hub_message = gr.Markdown(elem_id="hub-message")

    @page.visiting
    def generate(seed, n, student, digit=DIGIT_CHOICES[0]):
        view = lab.generate(seed, n, student, digit)
        return png(view.teacher_image), png(view.student_image), view.info

    @page.visiting
    def new_seed(n, student, digit=DIGIT_CHOICES[0]):
        value = lab.random_seed()
        view = lab.generate(value, n, student, digit)
        return value, png(view.teacher_image), png(view.student_image), view.info

    @page.visiting
    def download_pngs(seed, n, student, digit=DIGIT_CHOICES[0]):
        return gr.Column(visible=True), lab.compare_pngs(seed, n, student, digit), gr.skip()

    def load_hub(teacher_repo, teacher_revision, student_repo, student_revision, seed, n, student, digit=DIGIT_CHOICES[0], models=None):
        message, models = lab.load_hub(teacher_repo, teacher_revision, student_repo, student_revision, models=models)
        try:
            with lab.visitor(models):
                view = lab.generate(seed, n, student, digit)
        except GanlabError as error:  # the load stands (the choice is kept); only the drawing was refused
            gr.Warning(str(error))
            return gr.skip(), gr.skip(), gr.skip(), models, f"✅ {message}; ⚠️ nothing drawn: {error}"
        return png(view.teacher_image), png(view.student_image), view.info, models, f"✅ {message}"

    # digit is the last input of each event, so clients that send (seed, n, student) keep working
    inputs = [seed, n, student, digit, page.hub_choice]
    outputs = [teacher_image, student_image, info]
    page.on(generate_button.click, generate, inputs, outputs, api_name="generate", **DRAW)
    # the right column is titled by the model it shows ("last run's baseline", not "student")
    student.change(lambda choice: choice, student, student_column.caption, api_name=False, show_progress="hidden", queue=False)
    # Compare reacts: choosing a student or a digit redraws, and so does Enter in seed or samples
    # (always_last: a burst of changes draws once, with the last values)
    for trigger in (student.input, digit.input, seed.submit, n.submit):
        page.on(trigger, generate, inputs, outputs, api_name=False, trigger_mode="always_last", **DRAW)
    page.on(new_seed_button.click, new_seed, inputs[1:], [seed, *outputs], api_name="new_seed", **DRAW)
    # the zip holds what is on screen: the grids are drawn from the same inputs first (a number typed
    # without Enter once gave a zip of 16 under a grid of 64), then zipped
    zip_outputs = [zip_box, samples_zip, info]
    page.on(zip_button.click, generate, inputs, outputs, api_name=False, **DRAW).then(
        guarded(download_pngs, len(zip_outputs)), inputs, zip_outputs, api_name="download_pngs", **DRAW
    )
    hub_inputs = [hub_teacher, hub_teacher_revision, hub_student, hub_student_revision, *inputs]
    page.on(hub_button.click, load_hub, hub_inputs, [*outputs, page.hub_choice, hub_message], api_name="load_hub")
    return Drawing(inputs, outputs, generate)
