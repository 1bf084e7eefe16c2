"""Train the teacher DCGAN on MNIST and save it as a checkpoint folder.

    python scripts/train_teacher.py --steps 12000 --out checkpoints/teacher
    python scripts/train_teacher.py --dry-run        # seconds, synthetic data
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganlab.cli import ArgumentParser, add_training_arguments, float_in, run_main  # noqa: E402


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_arguments(parser, steps=12000, lr=2e-4)
    parser.add_argument("--real-label", type=float_in(0.5, 1.0), default=1.0, help="< 1: one-sided label smoothing")
    parser.add_argument("--lr-decay", action="store_true", help="linear decay to 0 over the second half")
    parser.add_argument("--out", default=None, help="output folder (default checkpoints/teacher; a temp folder for --dry-run)")
    args = parser.parse_args()

    from ganlab.config import TrainConfig
    from ganlab.data import training_images
    from ganlab.events import TqdmReporter
    from ganlab.trainer import new_trainer

    config = TrainConfig(
        mode="teacher",
        steps=min(args.steps, 5) if args.dry_run else args.steps,
        batch_size=min(args.batch_size, 32) if args.dry_run else args.batch_size,
        lr_generator=args.lr_g,
        lr_discriminator=args.lr_d,
        real_label=args.real_label,
        ema_decay=args.ema,
        lr_decay=args.lr_decay,
        seed=args.seed,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        time_budget_s=args.time_budget,
        num_threads=args.threads,
        device=args.device,
    )
    images = training_images("synthetic" if args.dry_run else "mnist", root=args.data, limit=args.limit, seed=args.seed)
    out = Path(args.out) if args.out else (Path(tempfile.mkdtemp(prefix="ganlab-dry-")) if args.dry_run else Path("checkpoints/teacher"))
    trainer = new_trainer(config, images=images, output_dir=out, on_event=TqdmReporter("teacher", disable=args.quiet))
    finished = trainer.run()
    print(f"{finished.reason}: {finished.step} steps in {finished.elapsed:.1f} s -> {out}")
    print("final losses: " + ", ".join(f"{k}={v:.4f}" for k, v in finished.losses.items()))


if __name__ == "__main__":
    run_main(main)
