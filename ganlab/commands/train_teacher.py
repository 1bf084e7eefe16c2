"""Train the teacher DCGAN on MNIST and save it as a checkpoint folder.

    python scripts/train_teacher.py --steps 8000 --ema 0.999 --lr-decay --out checkpoints/teacher
    python scripts/train_teacher.py --steps 30000 --checkpoint-every 500 --out runs/teacher   # resumable
    python scripts/train_teacher.py --resume runs/teacher --steps 30000 ...                 # same flags
    python scripts/train_teacher.py --dry-run        # seconds, synthetic data
"""

from __future__ import annotations


from ganlab.cli import float_in, run_main, train, training_parser


def main() -> None:
    parser = training_parser(__doc__, steps=12000, lr=2e-4)
    parser.add_argument("--real-label", type=float_in(0.5, 1.0), default=1.0, help="< 1: one-sided label smoothing")
    parser.add_argument("--out", default=None, help="output folder (default checkpoints/teacher; a temp folder for --dry-run)")
    args = parser.parse_args()
    train(args, "teacher", default_out="checkpoints/teacher", real_label=args.real_label)


def run() -> None:
    """The `ganlab-train` console command."""
    run_main(main)


if __name__ == "__main__":
    run()
