"""Distillation ablation: distilled vs baseline over training seeds, which layer(s), which alpha.

    python scripts/ablation.py                          # 12 student runs of 600 steps: ~20-25 min on 2 cores
    python scripts/ablation.py --groups seeds --steps 1500 --alpha 0.9 --layers 14x14 7x7 pixels --lr-g 1e-3
    python scripts/ablation.py --quick --out /tmp/ablation.json      # seconds

Every student gets the same number of steps (equal compute up to the teacher's forward pass)
from the same teacher; identical settings are trained once and shared between groups.
Each trained student is scored with ganlab.metrics.evaluate_generator (n samples, one
sampling seed); the ± in the seeds group is over training seeds. Writes JSON (default
checkpoints/ablation.json) and prints markdown tables.
"""

from __future__ import annotations

import sys
from pathlib import Path


from ganlab.cli import ArgumentParser, add_study_arguments, run_main, setting, start_study

GROUPS = ("seeds", "layers", "alpha")
LAYER_CHOICES = (("14x14",), ("7x7",), ("7x7", "14x14"), ("pixels",))
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def describe(alpha: float, layers: tuple[str, ...]) -> str:
    return "baseline (α = 0)" if alpha == 0 else f"α = {alpha:g}, layers {'+'.join(layers)}"


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    add_study_arguments(parser, steps=600, out="checkpoints/ablation.json")
    parser.add_argument("--groups", nargs="+", choices=GROUPS, default=list(GROUPS), help="which ablations to run")
    parser.add_argument("--seeds", type=setting("seed"), nargs="+", default=[0, 1, 2], help="training seeds of the seeds group")
    args = parser.parse_args()

    from ganlab.checkpoints import atomic_write_json
    from ganlab.metrics import evaluate_generator, summarize
    from ganlab.report import ablation_table
    from ganlab.trainer import new_trainer

    study = start_study(args)
    teacher, classifier, reference, images, base = study.teacher, study.classifier, study.reference, study.images, study.config
    cache: dict[tuple, dict] = {}

    def run(alpha: float, layers: tuple[str, ...], seed: int) -> dict:
        """Train (once per setting) and score one student."""
        key = (alpha, layers if alpha > 0 else (), seed)
        if key not in cache:
            config = base.replace(alpha=alpha, layers=layers if alpha > 0 else base.layers, seed=seed)
            trainer = new_trainer(config, images=images, teacher=teacher)
            finished = trainer.run()
            result = evaluate_generator(trainer.sampling_generator, classifier, reference, args.n, 0, teacher=teacher)
            cache[key] = {"training_seed": seed, "steps": finished.step, "train_time_s": round(finished.elapsed, 1), **result}
            print(f"{describe(alpha, layers)}, seed {seed}: FID {result['fid']:.1f} ({finished.elapsed:.0f} s)", file=sys.stderr)
        return cache[key]

    def variant(label: str, alpha: float, layers: tuple[str, ...], seeds: list[int]) -> dict:
        runs = [run(alpha, layers, seed) for seed in seeds]
        return {"label": label, "alpha": alpha, "layers": list(layers), "runs": runs, "summary": summarize(runs)}

    recipe = (args.alpha, tuple(args.layers))
    groups = []
    if "seeds" in args.groups:
        groups.append({
            "name": "seeds",
            "title": f"Distilled vs baseline at {args.steps} steps, ± over training seeds {args.seeds}",
            "variants": [variant(f"distilled ({describe(*recipe)})", *recipe, args.seeds), variant("baseline (α = 0)", 0.0, recipe[1], args.seeds)],
        })
    if "layers" in args.groups:
        layer_alpha = args.alpha if args.alpha > 0 else 0.5  # comparing layers needs some distillation
        groups.append({
            "name": "layers",
            "title": f"Which layer to distill (α = {layer_alpha:g}, seed {args.seeds[0]})",
            "variants": [variant("+".join(layers), layer_alpha, layers, args.seeds[:1]) for layers in LAYER_CHOICES],
        })
    if "alpha" in args.groups:
        groups.append({
            "name": "alpha",
            "title": f"Distillation weight α (layers {'+'.join(recipe[1])}, seed {args.seeds[0]})",
            "variants": [variant(describe(alpha, recipe[1]), alpha, recipe[1], args.seeds[:1]) for alpha in ALPHAS],
        })

    checks = {}
    if groups and groups[0]["name"] == "seeds":
        distilled, baseline = (v["summary"]["fid"]["mean"] for v in groups[0]["variants"])
        checks["distilled FID <= 0.8x baseline at equal steps"] = {"value": round(distilled / baseline, 3), "target": 0.8, "met": distilled <= 0.8 * baseline}
    ablation = {
        "meta": study.meta(unique_runs=len(cache)),
        "groups": groups,
        "checks": checks,
    }
    atomic_write_json(Path(args.out), ablation)
    print(ablation_table(ablation))
    print(f"\nwrote {args.out}: {len(cache)} students in {ablation['meta']['wall_time_s']:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
