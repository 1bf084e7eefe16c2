"""Size / quality trade-off: students of several widths distilled with the same budget.

    python scripts/sweep_width.py                       # widths 128 64 32 16, 1000 steps each: ~12-15 min on 2 cores
    python scripts/sweep_width.py --widths 128 32 --steps 3000 --alpha 0.9 --layers 14x14 7x7 pixels --lr-g 1e-3
    python scripts/sweep_width.py --quick --out /tmp/sweep.json --plot /tmp/sweep.png    # seconds
    python scripts/sweep_width.py --widths 128 --threads 1 --train-only   # one width, side by side with others

Each trained student is kept in --keep (default runs/sweep/wW) with its recipe and its teacher's
sha256; run again after a cut-off, a width already trained with the same recipe and teacher is
loaded, not retrained (a full-size sweep is hours on 2 CPU cores).

A student of width W is 7x7xW -> 14x14x(W/2) -> 28x28x1; narrower students reach the
teacher's features through learned 1x1 projections. Each is scored like the teacher
(FID etc. over sampling seeds) and timed side by side with it (interleaved medians, fixed
threads). Writes JSON (default checkpoints/sweep.json), a PNG plot (parameters vs FID vs
latency; needs matplotlib) and names the smallest student within 1.5x the teacher's FID.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


from ganlab.cli import ArgumentParser, add_study_arguments, bounded, run_main, setting, start_study

FID_TOLERANCE = 1.5  # a student "keeps the quality" within this factor of the teacher's FID


def smallest_within(points: list[dict], teacher: dict, tolerance: float = FID_TOLERANCE) -> dict | None:
    """The student with the fewest parameters whose mean FID is within `tolerance` x the teacher's."""
    limit = tolerance * teacher["summary"]["fid"]["mean"]
    fits = [p for p in points if p is not teacher and p["summary"]["fid"]["mean"] <= limit]
    if not fits:
        return None
    best = min(fits, key=lambda p: p["parameters"])
    return {"label": best["label"], "width": best["width"], "parameters": best["parameters"], "size_ratio": teacher["parameters"] / best["parameters"], "fid": best["summary"]["fid"]["mean"], "fid_limit": limit}


def plot(sweep: dict, path: Path) -> None:
    """Two panels sharing the parameter axis: FID (± std) and batch-1 latency."""
    from ganlab.errors import GanlabError

    try:
        import matplotlib
    except ImportError:
        raise GanlabError(
            "the plot needs matplotlib: `pip install matplotlib`, or pass --plot '' to skip it"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sweep["points"]
    figure, (quality, speed) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for point in points:
        is_teacher = point["width"] is None
        colour = "tab:red" if is_teacher else "tab:blue"
        fid = point["summary"]["fid"]
        quality.errorbar(point["parameters"], fid["mean"], yerr=fid["std"], fmt="o", color=colour, capsize=3)
        quality.annotate(point["label"], (point["parameters"], fid["mean"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
        speed.plot(point["parameters"], point["latency_ms"], "o", color=colour)
        speed.annotate(f"{point['label']}\nFID {fid['mean']:.0f}", (point["parameters"], point["latency_ms"]), textcoords="offset points", xytext=(5, 2), fontsize=8)
    teacher = next(p for p in points if p["width"] is None)
    quality.axhline(FID_TOLERANCE * teacher["summary"]["fid"]["mean"], color="tab:red", linestyle="--", linewidth=1, label=f"{FID_TOLERANCE}× teacher FID")
    quality.legend(fontsize=8)
    for axis in (quality, speed):
        axis.set_xscale("log")
        axis.set_xlabel("parameters (log scale)")
        axis.grid(alpha=0.3)
    quality.set_ylabel("FID ↓ (classifier features, vs MNIST test)")
    speed.set_ylabel(f"latency at batch 1, ms ({sweep['meta']['threads']} threads)")
    figure.suptitle(f"Students distilled for {sweep['meta']['steps']} steps vs the teacher")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    add_study_arguments(parser, steps=1000, out="checkpoints/sweep.json")
    from ganlab.config import STUDENT_WIDTH

    parser.add_argument("--widths", type=bounded(STUDENT_WIDTH), nargs="+", default=[128, 64, 32, 16], help="student widths at 7x7")
    parser.add_argument("--seed", type=setting("seed"), default=0, help="training seed")
    parser.add_argument("--sampling-seeds", type=setting("seed"), nargs="+", default=[0, 1, 2])
    parser.add_argument("--plot", default="checkpoints/sweep.png", help="PNG plot ('' to skip)")
    parser.add_argument("--keep", default=None, help="folder for each trained width, reused on a rerun (default runs/sweep; none with --quick)")
    parser.add_argument("--train-only", action="store_true", help="train (or load) the widths into --keep and stop: no scoring, no JSON (for widths trained side by side, scored by a later run)")
    args = parser.parse_args()
    keep = args.keep if args.keep is not None else ("" if args.quick else "runs/sweep")
    if args.train_only and not keep:  # nothing would be kept for the run that scores them
        parser.error("--train-only keeps each width in --keep: give it a folder (--quick keeps none)")
    if len(set(args.widths)) != len(args.widths):  # one result per width: a repeat would be mislabelled
        parser.error(f"--widths names a width more than once: {args.widths}")
    repeats, min_seconds = (1, 0.01) if args.quick else (7, 0.25)  # --quick also shortens the timings

    import torch

    from ganlab.checkpoints import WEIGHTS_NAME, atomic_write_json, load_checkpoint, read_training_info, resolve_model_path, save_checkpoint
    from ganlab.data import sha256_of
    from ganlab.metrics import evaluate_generator, summarize
    from ganlab.models import count_parameters
    from ganlab.report import sweep_table
    from ganlab.sampling import noise
    from ganlab.timing import interleaved_medians
    from ganlab.trainer import new_trainer

    study = start_study(args, seed=args.seed)
    teacher, classifier, reference, images, config = study.teacher, study.classifier, study.reference, study.images, study.config

    # 1. train every width with the same budget (or load it, trained before with this recipe and teacher)
    generators = {"teacher": teacher}
    train_times, train_threads = {}, {}  # a width's training time is only comparable at the same threads
    recipe = json.loads(json.dumps(config.to_dict()))  # as training.json will read it back (lists, not tuples)
    made_from = {"recipe": recipe, "teacher_sha256": sha256_of(resolve_model_path(args.teacher) / WEIGHTS_NAME)}
    for width in args.widths:
        kept = Path(keep) / f"w{width}" if keep else None
        record = read_training_info(kept) if kept else {}
        if record.get("made_from") == {**made_from, "width": width}:
            generators[f"student w{width}"] = load_checkpoint(kept, expect="generator", device=config.device).eval()
            train_times[width], train_threads[width] = record["train_time_s"], record.get("train_threads")
            print(f"width {width}: trained before, loaded from {kept}", file=sys.stderr)
            continue
        trainer = new_trainer(config, images=images, teacher=teacher, student_width=width)
        finished = trainer.run()
        generators[f"student w{width}"] = trainer.sampling_generator.eval()
        train_times[width], train_threads[width] = round(finished.elapsed, 1), args.threads
        if kept:
            record = {"made_from": {**made_from, "width": width}, "train_time_s": train_times[width], "train_threads": args.threads}
            save_checkpoint(trainer.sampling_generator, kept, training=record)
        print(f"width {width}: {finished.step} steps in {finished.elapsed:.0f} s", file=sys.stderr)
    if args.train_only:
        print(f"trained: widths {' '.join(map(str, args.widths))} in {keep}; run without --train-only to score them", file=sys.stderr)
        return

    # 2. speed on this machine's CPU (what the size/latency trade-off is about), all models interleaved
    generators = {name: generator.to("cpu") for name, generator in generators.items()}
    teacher = generators["teacher"]
    timings = {}
    for batch in (1, 256):
        z = noise(batch, 0)
        with torch.inference_mode():
            timings[batch] = interleaved_medians({name: (lambda g=g: g(z)) for name, g in generators.items()}, repeats=repeats, min_seconds=min_seconds)

    # 3. quality over sampling seeds
    points = []
    for (name, generator), width in zip(generators.items(), [None, *args.widths]):
        runs = [evaluate_generator(generator, classifier, reference, args.n, seed, teacher=None if width is None else teacher) for seed in args.sampling_seeds]
        points.append({
            "label": name,
            "width": width,
            "parameters": count_parameters(generator)["keras"],
            "latency_ms": timings[1][name]["median_s"] * 1e3,
            "throughput_256": 256 / timings[256][name]["median_s"],
            "train_time_s": train_times.get(width),
            "train_threads": train_threads.get(width),
            "runs": runs,
            "summary": summarize(runs),
        })
        print(f"{name}: FID {points[-1]['summary']['fid']['mean']:.1f}", file=sys.stderr)

    best = smallest_within(points, points[0])
    sweep = {
        "meta": study.meta(sampling_seeds=args.sampling_seeds),
        "points": points,
        "smallest_within_1_5x_teacher_fid": best,
        "checks": {
            "a student >= 10x smaller within 1.5x teacher FID": {"value": round(best["size_ratio"], 2) if best else 0.0, "target": 10.0, "met": bool(best and best["size_ratio"] >= 10)},
        },
    }
    if args.plot:
        plot(sweep, Path(args.plot))
        sweep["meta"]["plot"] = args.plot
    atomic_write_json(Path(args.out), sweep)
    print(sweep_table(sweep))
    print(f"\nwrote {args.out}" + (f" and {args.plot}" if args.plot else "") + f" in {sweep['meta']['wall_time_s']:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
