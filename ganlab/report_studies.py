"""Markdown tables of the studies (ablation, precision, recipe and distillation studies, progress, width sweep)."""

from __future__ import annotations

from ganlab.datasets import get_dataset

from typing import Any

from ganlab.tables import mean_std, quality_table, table


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
    chunked = f" Through `generate`, the app's path: a batch over {data['chunks']['chosen']} runs in chunks of {data['chunks']['chosen']}." if "chunks" in data else ""
    return (
        table(header, rows)
        + f"\n\nPeak of a 2048² matrix product: fp32 {peak['fp32']:g}, bf16 {peak['bf16']:g} GMAC/s ({meta['machine']}, "
        + f"{meta['threads']} threads)." + chunked
        + (" This CPU has no native bf16: `auto` samples in fp32 here." if emulated else "")
        + (
            " torch runs bf16 transposed convolutions in its reference kernel here (`slow_conv_transpose2d`, not"
            " oneDNN): slow, and it rounds more than bf16 products with fp32 sums (as AMX computes them), so the"
            " faithfulness below is a lower bound for a CPU with native bf16."
            if not meta.get("onednn_bf16", not emulated) else ""
        )
        + f" The same {faithful['n']:,} noise vectors in both precisions:\n\n" + "\n".join(lines)
        + _chunks_and_forms(data)
    )


def _chunks_and_forms(data: dict[str, Any]) -> str:
    """The chunk sizes and the hidden-layer forms of a precision benchmark (absent from older files)."""
    if "chunks" not in data:
        return ""
    chunks, forms, precision = data["chunks"], data["hidden_forms"], data["app_precision"]
    # the JSON's keys are sorted as text: chunk sizes in numeric order, the whole batch last
    labels = sorted(next(iter(chunks["images_per_s"].values())), key=lambda label: float("inf") if label == "whole" else int(label))
    models = sorted(chunks["images_per_s"], key=lambda name: name != "teacher")
    rows = [[label if label == "whole" else f"{int(label):,}", *(f"{chunks['images_per_s'][name][label]:,.0f}" for name in models)] for label in labels]
    form_rows = [
        [name, f"{row['median_ms']:.2f}", f"{row['gmacs']:,.0f}", f"{100 * row['share_of_peak']:.0f} %", f"{row['max_gap']:.3g}"]
        for name, row in sorted(forms["forms"].items(), key=lambda item: item[1]["median_ms"])  # fastest first
    ]
    return (
        f"\n\nBatch {chunks['batch']:,} drawn in chunks ({precision}, images/s; `generate` uses {chunks['chosen']} on a CPU):\n\n"
        + table(["chunk", *(f"{name} images/s" for name in models)], rows)
        + f"\n\nThe student's hidden transposed convolution ({forms['layer']}, batch {forms['batch']}, {precision}) in each form"
        + " of `ganlab.conv_forms` (largest gap: to torch's own on the same input):\n\n"
        + table(["form", "ms", "GMAC/s", f"% of {precision} peak", "largest gap"], form_rows)
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
        f"{scoring['reference_size']:,} {get_dataset(scoring.get('dataset', 'mnist')).title} test images. Wall time is the run's own training time up to that step, on whatever "
        f"share of the CPU it had. {rule}"
    )


def pair_progress_table(distilled: dict[str, Any], baseline: dict[str, Any]) -> str:
    """The distilled student and its no-distillation baseline at each step both kept (two teacher_progress.py files)."""
    theirs = {point["step"]: point["run"] for point in baseline["points"]}
    rows = []
    for point in distilled["points"]:
        other = theirs.get(point["step"])
        if other is None:
            continue
        mine = point["run"]
        rows.append([f"{point['step']:,}", f"{mine['fid']:.1f}", f"{other['fid']:.1f}", f"{mine['fid'] / other['fid']:.2f}×",
                     f"{mine.get('label_agreement', float('nan')):.3f}", f"{other.get('label_agreement', float('nan')):.3f}",
                     f"{mine['recognizable']:.3f}", f"{other['recognizable']:.3f}"])  # fmt: skip
    header = ["step", "distilled FID ↓", "baseline FID ↓", "distilled / baseline", "distilled agreement ↑", "baseline agreement ↑",
              "distilled recognizable ↑", "baseline recognizable ↑"]  # fmt: skip
    scoring = distilled["meta"]["scoring"]
    return table(header, rows) + (
        f"\n\n`{distilled['meta']['run']}` and `{baseline['meta']['run']}`: the same recipe, steps, seed and discriminator, the "
        f"baseline with α 0 (no teacher). Each kept snapshot scored on n = {scoring['n']:,} samples from sampling seed "
        f"{scoring['seed']}; agreement is with the teacher on the same z (the baseline never saw the teacher)."
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
