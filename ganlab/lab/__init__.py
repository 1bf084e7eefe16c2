"""The app's logic behind one facade, `Lab`, whose methods mirror the UI's inputs.

    facade.py   Lab: names the actions and delegates each
    settings.py GANLAB_* settings and the defaults of a UI run
    sources.py  which teacher and student Compare shows (folder, Hub repo, bundled, untrained)
    runs.py     a UI run, the one training slot and its watchdog (the only threads)
    views.py    what one poll shows: view dataclasses, markdown and plotly rendering
    publish.py  pushing a run's student to the Hub: whose run, whether it has ended, what its card reports
    files.py    this process's own folder: run folders kept while reachable, PNGs, GIFs, zips and ONNX files written once per content
    serving.py  the bounds on what one request can make the process hold (body size, cache, sessions, queue)
"""

from ganlab.config import FAST, ORIGINAL, RECIPES
from ganlab.lab.facade import Lab
from ganlab.lab.runs import SLOT, Run, TrainingSlot
from ganlab.lab.settings import DEFAULT_SAMPLES, DIGIT_CHOICES, RUN_DEFAULTS, LabSettings, RunDefaults
from ganlab.lab.sources import STUDENT_CHOICES, LoadedModel, load_model
from ganlab.lab.views import CompareView, RunView, WalkView, loss_figure, metrics_markdown

__all__ = [
    "DEFAULT_SAMPLES", "DIGIT_CHOICES", "FAST", "ORIGINAL", "RECIPES", "RUN_DEFAULTS", "SLOT", "STUDENT_CHOICES", "CompareView",
    "Lab", "LabSettings", "LoadedModel", "Run", "RunDefaults", "RunView", "TrainingSlot", "WalkView",
    "load_model", "loss_figure", "metrics_markdown",
]  # fmt: skip
