"""Model cards: the README.md a Hub repo shows, built with huggingface_hub's ModelCard.

The card's metadata (ModelCardData) carries the licence, dataset, tags and the metrics as
model-index eval results; its text says what the model is, its architecture, parameter
counts, training recipe, metrics, usage, intended use and limitations. A generator's card
shows a grid of its samples (samples.png, written beside it by `write_samples`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from ganlab.checkpoints import load_checkpoint, model_config, read_training_info, recorded_dataset
from ganlab.config import GeneratorConfig
from ganlab.datasets import DATASETS, DEFAULT_DATASET, MNIST, Dataset
from ganlab.errors import GanlabError
from ganlab.models import architecture_lines, count_parameters

LICENSE = "mit"
DATASET = MNIST.hub_dataset  # the Hub's MNIST (formerly "mnist"); each dataset names its own (ganlab.datasets)
SAMPLES_NAME = "samples.png"

_ROLES = {
    "teacher": (
        "DCGAN teacher generator",
        "The original DCGAN generator trained adversarially on MNIST; the student is distilled from it.",
    ),
    "student": (
        "distilled student generator",
        "A smaller DCGAN generator trained with (1 - alpha) * adversarial + alpha * feature distillation "
        "from the teacher (the distance between teacher and student feature maps on the same noise; its recipe below).",
    ),
    "baseline": (
        "student baseline (no distillation)",
        "The student architecture trained adversarially only (alpha = 0): the control for distillation.",
    ),
    "classifier": (
        "MNIST evaluation classifier",
        "A small CNN trained on real MNIST digits only; its hidden layer is the feature space for FID, "
        "KID and precision/recall of generated digits, and its softmax scores recognisability.",
    ),
}


def _generator_stages(config: GeneratorConfig) -> str:
    """'z (100) -> 7x7x256 -> ...' for a generator config, mirroring models.Generator."""
    stages = [f"z ({config.latent_dim})", *architecture_lines(config)]
    return "\n".join(f"{number}. {stage}" for number, stage in enumerate(stages, 1))


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) rows of nested dicts; {"mean", "std"} pairs become 'mean ± std'."""
    numbers = isinstance(data, dict) and all(isinstance(data.get(key), (int, float)) and not isinstance(data.get(key), bool) for key in ("mean", "std"))
    if numbers and set(data) == {"mean", "std"}:  # any other value is listed as it is, never formatted as a number
        return [(prefix, f"{data['mean']:.6g} ± {data['std']:.2g}")]
    if isinstance(data, dict):
        rows: list[tuple[str, Any]] = []
        for key in data:
            rows += _flatten(data[key], f"{prefix}.{key}" if prefix else str(key))
        return rows
    return [(prefix, data)]


def _table(data: dict[str, Any], header: tuple[str, str]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, (list, tuple)):
            value = ", ".join(str(item) for item in value) or "-"
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    lines += [f"| `{key}` | {cell(value)} |" for key, value in _flatten(data)]
    return "\n".join(lines)


def _dataset_of(training: dict[str, Any]) -> Dataset:
    """The dataset a checkpoint learned (an unknown name reads as MNIST's entry, the card's default)."""
    return DATASETS.get(recorded_dataset(training), DATASETS[DEFAULT_DATASET])


def _architecture_and_usage(config: Any, repo: str) -> tuple[str, str]:
    """The card's architecture line(s) and its "How to use" code for this kind of model."""
    if config.kind != "generator":
        usage = f'```python\nfrom ganlab.hub import from_pretrained\n\nmodel = from_pretrained("{repo}", expect="{config.kind}")  # eval mode, strict load\n```'
        return f"A {config.kind}; layer by layer:", usage
    usage = (
        "```python\n"
        "from ganlab.hub import load_generator\n"
        "from ganlab.sampling import generate, noise, to_uint8\n\n"
        f'generator = load_generator("{repo}")  # strict safetensors load, no pickle\n'
        "images = to_uint8(generate(generator, noise(16, seed=0, latent_dim=generator.latent_dim)))\n"
        "# images: (16, 28, 28) uint8 digits\n"
        "```\n\n"
        "Without PyTorch, `model.onnx` runs in onnxruntime (input `z`, output `image` in [-1, 1]):\n\n"
        "```python\n"
        "import numpy as np, onnxruntime as ort\n\n"
        'session = ort.InferenceSession("model.onnx")\n'
        f"z = np.random.default_rng(0).standard_normal((16, {config.latent_dim})).astype(np.float32)\n"
        'images = session.run(["image"], {"z": z})[0]  # (16, 1, 28, 28)\n'
        "```"
    )
    return _generator_stages(config), usage


def _intended_use(is_classifier: bool, data: Dataset) -> tuple[str, list[str]]:
    """(intended use, limitations) of a classifier or a generator trained on `data`."""
    title, items = data.title, f"{data.item}s"
    if is_classifier:
        return (
            f"Scoring generated 28x28 {title}-style {items} in ganlab (FID/KID/precision/recall in its feature "
            "space, class histograms, recognisable rate) and comparing generators with each other.",
            [
                f"Its feature space is {title}-specific: scores are comparable between ganlab runs, not with "
                "Inception-based FID numbers published elsewhere.",
                f"Trained on real {title} only; it may be over-confident on blurry or out-of-distribution images.",
                f"Not a general-purpose {data.item} recogniser for photographs or {'handwriting' if data.item == 'digit' else 'pictures'} in the wild.",
            ],
        )
    return (
        f"Teaching and research on GAN knowledge distillation: sampling {items}, comparing a teacher "
        "with its distilled student, and as a small, fast baseline for compression experiments.",
        [
            f"Generates 28x28 grey-scale {title}-like {items} only, unconditionally (the {data.item} class cannot be chosen).",
            f"GAN samples can show mode collapse or malformed {items}; check the metrics before relying on it.",
            "Not for generating data used to train or evaluate systems that matter (e.g. handwriting "
            f"recognition in production): samples inherit {title}'s biases and artefacts.",
        ],
    )


def model_card(
    kind: str, checkpoint_dir: str | os.PathLike, metrics: dict | None = None, *, repo_id: str | None = None
) -> str:
    """The README.md model card of a checkpoint: Hub metadata, architecture, parameter counts,
    training recipe (training.json), metrics, usage, intended use and limitations.

    kind is the model's role: 'teacher', 'student', 'baseline' or 'classifier'.
    """
    if kind not in _ROLES:
        raise GanlabError(f"model card kind must be one of {', '.join(_ROLES)}, got {kind!r}")
    from huggingface_hub import ModelCard, ModelCardData

    checkpoint_dir = Path(checkpoint_dir)
    model = load_checkpoint(checkpoint_dir)
    config = model_config(model)
    counts = count_parameters(model)
    training = read_training_info(checkpoint_dir)
    data = _dataset_of(training)
    title, summary = (part.replace("MNIST", data.title).replace("digits", f"{data.item}s") for part in _ROLES[kind])
    is_classifier = config.kind == "classifier"
    pipeline_tag = "image-classification" if is_classifier else "unconditional-image-generation"
    architecture, usage = _architecture_and_usage(config, repo_id or "USER/REPO")
    if not metrics and is_classifier and "test_accuracy" in training:
        # a classifier is measured where it is trained: its held-out accuracy is its metric
        metrics = {f"{data.title} test accuracy ({training.get('test_images', 10000):,} images)": training["test_accuracy"]}
    metadata = ModelCardData(
        model_name=f"ganlab {title}",
        library_name="pytorch",  # plain PyTorch modules with safetensors weights; no Hub integration library
        license=LICENSE,
        datasets=[data.hub_dataset],
        pipeline_tag=pipeline_tag,
        tags=["ganlab", data.name, "safetensors"] + (["image-classification"] if is_classifier else ["gan", "dcgan", "knowledge-distillation"]),
        eval_results=_eval_results(metrics or {}, pipeline_tag, data) or None,
    )
    intended, limitations = _intended_use(is_classifier, data)
    parameter_rows = {"trainable parameters": f"{counts['trainable']:,}", "Keras-style total (adds BatchNorm moving mean/variance)": f"{counts['keras']:,}"}
    files = "Files: `model.safetensors` (weights), `config.json` (architecture), `training.json` (recipe)" + (
        ", `model.onnx` (the same generator for onnxruntime, checked against PyTorch within 1e-4). " if config.kind == "generator" else ". "
    ) + "Loading is strict: a missing, unexpected or mis-shaped tensor is an error."
    sections = [
        "---", metadata.to_yaml(), "---", "", f"# ganlab {title}", "", summary,
        f"Part of **ganlab**: distilling a DCGAN teacher into a smaller student on {data.title}, shipped as a Gradio app.", "",
        *([f"![64 samples from seed 0]({SAMPLES_NAME})", ""] if config.kind == "generator" else []),
        "## Architecture", "", architecture, "", "```text", repr(model), "```", "",
        "Config (`config.json`, also stored in the safetensors header):", "",
        "```json", json.dumps(config.to_dict(), indent=2, sort_keys=True), "```", "",
        "## Parameters", "", _table(parameter_rows, ("count", "value")), "",
        "## Training recipe", "",
        _table(training, ("setting", "value")) if training else "No training.json was saved with this checkpoint, so the recipe is not recorded.", "",
        "## Metrics", "",
        _table(metrics, ("metric", "value")) if metrics else "No evaluation metrics were recorded for this checkpoint (see `checkpoints/metrics.json` in ganlab).", "",
        "## How to use", "", usage, "", files, "",
        "## Intended use", "", intended, "",
        "## Limitations", "", *[f"- {line}" for line in limitations], "",
    ]  # fmt: skip
    return str(ModelCard("\n".join(sections)))


def _eval_results(metrics: dict[str, Any], task_type: str, data: Dataset = MNIST) -> list:
    """The card's metrics as the Hub's model-index entries (numbers only; 'mean ± std' reports its mean).

    Left out: the evaluation's setup ("evaluation.") and what a run measured while it trained
    ("training.": losses, steps), which the card lists but which are no evaluation results.
    """
    from huggingface_hub import EvalResult

    results = []
    for key, value in _flatten(metrics):
        if isinstance(value, str) and " ± " in value:
            value = float(value.split(" ± ")[0])
        if key.startswith(("evaluation.", "training.")) or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        results.append(EvalResult(task_type=task_type, dataset_type=data.hub_dataset, dataset_name=data.title, metric_type=key,
                                  metric_value=value, metric_name=key))  # fmt: skip
    return results


def write_samples(model: nn.Module, directory: str | os.PathLike) -> Path:
    """samples.png beside the card: 64 samples of a generator from seed 0, 8 x 8, scaled 2x."""
    from ganlab.sampling import generate, grid, noise, save_png, to_uint8

    path = Path(directory) / SAMPLES_NAME
    images = to_uint8(generate(model, noise(64, 0, model.latent_dim)))
    save_png(grid(images, columns=8, scale=2), path)
    return path
