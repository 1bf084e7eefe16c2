"""The page's dataset choice: Compare, the walk, About and a new run all follow it, for this visitor only."""

from __future__ import annotations

import gradio as gr

from ganlab.datasets import DATASETS, DEFAULT_DATASET
from ganlab.lab.settings import class_choices
from ganlab.ui.common import DRAW, Page, guarded

TITLES = {dataset.title: name for name, dataset in DATASETS.items()}


def dataset_picker() -> gr.Radio:
    """The choice itself, above the tabs (one per page; a reload starts on MNIST)."""
    return gr.Radio(list(TITLES), value=DATASETS[DEFAULT_DATASET].title, label="dataset", elem_id="dataset",
                    info="each has its own teacher, student and evaluation classifier; a run trains on the chosen one")  # fmt: skip


def chosen(title: str | None, models: dict | None) -> dict:
    """The visitor's choice with `title`'s dataset; Hub picks are kept only while the dataset stays
    (a model loaded for one dataset is not the other's teacher)."""
    name = TITLES.get(title or "", DEFAULT_DATASET)
    if isinstance(models, dict) and models.get("dataset", DEFAULT_DATASET) == name:
        return {**models, "dataset": name}
    return {"dataset": name}


def wire_dataset(page: Page, picker: gr.Radio, *, class_menu: gr.Dropdown, redraws: list, about: gr.Markdown) -> None:
    """On a change: the visitor's choice, the class menu (digits or garments), then every view redrawn."""
    lab = page.lab

    def choose(title, models):
        models = chosen(title, models)
        dataset = DATASETS[models["dataset"]]
        menu = gr.Dropdown(list(class_choices(dataset.name)), value="any", label=f"{dataset.item} (any, or the z whose teacher image reads as it)")
        with lab.visitor(models):
            return models, menu, lab.about()

    # guarded: a failure is one warning (in the About text, the last output), never an error page
    event = picker.input(guarded(choose, 3), [picker, page.hub_choice], [page.hub_choice, class_menu, about], api_name=False, queue=False)
    for drawing in redraws:
        event = event.then(drawing.guarded(), drawing.inputs, drawing.outputs, api_name=False, **DRAW)
