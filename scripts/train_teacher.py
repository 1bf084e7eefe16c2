"""Train the teacher DCGAN on MNIST and save it as a checkpoint folder.

    python scripts/train_teacher.py --steps 8000 --ema 0.999 --lr-decay --out checkpoints/teacher
    python scripts/train_teacher.py --dry-run        # seconds, synthetic data
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganlab.cli import (  # noqa: E402
    ArgumentParser,
    add_training_arguments,
    float_in,
    run_main,
    run_training,
    train_config_from_args,
)


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_arguments(parser, steps=12000, lr=2e-4)
    parser.add_argument("--real-label", type=float_in(0.5, 1.0), default=1.0, help="< 1: one-sided label smoothing")
    parser.add_argument("--out", default=None, help="output folder (default checkpoints/teacher; a temp folder for --dry-run)")
    args = parser.parse_args()

    from ganlab.data import training_images
    from ganlab.events import TqdmReporter
    from ganlab.trainer import new_trainer

    config = train_config_from_args(args, "teacher", real_label=args.real_label)
    images = training_images("synthetic" if args.dry_run else "mnist", root=args.data, limit=args.limit, seed=args.seed)
    out = Path(args.out) if args.out else Path(args.resume) if args.resume else (Path(tempfile.mkdtemp(prefix="ganlab-dry-")) if args.dry_run else Path("checkpoints/teacher"))
    trainer = new_trainer(config, images=images, output_dir=out, on_event=TqdmReporter("teacher", disable=args.quiet))
    run_training(trainer, out, args.resume)


if __name__ == "__main__":
    run_main(main)
