"""Score the bundled generators in the evaluation classifier's feature space.

    python scripts/evaluate.py                       # every bundled generator; 3 seeds x 10k samples (~5 min, 2 cores)
    python scripts/evaluate.py --models teacher mine=runs/student --out runs/metrics.json
    python scripts/evaluate.py --quick --out /tmp/metrics.json   # seconds: small n and reference
    python scripts/evaluate.py --kid-only            # recompute only KID in an existing --out, from the same seeds
    python scripts/evaluate.py --dataset fashion-mnist   # its teacher, student and baseline -> checkpoints/fashion-mnist/metrics.json

Every model is compared with the dataset's 10k test images, next to the real-vs-real floor
(n train images vs the same test images, the best any generator can do at this n).
Each number is mean ± std over sampling seeds; students are also compared with the
teacher on the same z (pixel MSE, label agreement). Writes JSON (default
checkpoints/metrics.json for MNIST) and prints a markdown table.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ganlab.checkpoints import REPO_ROOT
from ganlab.cli import ArgumentParser, add_dataset_arguments, int_in, run_main, setting

LABELS = {
    "teacher": "teacher",
    "student": "student (distilled)",
    "baseline": "baseline student (α = 0)",
    # the original design's loss (0.5/0.5, 14x14 only) with the committed pair's optimiser and steps
    "original": "student, original loss (α = 0.5, 14x14)",
}
# The earlier, shorter pairs (the committed recipe before the distillation study, fp32 at 3,000
# steps; bf16 with a decaying learning rate at 6,000): how much of the gain is the recipe and how
# much the length, each pair at equal steps
SHORTER = {
    "student (distilled), 3000 steps": "student-3k",
    "baseline student (α = 0), 3000 steps": "student-baseline-3k",
    "student (distilled), 6000 steps": "student-6k",
    "baseline student (α = 0), 6000 steps": "student-baseline-6k",
}
CHECKPOINTS = REPO_ROOT / "checkpoints"
DEFAULT_MODELS = (
    "teacher", "student", "baseline", "original",
    *(f"{label}={CHECKPOINTS / folder}" for label, folder in SHORTER.items()),
)  # fmt: skip
OTHER_DATASETS_MODELS = ("teacher", "student", "baseline")  # another dataset's bundled models: one pair and its teacher


def parse_model(spec: str, dataset: str = "mnist") -> tuple[str, Path]:
    """'teacher' | 'LABEL=PATH' | 'PATH' -> (label, checkpoint path); bundled names are `dataset`'s."""
    from ganlab.checkpoints import resolve_model_path

    if "=" in spec:  # the last "=": labels such as "baseline (α = 0)" may hold one
        label, _, path = spec.rpartition("=")
        return label, resolve_model_path(path, dataset)
    return LABELS.get(spec, Path(spec).name or spec), resolve_model_path(spec, dataset)


def read_metrics_file(path: Path) -> dict:
    """An earlier evaluate.py output, every field --kid-only reads checked by type (one line if not)."""
    from ganlab.checkpoints import read_json
    from ganlab.errors import GanlabError

    if not path.is_file():
        raise GanlabError(f"--kid-only rewrites KID in an existing {path}, and there is none: run without --kid-only first")
    metrics = read_json(path, max_bytes=64 * 1024 * 1024)
    entries = [metrics.get("floor")] + list(metrics.get("models", {}).values()) if isinstance(metrics, dict) and isinstance(metrics.get("models"), dict) else None
    runs_ok = entries is not None and all(
        isinstance(entry, dict) and isinstance(entry.get("runs"), list)
        and all(isinstance(run, dict) and type(run.get("n")) is int and type(run.get("seed")) is int for run in entry["runs"])
        for entry in entries
    )  # fmt: skip
    paths_ok = runs_ok and all(isinstance(entry.get("path"), str) for entry in metrics["models"].values())
    if not (paths_ok and isinstance(metrics.get("meta"), dict) and isinstance(metrics["meta"].get("reference"), str)):
        raise GanlabError(f"{path} is not an evaluate.py metrics file (meta.reference, floor and models with runs of n and seed); rerun without --kid-only")
    return metrics


def quality_checks(models: dict, dataset: str = "mnist") -> dict:
    """The quality targets for the bundled models, where present (reported, not asserted). The absolute
    ones (FID, recognizable) were set for MNIST; another dataset is held to the ratios only."""
    teacher, student, baseline = (models.get(LABELS[name]) for name in ("teacher", "student", "baseline"))
    fid = lambda entry: entry["summary"]["fid"]["mean"]  # noqa: E731
    found = {}
    # distilled vs baseline at equal steps: the committed pair, and each shorter pair
    pairs = [("", student, baseline)] + [
        (f" at {steps} steps", models.get(f"student (distilled), {steps} steps"), models.get(f"baseline student (α = 0), {steps} steps"))
        for steps in (3000, 6000)
    ]
    for where, distilled, plain in pairs:
        if distilled is not None and plain is not None:
            found[f"distilled FID <= 0.5x baseline's{where}"] = (fid(distilled) / fid(plain), 0.5, "<=")
    absolute = dataset == "mnist"
    if teacher is not None and absolute:
        found["teacher FID <= 40"] = (fid(teacher), 40, "<=")
        found["teacher recognizable >= 0.80"] = (teacher["summary"]["recognizable"]["mean"], 0.8, ">=")
    if student is not None:
        summary = student["summary"]
        if teacher is not None:
            found["distilled FID <= 1.3x teacher's (aim 1.15x)"] = (fid(student) / fid(teacher), 1.3, "<=")
        if absolute:
            found["student recognizable >= 0.82"] = (summary["recognizable"]["mean"], 0.82, ">=")
        if "label_agreement" in summary:
            found["teacher-student label agreement >= 0.9"] = (summary["label_agreement"]["mean"], 0.9, ">=")
    return {
        name: {"value": round(value, 4), "target": target, "met": value <= target if sense == "<=" else value >= target}
        for name, (value, target, sense) in found.items()
    }


def floor_images(train_images, n: int, seed: int):
    """The floor's real images for one seed: a random subset of n MNIST train images."""
    import torch

    order = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(seed))
    return train_images[order[:n]]


def recompute_kid(metrics: dict, classifier, reference, train_images) -> None:
    """Only KID (on standardised features), in place: every run of the floor and of each model is
    re-drawn from its seed and re-embedded; every other number is kept as it was measured."""
    from ganlab.checkpoints import REPO_ROOT, load_checkpoint
    from ganlab.data import to_unit_range
    from ganlab.metrics import embed, generate_images, standardized_kid, summarize
    from ganlab.sampling import noise

    def update(entry: dict, embedding_of) -> None:
        for run in entry["runs"]:
            run.pop("kid", None), run.pop("kid_subset_std", None)  # the raw-feature KID this replaces
            run.update(standardized_kid(embedding_of(run["n"], run["seed"]), reference, seed=run["seed"]))
        entry["summary"] = summarize(entry["runs"])

    update(metrics["floor"], lambda n, seed: embed(classifier, to_unit_range(floor_images(train_images, n, seed))))
    for label, entry in metrics["models"].items():
        generator = load_checkpoint(REPO_ROOT / entry["path"], expect="generator")
        update(entry, lambda n, seed: embed(classifier, generate_images(generator, noise(n, seed, generator.latent_dim))))
        print(f"{label}: KID {entry['summary']['kid_standardized']['mean']:.4f}", file=sys.stderr)


def _parser() -> ArgumentParser:
    parser = ArgumentParser(description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=None, metavar="MODEL", help="teacher, student, baseline (the --dataset's), a checkpoint path, or LABEL=PATH (default: every bundled one)")
    parser.add_argument("--teacher", default="teacher", help="the teacher students are compared with on the same z (name or path)")
    parser.add_argument("--classifier", default=None, help="evaluation classifier checkpoint (default: the dataset's, checkpoints/classifier for MNIST)")
    parser.add_argument("--n", type=int_in(10, 60000), default=10000, help="samples per model and seed")
    parser.add_argument("--seeds", type=setting("seed"), nargs="+", default=[0, 1, 2], help="sampling seeds (>= 3 for error bars)")
    parser.add_argument("--reference-size", type=int_in(10, 10000), default=10000, help="test images compared against")
    parser.add_argument("--threads", type=int_in(1, 1024), default=2, help="torch CPU threads")
    add_dataset_arguments(parser)
    parser.add_argument("--out", default=None, help="JSON output (default: metrics.json in the dataset's models folder, checkpoints/ for MNIST)")
    parser.add_argument("--quick", action="store_true", help="n=300, 1000 reference images: a seconds-long smoke run")
    parser.add_argument("--kid-only", action="store_true", help="recompute only KID in the existing --out file, keep the rest")
    return parser


def score_models(generators: dict, args, *, classifier, reference, teacher, teacher_path: Path) -> dict:
    """Each generator over every seed, with fidelity to the teacher on the same z (a teacher has none)."""
    from ganlab.checkpoints import display_path, read_training_info
    from ganlab.metrics import evaluate_generator, summarize
    from ganlab.models import count_parameters

    models = {}
    for label, (path, generator) in generators.items():
        training = read_training_info(path)
        is_teacher = training.get("mode") == "teacher" or (teacher is not None and path.resolve() == teacher_path.resolve())
        runs = [
            evaluate_generator(generator, classifier, reference, args.n, seed, teacher=None if is_teacher else teacher)
            for seed in args.seeds
        ]
        models[label] = {
            "path": display_path(path),
            "parameters": count_parameters(generator),
            "training": {key: training[key] for key in ("mode", "steps", "wall_time_s", "status") if key in training},
            "runs": runs,
            "summary": summarize(runs),
        }
        print(f"{label}: FID {models[label]['summary']['fid']['mean']:.2f}", file=sys.stderr)
    return models


def checked_inputs(args, dataset) -> tuple[list[tuple[str, Path]], Path, Path]:
    """(models, teacher, classifier) the flags name for `dataset` (its bundled ones by default), each
    of that dataset: a model or classifier of another is one line, not a table. Fills args' defaults."""
    from ganlab.checkpoints import check_same_dataset, resolve_model_path
    from ganlab.paths import models_file

    if args.models is None:
        args.models = list(DEFAULT_MODELS if dataset.name == "mnist" else OTHER_DATASETS_MODELS)
    if args.out is None:
        args.out = str(models_file(dataset.name, "metrics.json"))
    specs = [parse_model(spec, dataset.name) for spec in args.models]
    classifier_path = Path(args.classifier) if args.classifier else REPO_ROOT / dataset.classifier
    teacher_path = resolve_model_path(args.teacher, dataset.name)
    for role, path in [*((f"model {label!r}", path) for label, path in specs), ("teacher", teacher_path), ("evaluation classifier", classifier_path)]:
        if path.exists():
            check_same_dataset(path, dataset.name, role)
    return specs, teacher_path, classifier_path


def main() -> None:
    args = _parser().parse_args()
    if args.quick:
        args.n, args.reference_size = min(args.n, 300), min(args.reference_size, 1000)

    import torch

    from ganlab.checkpoints import atomic_write_json, display_path, load_checkpoint, load_classifier, read_training_info
    from ganlab.data import data_root, load_split, to_unit_range
    from ganlab.datasets import get_dataset
    from ganlab.errors import GanlabError
    from ganlab.metrics import evaluate_images, make_reference, summarize
    from ganlab.outputs import check_output_file
    from ganlab.report import metrics_table

    dataset = get_dataset(args.dataset)
    # every input named, then the output checked against them, before a second of work
    specs, teacher_path, classifier_path = checked_inputs(args, dataset)
    inputs = [path for _, path in specs] + [teacher_path, classifier_path, data_root(args.data)]
    out = check_output_file(args.out, (".json",), inputs=inputs)
    previous = read_metrics_file(out) if args.kid_only else None
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    classifier = load_classifier(classifier_path)
    test_images, _ = load_split(dataset.name, "test", args.data)
    reference = make_reference(classifier, to_unit_range(test_images[: args.reference_size]))
    reference_name = f"{dataset.title} test ({len(reference)} images)"
    train_images, _ = load_split(dataset.name, "train", args.data)
    if args.kid_only:
        metrics = previous
        if metrics["meta"]["reference"] != reference_name:
            raise GanlabError(f"{args.out} was measured against {metrics['meta']['reference']}: pass the same --reference-size")
        recompute_kid(metrics, classifier, reference, train_images)
        atomic_write_json(out, metrics)
        print(metrics_table(metrics))
        print(f"\nrewrote KID in {args.out} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        return
    # load every model first: a wrong path fails in a second, not after the floor's minutes
    generators = {}
    for label, path in specs:
        if label in generators:
            raise GanlabError(f"two models are labelled {label!r}: use LABEL=PATH")
        generators[label] = (path, load_checkpoint(path, expect="generator"))

    # 1. the floor: real train images vs the test reference, one random subset per seed
    floor_runs = [evaluate_images(to_unit_range(floor_images(train_images, args.n, seed)), classifier, reference, seed=seed) for seed in args.seeds]
    print(f"floor: FID {summarize(floor_runs)['fid']['mean']:.2f}", file=sys.stderr)
    # 2. the generators
    teacher = load_checkpoint(teacher_path, expect="generator") if teacher_path.exists() else None
    if teacher is None:
        print(f"note: no teacher at {teacher_path}; fidelity columns are left out", file=sys.stderr)
    models = score_models(generators, args, classifier=classifier, reference=reference, teacher=teacher, teacher_path=teacher_path)

    classifier_info = read_training_info(classifier_path)
    accuracy = f" (test accuracy {classifier_info['test_accuracy']:.4f})" if "test_accuracy" in classifier_info else ""
    metrics = {
        "meta": {
            "n": args.n, "seeds": list(args.seeds), **({"dataset": dataset.name} if dataset.name != "mnist" else {}),
            "order": list(models),  # table order; the JSON's keys are sorted
            "reference": reference_name,
            "classifier": f"evaluation classifier's {classifier.num_features}-d hidden layer{accuracy}",
            "classifier_path": display_path(classifier_path),
            "teacher": display_path(teacher_path) if teacher is not None else None,
            "quick": args.quick, "threads": args.threads, "torch": torch.__version__,
            "wall_time_s": round(time.perf_counter() - started, 1),
        },
        "floor": {"label": f"real: {dataset.title} train vs test (floor)", "runs": floor_runs, "summary": summarize(floor_runs)},
        "models": models,
        "checks": quality_checks(models, dataset.name),
    }  # fmt: skip
    atomic_write_json(out, metrics)
    print(metrics_table(metrics))
    for name, check in metrics["checks"].items():
        print(f"{'met   ' if check['met'] else 'MISSED'} {name}: {check['value']}")
    print(f"\nwrote {args.out} in {metrics['meta']['wall_time_s']:.0f} s", file=sys.stderr)


def run() -> None:
    """The `ganlab-evaluate` console command."""
    run_main(main)


if __name__ == "__main__":
    run()
