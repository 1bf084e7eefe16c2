"""Markdown tables from the evaluation JSON files: one renderer per file, shared by the
scripts that write the JSON (to print) and scripts/results.py (to fill the README)."""

from __future__ import annotations

from typing import Any

# (key in the summary, column title, decimals, scale)
QUALITY_COLUMNS = (
    ("fid", "FID ↓", 2, 1.0),
    ("kid", "KID×10³ ↓", 2, 1e3),
    ("inception_score", "IS ↑", 2, 1.0),
    ("precision", "precision ↑", 3, 1.0),
    ("recall", "recall ↑", 3, 1.0),
    ("class_kl", "class KL ↓", 4, 1.0),
    ("recognizable", "recognizable ↑", 3, 1.0),
    ("pixel_mse", "MSE to teacher ↓", 4, 1.0),
    ("label_agreement", "label agreement ↑", 3, 1.0),
)


def mean_std(entry: dict[str, float] | None, decimals: int, scale: float = 1.0) -> str:
    """'12.34 ± 0.56' from {"mean", "std"}; '–' when absent."""
    if not entry:
        return "–"
    return f"{entry['mean'] * scale:.{decimals}f} ± {entry['std'] * scale:.{decimals}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def quality_table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """Rows of (label, summary) with mean ± std of each quality metric."""
    header = ["model"] + [title for _, title, _, _ in QUALITY_COLUMNS]
    body = [[label] + [mean_std(summary.get(key), decimals, scale) for key, _, decimals, scale in QUALITY_COLUMNS] for label, summary in rows]
    return table(header, body)


def metrics_table(metrics: dict[str, Any]) -> str:
    """The evaluate.py table: the real-vs-real floor first, then each model."""
    meta = metrics["meta"]
    rows = [(metrics["floor"]["label"], metrics["floor"]["summary"])]
    rows += [(name, metrics["models"][name]["summary"]) for name in meta.get("order", metrics["models"])]
    note = (
        f"n = {meta['n']} samples per seed, mean ± std over sampling seeds {meta['seeds']}; "
        f"reference: {meta['reference']}; features: {meta['classifier']}."
    )
    return quality_table(rows) + "\n\n" + note


def checks_list(*documents: dict[str, Any] | None) -> str:
    """The targets each JSON file checked, one '✅/❌ name: measured … (target …)' line each."""
    lines = []
    for document in documents:
        for name, check in (document or {}).get("checks", {}).items():
            lines.append(f"- {'✅' if check['met'] else '❌'} {name}: measured **{check['value']}** (target {check['target']})")
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


def ablation_table(ablation: dict[str, Any]) -> str:
    """One table per ablation group (seeds, layers, alpha)."""
    parts = []
    for group in ablation["groups"]:
        rows = [(variant["label"], variant["summary"]) for variant in group["variants"]]
        parts.append(f"**{group['title']}**\n\n" + quality_table(rows))
    meta = ablation["meta"]
    parts.append(f"Each student: {meta['steps']} steps of batch {meta['batch_size']}; n = {meta['n']} samples per evaluation.")
    return "\n\n".join(parts)


def sweep_table(sweep: dict[str, Any]) -> str:
    """Width sweep: size, speed and quality per student, teacher first."""
    header = ["model", "parameters", "latency batch 1", "throughput batch 256", "FID ↓", "recognizable ↑", "label agreement ↑"]
    rows = []
    for point in sweep["points"]:
        summary = point["summary"]
        rows.append(
            [
                point["label"],
                f"{point['parameters']:,}",
                f"{point['latency_ms']:.2f} ms",
                f"{point['throughput_256']:,.0f} img/s",
                mean_std(summary.get("fid"), 1),
                mean_std(summary.get("recognizable"), 3),
                mean_std(summary.get("label_agreement"), 3),
            ]
        )
    text = table(header, rows)
    best = sweep.get("smallest_within_1_5x_teacher_fid")
    text += "\n\n" + (
        f"Smallest student within 1.5× the teacher's FID: **{best['label']}** ({best['parameters']:,} parameters, "
        f"{best['size_ratio']:.1f}× smaller than the teacher)."
        if best
        else "No student came within 1.5× the teacher's FID at this budget."
    )
    return text
