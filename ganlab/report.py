"""Markdown tables from the evaluation JSON files: one renderer per file, shared by the
scripts that write the JSON (to print) and scripts/results.py (to fill the README)."""

from __future__ import annotations

from typing import Any

from ganlab.tables import QUALITY_COLUMNS, mean_std, quality_table, table  # noqa: F401 (also importable from here)
# the studies' tables live in ganlab.report_studies; their names are importable from here too
from ganlab.report_studies import (  # noqa: F401
    ablation_table, distill_study_table, pair_progress_table, precision_table, recipe_study_table, sweep_table, teacher_progress_table,
    training_time,
)  # fmt: skip


def kid_note(floor: dict[str, Any] | None, title: str = "MNIST") -> str:
    """The one line that says what the KID column measures, with the real-vs-real floor of `title`'s images."""
    text = (
        "KID×10³: squared MMD (cubic kernel) between the classifier features of generated and real images, each "
        "feature standardised by the real reference's mean and std; 0 is the same distribution"
    )
    kid = (floor or {}).get("kid_standardized")
    return text + (f", and real {title} against itself reads {kid['mean'] * 1e3:.1f}." if kid else ".")


def metrics_table(metrics: dict[str, Any]) -> str:
    """The evaluate.py table: the real-vs-real floor first, then each model."""
    meta = metrics["meta"]
    rows = [(metrics["floor"]["label"], metrics["floor"]["summary"])]
    rows += [(name, metrics["models"][name]["summary"]) for name in meta.get("order", metrics["models"])]
    note = (
        f"n = {meta['n']} samples per seed, mean ± std over sampling seeds {meta['seeds']}; "
        f"reference: {meta['reference']}; features: {meta['classifier']}."
    )
    if any("kid_standardized" in summary for _, summary in rows):
        note += " " + kid_note(metrics["floor"]["summary"], _dataset(metrics).title)
    return quality_table(rows) + "\n\n" + note


def _trio(metrics: dict[str, Any]) -> list[str]:
    """The labels of the scored dataset's bundled teacher, student and baseline (else the first three models), table order."""
    folder = _dataset(metrics).models_dir
    bundled_trio = tuple(f"{folder}/{name}" for name in ("teacher", "student", "student-baseline"))
    order = metrics["meta"].get("order", list(metrics["models"]))
    bundled = [label for label in order if metrics["models"][label].get("path") in bundled_trio]
    return bundled or order[:3]


def summary_table(metrics: dict[str, Any], benchmark: dict[str, Any] | None = None) -> str:
    """README: the real floor, teacher, student and baseline in the columns a newcomer reads first."""
    columns = [("fid", "FID ↓", 1, 1.0), ("kid_standardized", "KID×10³ ↓", 1, 1e3), ("recognizable", "recognizable ↑", 3, 1.0), ("label_agreement", "label agreement ↑", 3, 1.0)]
    rows = [(metrics["floor"]["label"], "–", metrics["floor"]["summary"])]
    rows += [(label, f"{metrics['models'][label]['parameters']['keras']:,}", metrics["models"][label]["summary"]) for label in _trio(metrics)]
    columns = [column for column in columns if any(column[0] in summary for _, _, summary in rows)]
    body = [[label, parameters] + [mean_std(summary.get(key), decimals, scale) for key, _, decimals, scale in columns] for label, parameters, summary in rows]
    text = table(["model", "parameters"] + [title for _, title, _, _ in columns], body)
    meta = metrics["meta"]
    text += (
        f"\n\nMean ± std over sampling seeds {meta['seeds']}, {meta['n']:,} samples each, against {meta['reference']}, "
        f"in the feature space of a small {_dataset(metrics).title} classifier. Recognizable: share of samples the classifier labels with "
        f"confidence ≥ 0.9; label agreement: share of noise vectors for which student and teacher draw the same {_dataset(metrics).item}."
    )
    if any(key == "kid_standardized" for key, *_ in columns):
        text += " " + kid_note(metrics["floor"]["summary"], _dataset(metrics).title)
    return text


def ratio_lines(metrics: dict[str, Any]) -> str:
    """The distilled student's FID as a share of the teacher's and of its baseline's (empty without the three)."""
    labels = _trio(metrics)
    if len(labels) != 3:
        return ""
    teacher, student, baseline = (metrics["models"][label]["summary"] for label in labels)
    fid = lambda summary: summary["fid"]["mean"]  # noqa: E731
    line = (
        f"**Quality**: the distilled student's FID is {fid(student) / fid(teacher):.2f}× the teacher's and "
        f"{fid(student) / fid(baseline):.2f}× the no-distillation baseline's after the same steps"
    )
    if "label_agreement" in student:
        line += f"; it draws the teacher's {_dataset(metrics).item} for {student['label_agreement']['mean']:.0%} of noise vectors"
    return line + "."


def _dataset(metrics: dict[str, Any]):
    """The dataset a metrics file scored against (MNIST for files written before they said)."""
    from ganlab.datasets import DATASETS, MNIST

    return DATASETS.get(metrics.get("meta", {}).get("dataset", MNIST.name), MNIST)


def headline_figures(
    metrics: dict[str, Any], benchmark: dict[str, Any] | None = None, sweep: dict[str, Any] | None = None, study: dict[str, Any] | None = None,
    progress: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> str:
    """README: the few numbers that say what distillation bought, one bullet each."""
    lines = []
    quality = ratio_lines(metrics)
    if quality:
        lines.append(f"- {quality}")
    if progress:
        baseline_fid = {point["step"]: point["run"]["fid"] for point in progress[1]["points"]}
        pairs = [(point["step"], point["run"]["fid"] / baseline_fid[point["step"]]) for point in progress[0]["points"] if point["step"] in baseline_fid]
        if len(pairs) >= 2:
            every = max(1, len(pairs) // 4)
            picked = pairs[::every] + ([pairs[-1]] if (len(pairs) - 1) % every else [])
            shown = ", ".join(f"{ratio:.2f}× at step {step:,}" for step, ratio in picked)
            lines.append(f"- **Learning speed**: the distilled student's FID as a share of the baseline's at the same step: {shown} (one sampling seed each).")
    if benchmark and len(benchmark["meta"].get("order", [])) >= 2:
        first, second = benchmark["meta"]["order"][:2]
        models, inference = benchmark["models"], benchmark["inference"]
        line = (
            f"- **Size and speed**: the {second} has {models[second]['parameters']['keras'] / models[first]['parameters']['keras']:.2f}× "
            f"the {first}'s parameters and {models[second]['macs_per_image'] / models[first]['macs_per_image']:.2f}× its MACs per image"
        )
        if "1" in inference and "256" in inference:
            line += f", and runs {inference['256']['speedup']:.1f}× faster at batch 256 ({inference['1']['speedup']:.1f}× at batch 1) on CPU in fp32"
        lines.append(line + ".")
    best = (sweep or {}).get("smallest_within_1_5x_teacher_fid")
    if best:
        lines.append(
            f"- **Smaller still**: {best['label']} ({best['parameters']:,} parameters, {best['size_ratio']:.1f}× smaller "
            "than the teacher) stays within 1.5× the teacher's FID."
        )
    variants = {variant["label"]: variant["summary"] for variant in (study or {}).get("variants", [])}
    if "plain" in variants and len(variants) > 1:
        fid = lambda label: variants[label]["fid"]["mean"]  # noqa: E731
        best = min((label for label in variants if label != "plain"), key=fid)
        lines.append(
            f"- **Teacher recipe**: at {study['meta']['steps']:,} steps the plain DCGAN discriminator reaches FID {fid('plain'):.1f}, "
            f"the best of {len(variants) - 1} regularised ones ({best}) {fid(best):.1f}."
        )
    return "\n".join(lines)


def checks_list(*documents: dict[str, Any] | None) -> str:
    """The targets each JSON file checked, one 'met/missed name: measured … (target …)' line each (words, not
    emoji: a browser without an emoji font shows those as empty boxes)."""
    lines = []
    for document in documents:
        for name, check in (document or {}).get("checks", {}).items():
            lines.append(f"- **{'met' if check['met'] else 'missed'}** {name}: measured **{check['value']}** (target {check['target']})")
    return "\n".join(lines)


def default_run_table(run: dict[str, Any]) -> str:
    """scripts/default_run.py: what one press of Start with every default produces."""
    settings = run["settings"]
    recipe = (
        f"α {settings['alpha']}, layers {' + '.join(settings['layers'])}, lr {settings['lr_generator']:g} / "
        f"{settings['lr_discriminator']:g}, EMA {settings.get('ema_decay', 0):g}, batch {settings['batch_size']}, "
        f"{settings['precision']}"
    )
    summary = run["summary"]
    row = [f"{run['steps']} steps in {run['elapsed_s']:.0f} s ({run['steps_per_s']:.1f}/s)"]
    row += [mean_std(summary.get(key), decimals) for key, decimals in (("fid", 1), ("recognizable", 3), ("precision", 3), ("label_agreement", 3))]
    body = table(["run", "FID ↓", "recognizable ↑", "precision ↑", "label agreement ↑"], [row])
    note = (
        f"Recipe: {recipe}; {run['cpu_count']} CPU cores, trainer threads {run.get('train_threads', 1)}; scored on n = {run['n']} "
        f"samples per seed, seeds {run['seeds']}, as the quality table."
    )
    return body + "\n\n" + note


def benchmark_table(benchmark: dict[str, Any]) -> str:
    """The benchmark.py tables: model size and speed, then training-step throughput."""
    models = benchmark["models"]
    names = benchmark["meta"].get("order", list(models))  # JSON files are written with sorted keys
    inference = sorted(benchmark["inference"].items(), key=lambda item: int(item[0]))
    rows = [
        ["parameters (trainable)"] + [f"{models[n]['parameters']['trainable']:,}" for n in names],
        ["parameters (with BN statistics)"] + [f"{models[n]['parameters']['keras']:,}" for n in names],
        ["MACs per image"] + [f"{models[n]['macs_per_image'] / 1e6:.2f} M" for n in names],
        ["file size"] + [f"{models[n]['file_bytes'] / 1e6:.2f} MB" for n in names],
    ]
    for batch, entry in inference:
        label = "latency, batch 1" if batch == "1" else f"throughput, batch {batch}"
        cells = []
        for name in names:
            timing = entry[name]
            cells.append(f"{timing['median_s'] * 1e3:.2f} ms" if batch == "1" else f"{timing['images_per_s']:,.0f} img/s")
        rows.append([label] + cells)
    header = ["", *names]
    if len(names) == 2:
        first, second = names
        header.append(f"{second} vs {first}")
        for row in rows[:4]:
            row.append(f"{_ratio(models[second], models[first], row[0]):.2f}×")
        for row, (_, entry) in zip(rows[4:], inference):
            row.append(f"{entry['speedup']:.2f}× faster")
    text = table(header, rows)
    if "onnxruntime" in benchmark:
        text += "\n\n" + onnxruntime_table(benchmark)
    training = benchmark.get("training")
    if training:
        train_rows = [
            [
                mode,
                f"{entry['project']['images_per_s']:,.0f} img/s",
                f"{entry['reference']['images_per_s']:,.0f} img/s",
                f"{entry['speedup']:.2f}×",
            ]
            for mode, entry in training["modes"].items()
        ]
        text += "\n\n" + table(["training step", "project trainer", "reference loop", "speed-up"], train_rows)
        data = training.get("data")
        if data:  # the data path alone: how much of a step the reference's DataLoader can explain
            text += (
                f"\n\nData path alone, batch {training['batch_size']}: reference DataLoader "
                f"{data['reference_dataloader_s'] * 1e3:.1f} ms per batch, in-memory batches {data['in_memory_s'] * 1e3:.2f} ms."
            )
    meta = benchmark["meta"]
    text += f"\n\n{meta['threads']} CPU threads, torch {meta['torch']}, medians of interleaved repeats; {meta['machine']}."
    return text


def onnxruntime_table(benchmark: dict[str, Any]) -> str:
    """benchmark.py's onnxruntime rows: ONNX file sizes, then latency and throughput beside PyTorch's."""
    runtime = benchmark["onnxruntime"]
    names = benchmark["meta"].get("order", list(runtime["models"]))
    sizes = [runtime["models"][name]["file_bytes"] for name in names]
    rows = [["ONNX file size"] + [f"{size / 1e6:.2f} MB" for size in sizes]]
    inference = sorted(runtime["inference"].items(), key=lambda item: int(item[0]))
    for batch, entry in inference:
        label = "latency, batch 1" if batch == "1" else f"throughput, batch {batch}"
        speed = [f"{entry[n]['median_s'] * 1e3:.2f} ms" if batch == "1" else f"{entry[n]['images_per_s']:,.0f} img/s" for n in names]
        rows.append([label] + [f"{cell} ({entry['vs_pytorch'][n]:.2f}× PyTorch)" for cell, n in zip(speed, names)])
    header = [f"onnxruntime {runtime['version']}, CPU, opset {runtime['opset']}", *names]
    if len(names) == 2:
        header.append(f"{names[1]} vs {names[0]}")
        rows[0].append(f"{sizes[1] / sizes[0]:.2f}×")
        for row, (_, entry) in zip(rows[1:], inference):
            row.append(f"{entry['speedup']:.2f}× faster")
    note = f"(N× PyTorch): how many times faster than PyTorch on the same batch, timed in the same interleaved loops, {runtime['threads']} threads each."
    return table(header, rows) + "\n\n" + note


def _ratio(second: dict[str, Any], first: dict[str, Any], label: str) -> float:
    if label.startswith("parameters (trainable"):
        return second["parameters"]["trainable"] / first["parameters"]["trainable"]
    if label.startswith("parameters"):
        return second["parameters"]["keras"] / first["parameters"]["keras"]
    if label.startswith("MACs"):
        return second["macs_per_image"] / first["macs_per_image"]
    return second["file_bytes"] / first["file_bytes"]


def reliability_cases_table(cases: list[dict[str, Any]]) -> str:
    """The malformed-input cases as one table, in the order the tests declare them."""

    def cell(text: Any) -> str:
        text = " ".join(str(text).split())
        text = text if len(text) <= 160 else text[:157] + "…"
        return text.replace("|", "\\|")

    rows = sorted(cases, key=lambda case: case.get("order", len(cases)))
    return table(["surface", "input", "what happened"], [[cell(case[key]) for key in ("surface", "input", "message")] for case in rows])


def reliability_figures(figures: dict[str, Any]) -> str:
    """The concurrency, stop/restart, divergence and no-pickle figures, one bullet each."""
    lines = []
    if concurrency := figures.get("concurrency"):
        lines.append(
            f"- **Concurrency**: {concurrency['generate_clients']} gradio_client clients sent "
            f"{concurrency['generate_requests']} `generate` requests while a run trained, and 3 more clients sent "
            f"{concurrency['start_run_requests']} `start_run` requests: {concurrency['error_responses']} error responses, "
            f"every `start_run` answered \"a run is already training\", at most {concurrency['most_trainer_threads']} "
            f"trainer thread at any moment ({concurrency['seconds']} s, {concurrency['steps_trained_meanwhile']} steps trained meanwhile)."
        )
    if starts := figures.get("simultaneous_starts"):
        lines.append(
            f"- **Simultaneous starts**: {starts['requests']} clients pressed Start at the same moment on an idle app: "
            f"{starts['runs_started']} run started; the slot was free again once it finished."
        )
    if cycles := figures.get("stop_restart"):
        lines.append(
            f"- **Stop and restart {cycles['cycles']}× in a row** (through the API): threads "
            f"{cycles['threads_before']} before → {cycles['threads_after']} after, of which ganlab's trainer/watchdog "
            f"threads after: {cycles['ganlab_threads_after']} (the rest is Gradio's AnyIO worker pool, "
            f"{cycles['pool_threads_before']} → {cycles['pool_threads_after']}, capped at 40); RSS after glibc's malloc_trim "
            f"{cycles['rss_before_mb']:.0f} MB before → {cycles['rss_after_mb']:.0f} MB after, largest growth "
            f"{cycles['rss_max_growth_mb']:.0f} MB, median of cycles 16–20 minus median of cycles 6–10 {cycles['rss_growth_last_10_mb']:.0f} MB."
        )
    if divergence := figures.get("divergence"):
        lines.append(
            f"- **Divergence**: a run whose loss became inf at step {divergence['diverged_at_step']} stopped itself "
            f"(\"{divergence['message'].removeprefix('Failed: ')}\"), freed the slot, and kept its step-"
            f"{divergence['kept_checkpoint_step']} checkpoint loadable; Compare and the next run worked."
        )
    if pickle := figures.get("no_pickle"):
        lines.append(
            f"- **No pickle**: {pickle['python_files_scanned']} Python files scanned (ast) for `import pickle`, "
            f"`torch.load` without `weights_only=True` and `numpy.load(allow_pickle=True)`: {pickle['problems']} found."
        )
    return "\n".join(lines)
