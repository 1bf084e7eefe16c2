"""The About tab: what the lab shows, both architectures, the metrics, and the ONNX export."""

from __future__ import annotations

import gradio as gr

from ganlab.ui.common import DRAW, Page


def about_tab(page: Page) -> gr.Markdown:
    """The tab; returns its text, which the dataset choice rewrites."""
    lab = page.lab
    with gr.Tab("About"):
        about = gr.Markdown(lab.about(), elem_id="about")
        onnx_button = gr.Button("Export the teacher and student to ONNX", elem_id="export-onnx")
        with gr.Column(visible=False) as onnx_box:
            onnx_files = gr.File(
                label="ONNX files (z (batch, 100) -> image (batch, 1, 28, 28); see the README for onnxruntime)",
                file_count="multiple", interactive=False, height=140, elem_id="onnx-files",
            )  # fmt: skip  (both files in view)
        onnx_message = gr.Markdown(elem_id="onnx-message")

    @page.visiting
    def export_onnx():
        paths = lab.onnx_files()
        return gr.Column(visible=True), paths, "Verified against PyTorch with onnxruntime (max difference ≤ 1e-4 on 256 samples)."

    page.on(onnx_button.click, export_onnx, page.hub_choice, [onnx_box, onnx_files, onnx_message], api_name="export_onnx", **DRAW)
    return about
