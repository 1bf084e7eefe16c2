"""Shared pieces of the command-line scripts: validated argument types and a clean exit on bad input."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

from ganlab.errors import GanlabError


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad value in one line (no usage dump) and exits with status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see --help)\n")


def run_main(main: Callable[[], int | None]) -> None:
    """Run a script's main: a GanlabError becomes one line on stderr and exit status 2."""
    try:
        code = main()
    except GanlabError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer in [{low}, {high}], got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer in [{low}, {high}], got {value}")
        return value

    return parse


def float_in(low: float, high: float, *, open_low: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= low if open_low else value < low
        if not math.isfinite(value) or too_low or value > high:
            bracket = "(" if open_low else "["
            raise argparse.ArgumentTypeError(f"expected a number in {bracket}{low}, {high}], got {text}")
        return value

    return parse


def add_training_arguments(parser: ArgumentParser, *, steps: int, lr: float, seed: int = 0) -> None:
    """Options every training script shares."""
    from ganlab.config import MAX_BATCH_SIZE, MAX_STEPS, PRECISIONS

    parser.add_argument("--steps", type=int_in(1, MAX_STEPS), default=steps, help="optimisation steps")
    parser.add_argument("--batch-size", type=int_in(1, MAX_BATCH_SIZE), default=128)
    parser.add_argument("--lr-g", type=float_in(0, 1, open_low=True), default=lr, help="generator learning rate")
    parser.add_argument("--lr-d", type=float_in(0, 1, open_low=True), default=2e-4, help="discriminator learning rate")
    parser.add_argument("--seed", type=int_in(0, 2**31 - 1), default=seed)
    parser.add_argument("--ema", type=float_in(0, 0.99999), default=0.0, help="EMA decay of G's weights (0: off)")
    parser.add_argument("--lr-decay", action="store_true", help="linear decay to 0 over the second half")
    parser.add_argument("--r1", type=float_in(0, 1000), default=0.0, help="R1 penalty gamma on real images (0: off)")
    parser.add_argument("--d-dropout", type=float_in(0, 0.95), default=0.3, help="discriminator dropout (original 0.3)")
    parser.add_argument("--time-budget", type=float_in(0, 7 * 24 * 3600), default=0.0, help="stop after this many seconds (0: no limit)")
    parser.add_argument("--sample-every", type=int_in(0, MAX_STEPS), default=500)
    parser.add_argument("--checkpoint-every", type=int_in(0, MAX_STEPS), default=0, help="also write a training state every N steps (0: model only, at the end)")
    parser.add_argument("--resume", default=None, metavar="DIR", help="continue from DIR's training state (same flags; DIR is also the default --out)")
    parser.add_argument("--threads", type=int_in(0, 1024), default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="bf16: forward passes under bfloat16 autocast (fast on CPUs with AMX)")
    parser.add_argument("--data", default=None, help="MNIST root (default $GANLAB_DATA or ./data)")
    parser.add_argument("--limit", type=int_in(0, 60000), default=0, help="train on the first N images (0: all)")
    parser.add_argument("--dry-run", action="store_true", help="a few steps on synthetic images, no MNIST needed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def train_config_from_args(args: argparse.Namespace, mode: str, **extra):
    """The TrainConfig a training script's shared options describe; --dry-run caps steps and batch."""
    from ganlab.config import TrainConfig

    return TrainConfig(
        mode=mode,
        steps=min(args.steps, 5) if args.dry_run else args.steps,
        batch_size=min(args.batch_size, 32) if args.dry_run else args.batch_size,
        lr_generator=args.lr_g,
        lr_discriminator=args.lr_d,
        ema_decay=args.ema,
        lr_decay=args.lr_decay,
        r1_gamma=args.r1,
        discriminator_dropout=args.d_dropout,
        seed=args.seed,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        time_budget_s=args.time_budget,
        num_threads=args.threads,
        device=args.device,
        precision=args.precision,
        **extra,
    )


def run_training(trainer, out, resume: str | None = None) -> None:
    """Run a trainer in the foreground (first continuing from `resume`'s state) and print how it ended."""
    if resume:
        step = trainer.load_training_state(resume)
        print(f"resuming at step {step} from {resume}")
    finished = trainer.run()
    print(f"{finished.reason}: {finished.step} steps in {finished.elapsed:.1f} s -> {out}")
    print("final losses: " + ", ".join(f"{k}={v:.4f}" for k, v in finished.losses.items()))


def add_recipe_arguments(parser: ArgumentParser) -> None:
    """The distillation recipe and evaluation options shared by the ablation and the width sweep."""
    from ganlab.config import DISTILL_LAYERS, TrainConfig

    defaults = TrainConfig()
    parser.add_argument("--alpha", type=float_in(0, 1), default=defaults.alpha, help="alpha of the distilled recipe")
    parser.add_argument("--layers", nargs="+", choices=DISTILL_LAYERS, default=list(defaults.layers), help="layers of the distilled recipe")
    parser.add_argument("--lr-g", type=float_in(0, 1, open_low=True), default=defaults.lr_generator)
    parser.add_argument("--lr-d", type=float_in(0, 1, open_low=True), default=defaults.lr_discriminator)
    parser.add_argument("--ema", type=float_in(0, 0.99999), default=defaults.ema_decay)
    parser.add_argument("--n", type=int_in(10, 60000), default=5000, help="samples per evaluation")
    parser.add_argument("--classifier", default=None, help="evaluation classifier (default checkpoints/classifier)")
    parser.add_argument("--threads", type=int_in(1, 1024), default=2)
    parser.add_argument("--data", default=None, help="MNIST root (default $GANLAB_DATA or ./data)")


def distillation_bench(args: argparse.Namespace, *, limit: int = 0):
    """(teacher, classifier, reference, training images) for scripts that distil and score students.

    Reads --teacher, --classifier, --data and --quick; the reference is the MNIST test set's
    classifier features (its first 1000 images with --quick).
    """
    from ganlab.checkpoints import load_checkpoint, resolve_model_path
    from ganlab.classifier import load_classifier
    from ganlab.data import load_mnist, to_unit_range, training_images
    from ganlab.metrics import make_reference

    teacher = load_checkpoint(resolve_model_path(args.teacher), expect="generator")
    classifier = load_classifier(args.classifier)
    test_images, _ = load_mnist("test", args.data)
    reference = make_reference(classifier, to_unit_range(test_images[: 1000 if args.quick else None]))
    images = training_images("mnist", root=args.data, limit=limit)
    return teacher, classifier, reference, images
