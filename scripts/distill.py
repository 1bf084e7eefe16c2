"""Distil the teacher into a student: (1 - alpha) * adversarial + alpha * feature MSE.

    python scripts/distill.py --steps 3000 --out runs/student            # the original recipe (alpha 0.5)
    python scripts/distill.py --alpha 0 --out runs/baseline               # no-distillation baseline
    python scripts/distill.py --layers 14x14 7x7 pixels --alpha 0.9 --lr-g 1e-3
    python scripts/distill.py --dry-run                                   # seconds, synthetic data
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
    int_in,
    run_main,
    run_training,
    train_config_from_args,
)


def main() -> None:
    from ganlab.config import DISTILL_LAYERS

    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_arguments(parser, steps=3000, lr=2e-4)
    parser.add_argument("--alpha", type=float_in(0, 1), default=0.5, help="distillation weight in [0, 1] (0: baseline)")
    parser.add_argument("--layers", nargs="+", default=["14x14"], metavar="LAYER", help=f"distilled layers: {', '.join(DISTILL_LAYERS)}")
    parser.add_argument("--teacher", default="teacher", help="teacher checkpoint: 'teacher' (bundled) or a path")
    parser.add_argument("--width", type=int_in(2, 1024), default=128, help="student width at 7x7 (original 128)")
    parser.add_argument("--out", default=None, help="output folder (default runs/student; a temp folder for --dry-run)")
    args = parser.parse_args()

    from ganlab.checkpoints import load_checkpoint, resolve_model_path
    from ganlab.config import GeneratorConfig
    from ganlab.data import training_images
    from ganlab.events import TqdmReporter
    from ganlab.models import Generator
    from ganlab.trainer import new_trainer

    config = train_config_from_args(args, "distill", alpha=args.alpha, layers=tuple(args.layers))
    teacher_path = resolve_model_path(args.teacher)
    if args.dry_run and not teacher_path.exists():
        teacher = Generator(GeneratorConfig.teacher())  # an untrained stand-in keeps dry runs offline
    else:
        teacher = load_checkpoint(teacher_path, expect="generator")
    images = training_images("synthetic" if args.dry_run else "mnist", root=args.data, limit=args.limit, seed=args.seed)
    out = Path(args.out) if args.out else Path(args.resume) if args.resume else (Path(tempfile.mkdtemp(prefix="ganlab-dry-")) if args.dry_run else Path("runs/student"))
    trainer = new_trainer(
        config,
        images=images,
        teacher=teacher,
        student_width=args.width,
        output_dir=out,
        on_event=TqdmReporter("distill", disable=args.quiet),
        extra_info={"teacher": str(args.teacher), "student_width": args.width},
    )
    run_training(trainer, out, args.resume)


if __name__ == "__main__":
    run_main(main)
