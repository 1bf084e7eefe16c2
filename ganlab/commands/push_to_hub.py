"""Push the teacher, the student and the evaluation classifier to the Hugging Face Hub, each with a model card.

    python scripts/push_to_hub.py --namespace alice                    # alice/ganlab-teacher, -student, -classifier
    python scripts/push_to_hub.py --namespace alice --dry-run --out runs/hub-upload   # write, upload nothing
    python scripts/push_to_hub.py --namespace alice --only student --student-repo alice/my-student --private

Each repo gets model.safetensors, config.json, training.json and a generated README.md (architecture,
parameter counts, training recipe, metrics from checkpoints/metrics.json, intended use, limitations);
a generator also gets model.onnx (exported and checked against PyTorch with onnxruntime).
A checkpoint folder that does not exist is skipped with a note. Log in first with `hf auth login`
or set HF_TOKEN to a token with write access. --dry-run writes exactly the folders that would be
uploaded and needs no network.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ganlab.checkpoints import REPO_ROOT
from ganlab.cli import ArgumentParser, run_main

MODELS = ("teacher", "student", "classifier")


def main() -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--namespace", required=True, help="Hub user or organisation that owns the repos")
    parser.add_argument("--only", default=",".join(MODELS), help="comma-separated subset of teacher,student,classifier")
    for name in MODELS:
        parser.add_argument(f"--{name}", default=str(REPO_ROOT / "checkpoints" / name), help=f"{name} checkpoint folder")
        parser.add_argument(f"--{name}-repo", default=None, help=f"repo id for the {name} (default NAMESPACE/ganlab-{name})")
    parser.add_argument("--metrics", default=str(REPO_ROOT / "checkpoints" / "metrics.json"), help="metrics JSON keyed by model name")
    parser.add_argument("--private", action="store_true", help="create the repos as private")
    parser.add_argument("--dry-run", action="store_true", help="write what would be uploaded into --out; no network")
    parser.add_argument("--out", default=str(REPO_ROOT / "runs" / "hub-upload"), help="folder for --dry-run")
    args = parser.parse_args()

    from ganlab.errors import GanlabError
    from ganlab.checkpoints import display_path
    from ganlab.hub import publish, validate_repo_id

    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(MODELS))
    if unknown or not chosen:
        raise GanlabError(f"--only takes names from {','.join(MODELS)}, got {args.only!r}")
    namespace = args.namespace.strip()
    if not namespace or "/" in namespace:
        raise GanlabError(f"--namespace is a Hub user or organisation name like 'alice', got {args.namespace!r}")
    # validate every repo id before touching anything, so a typo cannot leave a half-done push
    repos = {name: validate_repo_id(getattr(args, f"{name}_repo") or f"{namespace}/ganlab-{name}") for name in chosen}
    metrics = read_metrics(Path(args.metrics))
    if args.dry_run:  # the staging folder may not be, hold or lie in a checkpoint it copies
        from ganlab.outputs import check_output_folder

        check_output_folder(args.out, inputs=[getattr(args, name) for name in chosen] + [args.metrics])
        for name in chosen:
            staged = Path(args.out) / name
            if staged.is_dir() and any(staged.iterdir()):
                raise GanlabError(f"{staged} is not empty: --dry-run writes into a new or empty folder; choose another --out")

    pushed = 0
    for name in chosen:
        folder = Path(getattr(args, name))
        if not (folder / "model.safetensors").is_file():
            print(f"skip {name}: no checkpoint at {folder}")
            continue
        # evaluate.py labels its rows ("student (distilled)") and records each row's folder
        card_metrics = metrics.get(display_path(folder), metrics.get(name))
        if args.dry_run:
            staged = publish(name, folder, repos[name], metrics=card_metrics, dry_run_to=Path(args.out) / name)
            print(f"{name}: would push {staged} to https://huggingface.co/{repos[name]}")
        else:
            url = publish(name, folder, repos[name], metrics=card_metrics, private=args.private)
            print(f"{name}: pushed to https://huggingface.co/{repos[name]} ({url})")
        pushed += 1
    if pushed == 0:
        raise GanlabError("no checkpoint found to push: train the models first or pass their folders")
    return 0


def read_metrics(path: Path) -> dict:
    """{model name or checkpoint folder: metrics for its card} from metrics.json, or {}.

    evaluate.py writes {"meta": ..., "models": {label: {"path": folder, "summary": {metric: {"mean", "std"}}}}};
    a card gets a model's summary plus the evaluation setup, found by its folder (as display_path
    writes it) or by its name. A plain {name: {metric: value}} works too.
    """
    from ganlab.checkpoints import display_path, read_json

    if not path.is_file():
        return {}
    data = read_json(path, max_bytes=64 * 1024 * 1024)
    if not isinstance(data, dict):
        return {}
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    setup = {key: meta[key] for key in ("n", "seeds", "reference", "classifier") if key in meta}
    models = data["models"] if isinstance(data.get("models"), dict) else data
    cards = {}
    for name, entry in models.items():
        if not isinstance(entry, dict) or name == "meta":
            continue
        if isinstance(entry.get("summary"), dict):
            metrics = dict(entry["summary"])
        else:  # plain scalars; local paths and per-run lists mean nothing on the Hub
            metrics = {key: value for key, value in entry.items() if key != "path" and not isinstance(value, list)}
        if setup:
            metrics["evaluation"] = setup
        cards[name] = metrics
        if isinstance(entry.get("path"), str):
            cards[display_path(REPO_ROOT / entry["path"])] = metrics
    return cards


def run() -> None:
    """The `ganlab-push` console command."""
    run_main(main)


if __name__ == "__main__":
    run()
