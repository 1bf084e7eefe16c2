"""FID along a long teacher run: score every kept snapshot once, and say whether FID has stopped improving.

    python scripts/teacher_progress.py                       # ../ganlab-runs/teacher-r1/snapshots/step-N, 1 seed x 10k
    python scripts/teacher_progress.py --run runs/teacher    # any run trained with --keep-every N
    python scripts/teacher_progress.py --quick --out /tmp/progress.json   # seconds: n=300, 1000 reference images

A run trained with `--keep-every N` keeps its sampling model of every Nth step in
<run>/snapshots/step-N. Each snapshot is scored once with ganlab.metrics.evaluate_generator
(n samples from one sampling seed against the --dataset's test set, MNIST's by default); a snapshot already in --out
with the same weights (sha256) is not scored again, so the script can follow a run that is
still training. The stopping rule (the teacher issue: 30,000 steps, or until FID stops
improving for 5,000 steps) is printed at the end: the best FID so far, at which step, and
how many steps have passed since without an improvement of more than --tolerance.
Writes JSON (default checkpoints/teacher-progress.json); docs/results.md shows it
(python scripts/results.py).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path


from ganlab.cli import ArgumentParser, add_dataset_arguments, int_in, run_main, setting

REPO = Path(__file__).resolve().parent.parent
SNAPSHOT = re.compile(r"step-(\d+)")


def snapshots(run: Path) -> dict[int, Path]:
    """step -> snapshot folder, for every <run>/snapshots/step-N holding a model."""
    folder = run / "snapshots"
    found = {}
    for path in folder.iterdir() if folder.is_dir() else ():
        match = SNAPSHOT.fullmatch(path.name)
        if match and (path / "model.safetensors").is_file():
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def plateau(points: list[dict], tolerance: float) -> dict:
    """Best FID so far and the steps since FID last improved on the best by more than tolerance (relative)."""
    best = None
    for point in points:
        fid = point["run"]["fid"]
        if best is None or fid < best["fid"] * (1 - tolerance):
            best = {"step": point["step"], "fid": fid}
    last = points[-1]["step"]
    return {"best_step": best["step"], "best_fid": best["fid"], "steps_without_improvement": last - best["step"], "tolerance": tolerance}


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=str(REPO.parent / "ganlab-runs" / "teacher-r1"), help="a run folder trained with --keep-every")
    parser.add_argument("--n", type=int_in(10, 60000), default=10000, help="samples per snapshot")
    parser.add_argument("--seed", type=setting("seed"), default=0, help="sampling seed (the same for every snapshot)")
    parser.add_argument("--tolerance", type=float, default=0.01, help="an improvement smaller than this fraction of the best FID does not count")
    parser.add_argument("--patience", type=int_in(1, 10**6), default=5000, help="steps without an improvement that end the run")
    parser.add_argument("--threads", type=int_in(1, 1024), default=2, help="torch CPU threads")
    parser.add_argument("--classifier", default=None, help="evaluation classifier (default: the dataset's, checkpoints/classifier for MNIST)")
    add_dataset_arguments(parser)
    parser.add_argument("--out", default=None, help="JSON output (default: teacher-progress.json in the dataset's models folder, checkpoints/ for MNIST)")
    parser.add_argument("--teacher", default=None, help="for a student's run: its teacher (name or path), so each snapshot also gets agreement and pixel MSE on the same z")
    parser.add_argument("--quick", action="store_true", help="n=300, 1000 reference images: a smoke run")
    args = parser.parse_args()
    if not 0 <= args.tolerance < 1:
        parser.error(f"--tolerance must be in [0, 1), got {args.tolerance}")

    from ganlab.checkpoints import atomic_write_json, load_checkpoint, load_classifier, read_training_info
    from ganlab.errors import GanlabError

    run = Path(args.run)
    found = snapshots(run)
    if not found:
        raise GanlabError(f"no snapshots in {run / 'snapshots'}: train with --keep-every N (e.g. 1000)")
    from ganlab.checkpoints import check_same_dataset, resolve_model_path
    from ganlab.paths import models_file

    if args.out is None:
        args.out = str(models_file(args.dataset, "teacher-progress.json"))
    check_same_dataset(next(iter(found.values())), args.dataset, "run")  # one line, before any scoring
    if args.teacher:
        check_same_dataset(resolve_model_path(args.teacher, args.dataset), args.dataset, "teacher")

    import torch

    from ganlab.data import load_split, sha256_of, to_unit_range
    from ganlab.metrics import evaluate_generator, make_reference
    from ganlab.report import teacher_progress_table

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    reference_size = 1000 if args.quick else 10000
    n = min(args.n, 300) if args.quick else args.n
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.is_file() else {}
    scoring = {"n": n, "seed": args.seed, "reference_size": reference_size, **({"teacher": args.teacher} if args.teacher else {}),
               **({"dataset": args.dataset} if args.dataset != "mnist" else {})}  # fmt: skip
    same_scoring = previous.get("meta", {}).get("scoring") == scoring
    known = {(point["step"], point["sha256"]): point for point in previous.get("points", [])} if same_scoring else {}

    classifier = load_classifier(args.classifier, dataset=args.dataset)
    teacher = None
    if args.teacher:
        teacher = load_checkpoint(resolve_model_path(args.teacher, args.dataset), expect="generator")
    test_images, _ = load_split(args.dataset, "test", args.data)
    reference = make_reference(classifier, to_unit_range(test_images[:reference_size]))
    points = []
    for step, folder in found.items():
        digest = sha256_of(folder / "model.safetensors")
        if (step, digest) in known:
            points.append(known[step, digest])
            continue
        generator = load_checkpoint(folder, expect="generator")
        score = evaluate_generator(generator, classifier, reference, n, args.seed, teacher=teacher)
        training = read_training_info(folder)
        points.append({"step": step, "sha256": digest, "wall_time_s": training.get("wall_time_s"), "run": score})
        print(f"step {step:,}: FID {score['fid']:.2f}, recognizable {score['recognizable']:.3f}", file=sys.stderr)

    first = read_training_info(next(iter(found.values())))
    verdict = plateau(points, args.tolerance)
    verdict["patience"] = args.patience
    result = {
        "meta": {
            "run": run.name,
            "recipe": first.get("train_config", {}),
            "scoring": scoring,
            "quick": args.quick,
            "torch": torch.__version__,
        },
        "points": points,
        "plateau": verdict,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, result)
    print(teacher_progress_table(result))
    print(f"\nscored {sum((p['step'], p['sha256']) not in known for p in points)} new snapshot(s); wrote {out} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
