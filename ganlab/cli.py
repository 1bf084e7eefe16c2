"""Shared pieces of the command-line scripts: argument types checked by config's limits, a clean exit
on bad input, the body every training script shares, and the set-up of the ablation and the sweep."""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganlab.config import Limit
from ganlab.errors import GanlabError


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad value in one line (no usage dump) and exits with status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see --help)\n")


def run_main(main: Callable[[], int | None]) -> None:
    """Run a script's main (the app's too): a GanlabError becomes one line on stderr and exit
    status 2; before it, the process keeps freed tensor memory for reuse (ganlab.allocator)."""
    from ganlab import allocator

    allocator.tune()
    try:
        code = main()
    except GanlabError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def bounded(limit: Limit, *, high: float | None = None) -> Callable[[str], Any]:
    """An argparse type that reads a number and checks it with `limit` (config's one validator)."""

    def parse(text: str) -> Any:
        try:
            return limit.check(text, high=high, text=True)
        except GanlabError:
            raise argparse.ArgumentTypeError(f"expected {limit.describe(high)}, got {text!r}") from None

    return parse


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An integer argument in [low, high] (for options no config field bounds)."""
    return bounded(Limit("value", low, high, integer=True))


def float_in(low: float, high: float, *, open_low: bool = False) -> Callable[[str], float]:
    """A number argument in [low, high] or (low, high] (for options no config field bounds)."""
    return bounded(Limit("value", low, high, open_low=open_low))


def setting(name: str) -> Callable[[str], Any]:
    """The argparse type of TrainConfig field `name`: its declared range, nothing else."""
    from ganlab.config import TrainConfig, limit

    return bounded(limit(TrainConfig, name))


def add_dataset_arguments(parser: ArgumentParser) -> None:
    """--dataset (a name in ganlab.datasets) and --data (where datasets live on disk)."""
    from ganlab.datasets import DATASETS, DEFAULT_DATASET

    parser.add_argument("--dataset", choices=list(DATASETS), default=DEFAULT_DATASET, help=f"what to train on or score against (default {DEFAULT_DATASET})")
    parser.add_argument("--data", default=None, help="data root (default $GANLAB_DATA or ./data)")


def add_training_arguments(parser: ArgumentParser, *, steps: int, lr: float, seed: int = 0) -> None:
    """Options every training script shares."""
    from ganlab.config import PRECISIONS

    parser.add_argument("--steps", type=setting("steps"), default=steps, help="optimisation steps")
    parser.add_argument("--batch-size", type=setting("batch_size"), default=128, help="images per step (at least 2, for BatchNorm)")
    parser.add_argument("--lr-g", type=setting("lr_generator"), default=lr, help="generator learning rate")
    parser.add_argument("--lr-d", type=setting("lr_discriminator"), default=2e-4, help="discriminator learning rate")
    parser.add_argument("--seed", type=setting("seed"), default=seed)
    parser.add_argument("--ema", type=setting("ema_decay"), default=0.0, help="EMA decay of G's weights (0: off)")
    parser.add_argument("--lr-decay", action="store_true", help="linear decay to 0 over the second half")
    parser.add_argument("--r1", type=setting("r1_gamma"), default=0.0, help="R1 penalty gamma on real images (0: off)")
    parser.add_argument("--d-dropout", type=setting("discriminator_dropout"), default=0.3, help="discriminator dropout (original 0.3)")
    parser.add_argument("--spectral-norm", action="store_true", help="spectral normalisation of the discriminator's layers")
    parser.add_argument("--time-budget", type=setting("time_budget_s"), default=0.0, help="stop after this many seconds (0: no limit)")
    parser.add_argument("--sample-every", type=setting("sample_every"), default=500)
    parser.add_argument("--checkpoint-every", type=setting("checkpoint_every"), default=0, help="also write a training state every N steps (0: model only, at the end)")
    parser.add_argument("--keep-every", type=setting("keep_every"), default=0, help="also keep the model of every Nth step in OUT/snapshots/step-N (0: off)")
    parser.add_argument("--resume", default=None, metavar="DIR", help="continue from DIR's training state (same flags; DIR is also the default --out)")
    parser.add_argument("--threads", type=setting("num_threads"), default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="bf16: forward passes under bfloat16 autocast (fast on CPUs with AMX)")
    add_dataset_arguments(parser)
    parser.add_argument("--limit", type=int_in(0, 1_000_000), default=0, help="train on the first N images (0: all)")
    parser.add_argument("--dry-run", action="store_true", help="a few steps on synthetic images, no dataset needed")
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
        spectral_norm=args.spectral_norm,
        seed=args.seed,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        keep_every=args.keep_every,
        time_budget_s=args.time_budget,
        num_threads=args.threads,
        device=args.device,
        precision=args.precision,
        dataset=args.dataset,
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


def training_parser(doc: str, *, steps: int, lr: float) -> ArgumentParser:
    """The parser of a training script: its docstring as help, and every shared training option."""
    parser = ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_arguments(parser, steps=steps, lr=lr)
    return parser


def train(
    args: argparse.Namespace,
    mode: str,
    *,
    default_out: str,
    load_teacher: Callable[[], Any] | None = None,
    student_width: int = 128,
    extra_info: dict[str, Any] | None = None,
    inputs: tuple[Any, ...] = (),
    **config_changes: Any,
) -> None:
    """The body train_teacher.py and distill.py share: flags -> config, data, output folder, a
    trainer with a progress bar, then the run (continuing from --resume when given).

    The output folder is --out, else the --resume folder, else `default_out` (a temporary
    folder for --dry-run). The config and the output folder are checked first, so bad flags
    fail before anything loads. `inputs` (the teacher's folder) may not be, hold or lie in the output.
    """
    from ganlab.outputs import check_input_path, check_output_folder
    from ganlab.data import data_root, training_images
    from ganlab.reporting import TqdmReporter
    from ganlab.trainer import new_trainer

    config = train_config_from_args(args, mode, **config_changes)
    # an empty --out is a mistake (an unset $OUT), never "not given": the guard refuses it
    if args.out is not None:
        out = Path(args.out) if args.out.strip() else args.out
    elif args.resume is not None:
        out = Path(args.resume)
    else:
        out = Path(tempfile.mkdtemp(prefix="ganlab-dry-")) if args.dry_run else Path(default_out)
    # a file in the way, an unwritable place or an input (the teacher, the data) fails now, not after training
    out = check_output_folder(out, inputs=[*inputs, data_root(args.data)])
    if args.resume is not None:
        check_input_path(args.resume, "--resume folder")
    teacher = load_teacher() if load_teacher is not None else None
    images = training_images("synthetic" if args.dry_run else config.dataset, root=args.data, limit=args.limit, seed=args.seed)
    trainer = new_trainer(
        config,
        images=images,
        teacher=teacher,
        student_width=student_width,
        output_dir=out,
        on_event=TqdmReporter(mode, disable=args.quiet),
        extra_info=extra_info,
    )
    run_training(trainer, out, args.resume)


def add_study_arguments(parser: ArgumentParser, *, steps: int, out: str) -> None:
    """The options the ablation and the width sweep share: teacher, budget, recipe, scoring, output."""
    from ganlab.config import DISTILL_LAYERS, TrainConfig

    defaults = TrainConfig()
    parser.add_argument("--teacher", default="teacher", help="teacher checkpoint (name or path)")
    parser.add_argument("--steps", type=setting("steps"), default=steps, help="training steps of every student (equal budget)")
    parser.add_argument("--batch-size", type=setting("batch_size"), default=defaults.batch_size)
    parser.add_argument("--alpha", type=setting("alpha"), default=defaults.alpha, help="alpha of the distilled recipe")
    parser.add_argument("--layers", nargs="+", choices=DISTILL_LAYERS, default=list(defaults.layers), help="layers of the distilled recipe")
    parser.add_argument("--lr-g", type=setting("lr_generator"), default=defaults.lr_generator)
    parser.add_argument("--lr-d", type=setting("lr_discriminator"), default=defaults.lr_discriminator)
    parser.add_argument("--ema", type=setting("ema_decay"), default=defaults.ema_decay)
    parser.add_argument("--n", type=int_in(10, 60000), default=5000, help="samples per evaluation")
    parser.add_argument("--classifier", default=None, help="evaluation classifier (default checkpoints/classifier)")
    parser.add_argument("--threads", type=int_in(1, 1024), default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto: where the students train and are scored")
    parser.add_argument("--data", default=None, help="MNIST root (default $GANLAB_DATA or ./data)")
    parser.add_argument("--out", default=out)
    parser.add_argument("--quick", action="store_true", help="3 steps of batch 16 per student, n=64: a smoke run")


@dataclass
class Study:
    """What a script that distils and scores students starts from (see `start_study`)."""

    args: argparse.Namespace
    teacher: Any  # the frozen teacher Generator
    classifier: Any  # the evaluation classifier
    reference: Any  # MNIST test features, ganlab.metrics.make_reference
    images: Any  # training images
    config: Any  # the recipe as a TrainConfig (mode distill, no sampling)
    started: float = field(default_factory=time.perf_counter)

    def meta(self, **extra: Any) -> dict[str, Any]:
        """The "meta" block of the study's JSON: budget, recipe, machine, wall time."""
        import torch

        from ganlab.checkpoints import display_path, resolve_model_path
        from ganlab.precision import machine

        args = self.args
        return {
            "teacher": display_path(resolve_model_path(args.teacher)),
            "steps": args.steps,
            "batch_size": args.batch_size,
            "n": args.n,
            "recipe": self.config.to_dict(),
            "threads": args.threads,
            "quick": args.quick,
            "torch": torch.__version__,
            "machine": machine(),  # timings differ ~3x between the CPUs this project has run on
            "wall_time_s": round(time.perf_counter() - self.started, 1),
            **extra,
        }


def start_study(args: argparse.Namespace, **config_changes: Any) -> Study:
    """Apply --quick (3 steps of batch 16, n 64, 512 images), fix the thread count, load the
    teacher, the classifier and its MNIST test reference (1000 images with --quick) and the
    training images, and build the recipe's TrainConfig."""
    import torch

    from ganlab.checkpoints import load_checkpoint, load_classifier, resolve_model_path
    from ganlab.config import TrainConfig
    from ganlab.data import load_mnist, to_unit_range, training_images
    from ganlab.metrics import make_reference
    from ganlab.trainer import resolve_device

    limit = 0
    if args.quick:
        args.steps, args.batch_size, args.n, limit = min(args.steps, 3), min(args.batch_size, 16), min(args.n, 64), 512
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    device = str(resolve_device(args.device))
    config = TrainConfig(
        mode="distill", steps=args.steps, batch_size=args.batch_size, lr_generator=args.lr_g, lr_discriminator=args.lr_d,
        alpha=args.alpha, layers=tuple(args.layers), ema_decay=args.ema, sample_every=0, device=device, **config_changes,
    )  # fmt: skip
    teacher = load_checkpoint(resolve_model_path(args.teacher), expect="generator", device=device)
    classifier = load_classifier(args.classifier, device=device)
    test_images, _ = load_mnist("test", args.data)
    reference = make_reference(classifier, to_unit_range(test_images[: 1000 if args.quick else None]))
    images = training_images("mnist", root=args.data, limit=limit)
    return Study(args, teacher, classifier, reference, images, config, started)


def add_variant_study_arguments(parser: ArgumentParser, *, variants: dict, runs: str, out: str, trained: str) -> None:
    """The options the teacher recipe study and the distillation study share: which variants, where
    they train (resumably) and how they are scored; `trained` names what each variant trains."""
    parser.add_argument("--only", nargs="+", choices=list(variants), default=list(variants), metavar="VARIANT", help="a subset of: " + "; ".join(variants))
    parser.add_argument("--n", type=int_in(10, 60000), default=10000, help="samples per sampling seed")
    parser.add_argument("--seeds", type=setting("seed"), nargs="+", default=[0, 1, 2], help="sampling seeds")
    parser.add_argument("--threads", type=int_in(1, 1024), default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (training; scoring runs there too)")
    parser.add_argument("--runs", default=runs, help="one folder per variant (resumable)")
    parser.add_argument("--data", default=None, help="MNIST root (default $GANLAB_DATA or ./data)")
    parser.add_argument("--classifier", default=None, help="evaluation classifier (default checkpoints/classifier)")
    parser.add_argument("--out", default=out)
    parser.add_argument("--quick", action="store_true", help=f"3 steps of batch 16 per {trained}, n=64: a smoke run")
    parser.add_argument("--train-only", action="store_true", help="train (or resume) the variants and stop: no scoring, no JSON (for variants trained side by side, scored by a later run)")


def variant_folder(runs: Path, label: str) -> Path:
    """A study variant's folder: 'R1 γ10, dropout 0.3' -> runs/r1-g10-dropout-0-3."""
    return runs / re.sub(r"[^a-z0-9]+", "-", label.lower().replace("γ", "g").replace("α", "a")).strip("-")


def finished_run(folder: Path, config: Any) -> dict[str, Any] | None:
    """The training.json of a run of exactly `config`'s recipe and length that finished in `folder`, else None.

    Only how a run is carried out (threads, device, checkpoints: training_state.RESUMABLE_CHANGES)
    may differ; a folder that holds another recipe is trained again, not scored as this one.
    """
    import json

    from ganlab.checkpoints import read_training_info
    from ganlab.training_state import RESUMABLE_CHANGES

    if not (folder / "training.json").is_file():
        return None
    training = read_training_info(folder)
    recorded = training.get("train_config") if isinstance(training.get("train_config"), dict) else {}
    saved = {**json.loads(json.dumps(type(config)().to_dict())), **recorded}
    wanted = json.loads(json.dumps(config.to_dict()))
    same = all(saved.get(key) == value for key, value in wanted.items() if key not in RESUMABLE_CHANGES)
    finished = training.get("status") in ("completed", "time budget") and training.get("steps") == config.steps
    return training if same and finished else None


def train_variant(label: str, config: Any, folder: Path, *, images: Any, teacher: Any = None, threads: int) -> tuple[float | None, int | None]:
    """Train one study variant in `folder` (continuing its training state if any), or reuse it
    when it has finished with this recipe; (training seconds, threads it trained on)."""
    from ganlab.reporting import TqdmReporter
    from ganlab.trainer import new_trainer

    training = finished_run(folder, config)
    if training is not None:
        print(f"{label}: trained before ({folder}), scoring it", file=sys.stderr)
        return training.get("wall_time_s"), training.get("train_config", {}).get("num_threads")
    trainer = new_trainer(config, images=images, teacher=teacher, output_dir=folder, on_event=TqdmReporter(label))
    if (folder / "training-state.safetensors").is_file():
        print(f"{label}: resuming at step {trainer.load_training_state(folder)}", file=sys.stderr)
    return round(trainer.run().elapsed, 1), threads
