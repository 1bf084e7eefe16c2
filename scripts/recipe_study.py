"""Teacher recipe study: the plain recipe against R1 and spectral-norm discriminators, at equal steps.

    python scripts/recipe_study.py                               # 6 teachers x 6,000 steps, then scored
    python scripts/recipe_study.py --device cuda --steps 4000    # minutes on a GPU
    python scripts/recipe_study.py --only "R1 γ10, dropout 0" plain
    python scripts/recipe_study.py --quick --out /tmp/study.json # seconds: 3 steps each, n=64
    python scripts/recipe_study.py --train-only --only plain --threads 1   # one variant, side by side with others

Every variant trains the teacher generator exactly as designed (and the discriminator's original
layers: two 5x5 convolutions and a dense logit) from the same seed, with the same steps, batch,
learning rates, EMA (0.999) and LR decay; only the discriminator's regularisation differs.
Cost: a 6,000-step teacher takes ~70 min on a 2-core AVX2 EPYC (fp32), 35-45 min on a 2-core
AVX512 one (an R1 step costs ~1.25x a plain one), and about a minute on a GPU.

Each variant trains in its own folder under --runs with a training state every 500 steps, so
an interrupted study continues where it stopped when run again (a finished variant is scored,
not retrained). Each teacher is scored with ganlab.metrics.evaluate_generator (n samples per
sampling seed, the MNIST test set as reference). Writes JSON (default
checkpoints/recipe-study.json); docs/results.md shows it (python scripts/results.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


from ganlab.cli import ArgumentParser, add_variant_study_arguments, run_main, setting, train_variant, variant_folder

# label -> what differs from the plain recipe (TrainConfig fields)
VARIANTS: dict[str, dict] = {
    "plain": {},  # the original discriminator: dropout 0.3, no penalty
    "R1 γ1, dropout 0": {"r1_gamma": 1.0, "discriminator_dropout": 0.0},
    "R1 γ1, dropout 0.3": {"r1_gamma": 1.0},
    "R1 γ10, dropout 0": {"r1_gamma": 10.0, "discriminator_dropout": 0.0},
    "R1 γ10, dropout 0.3": {"r1_gamma": 10.0},
    "spectral norm, dropout 0": {"spectral_norm": True, "discriminator_dropout": 0.0},
}
CHECKPOINT_EVERY = 500


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=setting("steps"), default=6000, help="training steps of every teacher (equal budget)")
    parser.add_argument("--batch-size", type=setting("batch_size"), default=128)
    add_variant_study_arguments(parser, variants=VARIANTS, runs="runs/recipe-study", out="checkpoints/recipe-study.json", trained="teacher")
    args = parser.parse_args()

    import torch

    from ganlab.checkpoints import atomic_write_json, check_output_file, check_output_folder, load_checkpoint, load_classifier
    from ganlab.config import TrainConfig
    from ganlab.data import load_mnist, to_unit_range, training_images
    from ganlab.metrics import evaluate_generator, make_reference, summarize
    from ganlab.precision import machine
    from ganlab.report import recipe_study_table
    from ganlab.trainer import resolve_device

    limit = 0
    if args.quick:
        args.steps, args.batch_size, args.n, args.seeds, limit = min(args.steps, 3), min(args.batch_size, 16), min(args.n, 64), args.seeds[:1], 512
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    started = time.perf_counter()
    runs = Path(args.runs)
    out = None if args.train_only else check_output_file(args.out, (".json",))  # before an hour of training, not after
    for label in args.only:
        check_output_folder(variant_folder(runs, label))  # an unwritable place fails now, not after an hour
    if not args.train_only:
        classifier = load_classifier(args.classifier, device=str(device))
        test_images, _ = load_mnist("test", args.data)
        reference = make_reference(classifier, to_unit_range(test_images[: 1000 if args.quick else None]))
    images = training_images("mnist", root=args.data, limit=limit)
    base = TrainConfig(
        mode="teacher", steps=args.steps, batch_size=args.batch_size, lr_generator=2e-4, lr_discriminator=2e-4,
        ema_decay=0.999, lr_decay=True, sample_every=0, checkpoint_every=0 if args.quick else CHECKPOINT_EVERY,
        num_threads=args.threads, device=str(device), precision="fp32",
    )  # fmt: skip

    variants = []
    for label in args.only:
        folder = variant_folder(runs, label)
        train_time, train_threads = train_variant(label, base.replace(**VARIANTS[label]), folder, images=images, threads=args.threads)
        if args.train_only:
            continue
        teacher = load_checkpoint(folder, expect="generator", device=str(device))
        scores = [evaluate_generator(teacher, classifier, reference, args.n, seed) for seed in args.seeds]
        summary = summarize(scores)
        variants.append({"label": label, "changes": VARIANTS[label], "folder": str(folder), "train_time_s": train_time, "train_threads": train_threads, "summary": summary, "runs": scores})
        print(f"{label}: FID {summary['fid']['mean']:.1f}, recognizable {summary['recognizable']['mean']:.3f}", file=sys.stderr)

    if args.train_only:
        print(f"trained: {', '.join(args.only)}; run without --train-only to score them", file=sys.stderr)
        return
    result = {
        "meta": {
            "steps": args.steps, "batch_size": args.batch_size, "n": args.n, "seeds": args.seeds,
            "recipe": base.to_dict(), "device": str(device), "threads": args.threads, "quick": args.quick,
            "torch": torch.__version__, "machine": machine(), "wall_time_s": round(time.perf_counter() - started, 1),
        },
        "variants": variants,
    }  # fmt: skip
    atomic_write_json(out, result)
    print(recipe_study_table(result))


if __name__ == "__main__":
    run_main(main)
