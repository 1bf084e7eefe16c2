"""Distillation study: the committed student recipe against variants of its objective and its
discriminator, at equal steps, every student the seed's design (784,640 values).

    python scripts/distill_study.py                                   # 8 students x 2,000 steps, then scored
    python scripts/distill_study.py --train-only --only committed --threads 1   # one variant, side by side
    python scripts/distill_study.py --quick --out /tmp/study.json     # seconds: 3 steps each, n=64

Every variant starts from the committed recipe (α 0.75 on 7x7 + 14x14 + pixels, lr G 1e-3 /
D 2e-4, EMA 0.999, batch 128, bf16 autocast, seed 0) and changes what its entry in VARIANTS
says. No classifier enters any objective: the evaluation classifier only scores.

Each variant trains in its own folder under --runs with a training state every 500 steps, so
an interrupted study continues where it stopped (a finished variant with the same recipe is
scored, not retrained). Each student is scored with ganlab.metrics.evaluate_generator against
the teacher on the same z (n samples per sampling seed, MNIST test as reference). Writes JSON
(default checkpoints/distill-study.json); docs/results.md shows it (python scripts/results.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


from ganlab.cli import ArgumentParser, add_variant_study_arguments, run_main, setting, train_variant, variant_folder

R1 = {"r1_gamma": 10.0, "discriminator_dropout": 0.0}  # the teacher's discriminator settings
# label -> what differs from the committed recipe (TrainConfig fields)
VARIANTS: dict[str, dict] = {
    "committed": {},
    "R1 γ10, dropout 0": R1,
    "R1 + pixel L1": {**R1, "pixel_distance": "l1"},
    "R1 + perceptual (D features)": {**R1, "perceptual_weight": 10.0},
    "R1 + teacher as real (half)": {**R1, "teacher_as_real": 0.5},
    "R1 + α 0.9 → 0.5": {**R1, "alpha": 0.9, "alpha_final": 0.5},
    "pixel L1 (committed discriminator)": {"pixel_distance": "l1"},
    "R1 + pixel L1 + α 0.9 → 0.5": {**R1, "pixel_distance": "l1", "alpha": 0.9, "alpha_final": 0.5},
}
CHECKPOINT_EVERY = 500


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=setting("steps"), default=2000, help="training steps of every student (equal budget)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="bf16", help="training precision (bf16: autocast, native on AVX512-BF16/AMX CPUs)")
    parser.add_argument("--teacher", default="teacher", help="teacher checkpoint (name or path)")
    add_variant_study_arguments(parser, variants=VARIANTS, runs="runs/distill-study", out="checkpoints/distill-study.json", trained="student")
    args = parser.parse_args()

    import torch

    from ganlab.checkpoints import atomic_write_json, check_output_file, check_output_folder, load_checkpoint, load_classifier, resolve_model_path
    from ganlab.config import COMMITTED, TrainConfig
    from ganlab.data import load_mnist, to_unit_range, training_images
    from ganlab.metrics import evaluate_generator, make_reference, summarize
    from ganlab.precision import machine
    from ganlab.report import distill_study_table
    from ganlab.trainer import resolve_device

    limit, batch = 0, 128
    if args.quick:
        args.steps, batch, args.n, args.seeds, limit = min(args.steps, 3), 16, min(args.n, 64), args.seeds[:1], 512
    torch.set_num_threads(args.threads)
    device = str(resolve_device(args.device))
    started = time.perf_counter()
    runs = Path(args.runs)
    out = None if args.train_only else check_output_file(args.out, (".json",))  # before an hour of training, not after
    for label in args.only:
        check_output_folder(variant_folder(runs, label))  # an unwritable place fails now, not after an hour
    teacher = load_checkpoint(resolve_model_path(args.teacher), expect="generator", device=device)
    if not args.train_only:
        classifier = load_classifier(args.classifier, device=device)
        test_images, _ = load_mnist("test", args.data)
        reference = make_reference(classifier, to_unit_range(test_images[: 1000 if args.quick else None]))
    images = training_images("mnist", root=args.data, limit=limit)
    base = TrainConfig(
        mode="distill", steps=args.steps, batch_size=batch, alpha=COMMITTED.alpha, layers=COMMITTED.layers,
        lr_generator=COMMITTED.lr_generator, lr_discriminator=COMMITTED.lr_discriminator, ema_decay=COMMITTED.ema_decay,
        sample_every=0, checkpoint_every=0 if args.quick else CHECKPOINT_EVERY, num_threads=args.threads, device=device,
        precision=args.precision,
    )  # fmt: skip

    variants = []
    for label in args.only:
        folder = variant_folder(runs, label)
        train_time, train_threads = train_variant(label, base.replace(**VARIANTS[label]), folder, images=images, teacher=teacher, threads=args.threads)
        if args.train_only:
            continue
        student = load_checkpoint(folder, expect="generator", device=device)
        scores = [evaluate_generator(student, classifier, reference, args.n, seed, teacher=teacher) for seed in args.seeds]
        summary = summarize(scores)
        variants.append({"label": label, "changes": VARIANTS[label], "folder": str(folder), "train_time_s": train_time, "train_threads": train_threads, "summary": summary, "runs": scores})
        print(f"{label}: FID {summary['fid']['mean']:.1f}, agreement {summary['label_agreement']['mean']:.3f}", file=sys.stderr)

    if args.train_only:
        print(f"trained: {', '.join(args.only)}; run without --train-only to score them", file=sys.stderr)
        return
    teacher_scores = summarize([evaluate_generator(teacher, classifier, reference, args.n, seed) for seed in args.seeds])
    result = {
        "meta": {
            "steps": args.steps, "batch_size": batch, "n": args.n, "seeds": args.seeds, "recipe": base.to_dict(),
            "teacher": args.teacher, "teacher_summary": teacher_scores, "device": device, "threads": args.threads,
            "quick": args.quick, "torch": torch.__version__, "machine": machine(),
            "wall_time_s": round(time.perf_counter() - started, 1),
        },
        "variants": variants,
    }  # fmt: skip
    atomic_write_json(out, result)
    print(distill_study_table(result))


if __name__ == "__main__":
    run_main(main)
