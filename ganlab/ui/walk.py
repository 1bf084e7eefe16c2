"""The Latent walk tab: teacher and student along one path between two seeds' noise."""

from __future__ import annotations

import gradio as gr

from ganlab.lab import STUDENT_CHOICES
from ganlab.ui.common import DRAW, Drawing, Page, grid_image


def walk_tab(page: Page) -> Drawing:
    lab, png = page.lab, page.png
    with gr.Tab("Latent walk"):
        with gr.Row():
            seed_a = gr.Number(value=0, label="from seed")
            seed_b = gr.Number(value=1, label="to seed")
            frames = gr.Number(value=10, label=f"frames (2–{lab.settings.max_frames})")
            student = gr.Radio(list(STUDENT_CHOICES), value=STUDENT_CHOICES[0], label="student")
        with gr.Row():
            walk_button = gr.Button("Walk", variant="primary", elem_id="walk")
            gif_button = gr.Button("Download the walk (animated GIF)", elem_id="download-gif")
        with gr.Column(visible=False) as gif_box:  # under its button, in view
            gif = gr.File(label="walk: teacher left, student right", interactive=False, height=90, elem_id="walk-gif")
        # one strip a row, at full width: a frame shows at its 84 px, not squeezed beside the other strip
        _, teacher_strip = grid_image("teacher (the classifier's class under each frame)", "walk-teacher")
        _, student_strip = grid_image("student (same z)", "walk-student")
        info = gr.Markdown()

    @page.visiting
    def latent_walk(seed_a, seed_b, frames, student):
        view = lab.latent_walk(seed_a, seed_b, frames, student)
        return png(view.teacher_image), png(view.student_image), view.info

    @page.visiting
    def download_gif(seed_a, seed_b, frames, student):
        return gr.Column(visible=True), lab.latent_walk_gif(seed_a, seed_b, frames, student), gr.skip()

    inputs = [seed_a, seed_b, frames, student, page.hub_choice]
    outputs = [teacher_strip, student_strip, info]
    page.on(walk_button.click, latent_walk, inputs, outputs, api_name="latent_walk", **DRAW)
    for trigger in (student.input, seed_a.submit, seed_b.submit, frames.submit):
        page.on(trigger, latent_walk, inputs, outputs, api_name=False, trigger_mode="always_last", **DRAW)
    page.on(gif_button.click, download_gif, inputs, [gif_box, gif, info], api_name="download_gif", **DRAW)
    return Drawing(inputs, outputs, latent_walk)
