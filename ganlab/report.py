"""Markdown tables from the evaluation JSON files: one renderer per file, shared by the
scripts that write the JSON (to print) and scripts/results.py (to fill the README)."""

from __future__ import annotations

from typing import Any

# (key in the summary, column title, decimals, scale)
QUALITY_COLUMNS = (
    ("fid", "FID ↓", 2, 1.0),
    ("kid_standardized", "KID×10³ ↓", 1, 1e3),
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
    """Rows of (label, summary) with mean ± std of each quality metric that at least one row has."""
    columns = [column for column in QUALITY_COLUMNS if any(column[0] in summary for _, summary in rows)]
    header = ["model"] + [title for _, title, _, _ in columns]
    body = [[label] + [mean_std(summary.get(key), decimals, scale) for key, _, decimals, scale in columns] for label, summary in rows]
    return table(header, body)


def kid_note(floor: dict[str, Any] | None) -> str:
    """The one line that says what the KID column measures, with the real-vs-real floor."""
    text = (
        "KID×10³: squared MMD (cubic kernel) between the classifier features of generated and real images, each "
        "feature standardised by the real reference's mean and std; 0 is the same distribution"
    )
    kid = (floor or {}).get("kid_standardized")
    return text + (f", and real MNIST against itself reads {kid['mean'] * 1e3:.1f}." if kid else ".")


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
        note += " " + kid_note(metrics["floor"]["summary"])
    return quality_table(rows) + "\n\n" + note


BUNDLED_TRIO = ("checkpoints/teacher", "checkpoints/student", "checkpoints/student-baseline")


def _trio(metrics: dict[str, Any]) -> list[str]:
    """The labels of the bundled teacher, student and baseline (else the first three models), table order."""
    order = metrics["meta"].get("order", list(metrics["models"]))
    bundled = [label for label in order if metrics["models"][label].get("path") in BUNDLED_TRIO]
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
        "in the feature space of a small MNIST classifier. Recognizable: share of samples the classifier labels with "
        "confidence ≥ 0.9; label agreement: share of noise vectors for which student and teacher draw the same digit."
    )
    if any(key == "kid_standardized" for key, *_ in columns):
        text += " " + kid_note(metrics["floor"]["summary"])
    return text


def headline_figures(
    metrics: dict[str, Any], benchmark: dict[str, Any] | None = None, sweep: dict[str, Any] | None = None, study: dict[str, Any] | None = None
) -> str:
    """README: the few numbers that say what distillation bought, one bullet each."""
    lines = []
    labels = _trio(metrics)
    if len(labels) == 3:
        teacher, student, baseline = (metrics["models"][label]["summary"] for label in labels)
        fid = lambda summary: summary["fid"]["mean"]  # noqa: E731
        line = (
            f"- **Quality**: the distilled student's FID is {fid(student) / fid(teacher):.2f}× the teacher's and "
            f"{fid(student) / fid(baseline):.2f}× the no-distillation baseline's after the same steps"
        )
        if "label_agreement" in student:
            line += f"; it draws the teacher's digit for {student['label_agreement']['mean']:.0%} of noise vectors"
        lines.append(line + ".")
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


def ablation_table(ablation: dict[str, Any]) -> str:
    """One table per ablation group (seeds, layers, alpha)."""
    parts = []
    for group in ablation["groups"]:
        rows = [(variant["label"], variant["summary"]) for variant in group["variants"]]
        parts.append(f"**{group['title']}**\n\n" + quality_table(rows))
    meta = ablation["meta"]
    parts.append(f"Each student: {meta['steps']} steps of batch {meta['batch_size']}; n = {meta['n']} samples per evaluation.")
    return "\n\n".join(parts)


def precision_table(data: dict[str, Any]) -> str:
    """scripts/bench_precision.py: images/s and share of peak per model, batch and precision; faithfulness."""
    header = ["batch", "model", "fp32 images/s", "bf16 images/s", "bf16 / fp32", "fp32 % of peak", "bf16 % of peak"]
    # without native bf16 the matrix product's bf16 "peak" is a slow fallback, not a roofline: no share then
    emulated = "no native" in data["meta"]["machine"]
    rows = []
    for batch, models in sorted(data["speed"].items(), key=lambda item: int(item[0])):  # the JSON's keys are sorted as text
        for name, by in sorted(models.items(), key=lambda item: item[0] != "teacher"):  # teacher first
            fp32, bf16 = by["fp32"], by["bf16"]
            rows.append([
                batch, name, f"{fp32['images_per_s']:,.0f}", f"{bf16['images_per_s']:,.0f}",
                f"{bf16['images_per_s'] / fp32['images_per_s']:.2f}×",
                f"{100 * fp32['share_of_peak']:.0f} %", "–" if emulated else f"{100 * bf16['share_of_peak']:.0f} %",
            ])  # fmt: skip
    faithful = data["faithfulness"]
    lines = [
        f"- {name}: {100 * row['within_1_gray_level']:.2f} % of pixels within 1 gray level of fp32's (largest gap "
        f"{row['max_gray_levels']}); FID fp32 {row['fid']['fp32']:.2f}, bf16 {row['fid']['bf16']:.2f}"
        for name, row in faithful["models"].items()
    ]
    meta, peak = data["meta"], data["peak_gmacs"]
    return (
        table(header, rows)
        + f"\n\nPeak of a 2048² matrix product: fp32 {peak['fp32']:g}, bf16 {peak['bf16']:g} GMAC/s ({meta['machine']}, "
        + f"{meta['threads']} threads)."
        + (" This CPU has no native bf16: `auto` samples in fp32 here." if emulated else "")
        + (
            " torch runs bf16 transposed convolutions in its reference kernel here (`slow_conv_transpose2d`, not"
            " oneDNN): slow, and it rounds more than bf16 products with fp32 sums (as AMX computes them), so the"
            " faithfulness below is a lower bound for a CPU with native bf16."
            if not meta.get("onednn_bf16", not emulated) else ""
        )
        + f" The same {faithful['n']:,} noise vectors in both precisions:\n\n" + "\n".join(lines)
    )


def training_time(seconds: float, threads: int | None) -> str:
    """'23 min (1 thread)': a training's wall time, with the threads it had when they are known."""
    return f"{seconds / 60:.0f} min" + (f" ({threads} thread{'s' if threads > 1 else ''})" if threads else "")


def recipe_study_table(study: dict[str, Any]) -> str:
    """Teacher recipes at equal steps (scripts/recipe_study.py): quality per discriminator regularisation, best FID first."""
    variants = sorted(study["variants"], key=lambda variant: variant["summary"]["fid"]["mean"])
    meta = study["meta"]
    times = [f"{variant['label']} {training_time(variant['train_time_s'], variant.get('train_threads'))}" for variant in variants if variant.get("train_time_s")]
    return quality_table([(variant["label"], variant["summary"]) for variant in variants]) + (
        f"\n\nEach teacher: {meta['steps']:,} steps of batch {meta['batch_size']} on {meta['device']} (EMA 0.999, LR decay over the "
        f"second half; only the discriminator's regularisation differs); n = {meta['n']:,} samples × {len(meta['seeds'])} sampling seeds."
        + (f" Training wall time: {'; '.join(times)}." if times else "")
    )


def distill_study_table(study: dict[str, Any]) -> str:
    """Student recipes at equal steps (scripts/distill_study.py): the teacher, then each variant, best FID first."""
    variants = sorted(study["variants"], key=lambda variant: variant["summary"]["fid"]["mean"])
    meta = study["meta"]
    teacher_fid = meta["teacher_summary"]["fid"]["mean"]
    rows = [("teacher", meta["teacher_summary"])]
    rows += [(f"{variant['label']} ({variant['summary']['fid']['mean'] / teacher_fid:.2f}× the teacher's FID)", variant["summary"]) for variant in variants]
    times = [f"{variant['label']} {training_time(variant['train_time_s'], variant.get('train_threads'))}" for variant in variants if variant.get("train_time_s")]
    recipe = meta["recipe"]
    return quality_table(rows) + (
        f"\n\nEach student: the seed's design, {meta['steps']:,} steps of batch {meta['batch_size']} on {meta['device']} in {recipe['precision']}, "
        f"from the committed recipe (α {recipe['alpha']}, {' + '.join(recipe['layers'])}, lr G {recipe['lr_generator']:g} / D "
        f"{recipe['lr_discriminator']:g}, EMA {recipe['ema_decay']}) with one change each; n = {meta['n']:,} samples × "
        f"{len(meta['seeds'])} sampling seeds, the teacher on the same z for MSE and agreement. Machine: {meta['machine']}."
        + (f" Training wall time: {'; '.join(times)}." if times else "")
    )


def teacher_progress_table(progress: dict[str, Any]) -> str:
    """FID along a long teacher run (scripts/teacher_progress.py): one row per kept snapshot, and the stopping rule."""
    header = ["step", "wall time", "FID ↓", "recognizable ↑", "precision ↑", "recall ↑"]
    fidelity = any("label_agreement" in point["run"] for point in progress["points"])  # a student's run, scored with its teacher
    header += ["label agreement ↑", "MSE to teacher ↓"] if fidelity else []
    rows = []
    for point in progress["points"]:
        run, wall = point["run"], point.get("wall_time_s")
        rows.append([f"{point['step']:,}", f"{wall / 3600:.1f} h" if wall else "–", f"{run['fid']:.1f}", f"{run['recognizable']:.3f}",
                     f"{run['precision']:.3f}" if "precision" in run else "–", f"{run['recall']:.3f}" if "recall" in run else "–"])  # fmt: skip
        if fidelity:
            rows[-1] += [f"{run['label_agreement']:.3f}" if "label_agreement" in run else "–", f"{run['pixel_mse']:.4f}" if "pixel_mse" in run else "–"]
    meta, verdict = progress["meta"], progress["plateau"]
    scoring = meta["scoring"]
    stalled = verdict["steps_without_improvement"]
    rule = (
        f"Best FID so far {verdict['best_fid']:.1f} at step {verdict['best_step']:,}; "
        + (f"**no improvement of more than {verdict['tolerance']:.0%} for {stalled:,} steps: FID has stopped improving.**"
           if stalled >= verdict["patience"] else f"{stalled:,} steps since (the run stops early after {verdict['patience']:,} without an improvement of more than {verdict['tolerance']:.0%}).")
    )  # fmt: skip
    return table(header, rows) + (
        f"\n\nThe kept snapshots of `{meta['run']}`; n = {scoring['n']:,} samples from sampling seed {scoring['seed']} against "
        f"{scoring['reference_size']:,} MNIST test images. Wall time is the run's own training time up to that step, on whatever "
        f"share of the CPU it had. {rule}"
    )


def sweep_table(sweep: dict[str, Any]) -> str:
    """Width sweep: size, speed and quality per student, teacher first."""
    header = ["model", "parameters", "latency batch 1", "throughput batch 256", "training", "FID ↓", "recognizable ↑", "label agreement ↑"]
    rows = []
    for point in sweep["points"]:
        summary = point["summary"]
        seconds = point.get("train_time_s")
        rows.append(
            [
                point["label"],
                f"{point['parameters']:,}",
                f"{point['latency_ms']:.2f} ms",
                f"{point['throughput_256']:,.0f} img/s",
                training_time(seconds, point.get("train_threads")) if seconds else "–",
                mean_std(summary.get("fid"), 1),
                mean_std(summary.get("recognizable"), 3),
                mean_std(summary.get("label_agreement"), 3),
            ]
        )
    text = table(header, rows)
    meta = sweep["meta"]
    recipe, machine = meta.get("recipe", {}), meta.get("machine", "the machine that scored them")
    if recipe:
        text += (
            f"\n\nEvery student: {meta['steps']:,} steps of batch {meta['batch_size']}, α {recipe['alpha']:g} on "
            f"{' + '.join(recipe['layers'])}, lr {recipe['lr_generator']:g} / {recipe['lr_discriminator']:g}, EMA {recipe['ema_decay']:g}, "
            f"from the same teacher and seed; n = {meta['n']:,} samples per sampling seed, seeds {meta.get('sampling_seeds')}. "
            f"Latency and throughput: fp32, {meta['threads']} threads, {machine}; "
            "training: each width's own wall time."
        )
    best = sweep.get("smallest_within_1_5x_teacher_fid")
    text += "\n\n" + (
        f"Smallest student within 1.5× the teacher's FID: **{best['label']}** ({best['parameters']:,} parameters, "
        f"{best['size_ratio']:.1f}× smaller than the teacher)."
        if best
        else "No student came within 1.5× the teacher's FID at this budget."
    )
    return text


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
