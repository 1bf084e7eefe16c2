"""Distil the teacher into a student: (1 - alpha) * adversarial + alpha * feature MSE.

    python scripts/distill.py --steps 3000 --out runs/student            # the original recipe (alpha 0.5)
    python scripts/distill.py --recipe committed --out runs/student      # the committed recipe (student-3k's)
    python scripts/distill.py --recipe committed --r1 10 --d-dropout 0 --pixel-distance l1 --alpha 0.9 --alpha-final 0.5 \
        --lr-decay --steps 20000 --precision bf16 --out runs/student     # checkpoints/student (docs/training.md)
    python scripts/distill.py --alpha 0 --out runs/baseline               # no-distillation baseline
    python scripts/distill.py --layers 14x14 7x7 pixels --alpha 0.9 --lr-g 1e-3
    python scripts/distill.py --dry-run                                   # seconds, synthetic data

--recipe names an entry of ganlab.config.RECIPES (the UI's recipe menu reads the same table);
--alpha, --layers, --lr-g, --lr-d and --ema override its values.
"""

from __future__ import annotations


from ganlab.cli import bounded, run_main, setting, train, training_parser


def main() -> None:
    from ganlab.config import DISTILL_LAYERS, PIXEL_DISTANCES, RECIPES, STUDENT_WIDTH

    parser = training_parser(__doc__, steps=3000, lr=2e-4)
    parser.add_argument("--recipe", choices=RECIPES, default="original", help="alpha, layers, learning rates and EMA (default: original)")
    parser.add_argument("--alpha", type=setting("alpha"), default=None, help="distillation weight in [0, 1] (0: baseline)")
    parser.add_argument("--layers", nargs="+", default=None, metavar="LAYER", help=f"distilled layers: {', '.join(DISTILL_LAYERS)}")
    parser.add_argument("--pixel-distance", choices=PIXEL_DISTANCES, default="mse", help="how the pixels layer is compared (default mse)")
    parser.add_argument("--perceptual", type=setting("perceptual_weight"), default=0.0, help="weight of L1 between D's features of student and teacher images (0: off)")
    parser.add_argument("--teacher-as-real", type=setting("teacher_as_real"), default=0.0, help="share of D's real batch replaced by teacher images (0: off)")
    parser.add_argument("--alpha-final", type=setting("alpha"), default=None, help="move alpha linearly to this over the run (default: constant)")
    parser.add_argument("--teacher", default="teacher", help="teacher checkpoint: 'teacher' (the --dataset's bundled one) or a path")
    parser.add_argument("--width", type=bounded(STUDENT_WIDTH), default=128, help="student width at 7x7 (original 128)")
    parser.add_argument("--out", default=None, help="output folder (default runs/student; a temp folder for --dry-run)")
    parser.set_defaults(lr_g=None, lr_d=None, ema=None)  # unset: the recipe's
    args = parser.parse_args()
    recipe = RECIPES[args.recipe]
    for name, value in (("alpha", recipe.alpha), ("layers", list(recipe.layers)), ("lr_g", recipe.lr_generator),
                        ("lr_d", recipe.lr_discriminator), ("ema", recipe.ema_decay)):  # fmt: skip
        if getattr(args, name) is None:
            setattr(args, name, value)

    from ganlab.checkpoints import WEIGHTS_NAME, check_same_dataset, resolve_model_path
    from ganlab.cli import train_config_from_args
    from ganlab.data import sha256_of

    changes = dict(alpha=args.alpha, layers=tuple(args.layers), pixel_distance=args.pixel_distance, perceptual_weight=args.perceptual,
                   teacher_as_real=args.teacher_as_real, alpha_final=args.alpha_final)  # fmt: skip
    # 'teacher' is the chosen dataset's bundled teacher; a baseline (alpha 0, no other lever) loads none
    teacher_folder = resolve_model_path(args.teacher, args.dataset)
    uses_teacher = train_config_from_args(args, "distill", **changes).uses_teacher
    if uses_teacher and teacher_folder.exists() and not args.dry_run:
        check_same_dataset(teacher_folder, args.dataset, "teacher")  # one line, before anything trains

    def load_teacher():
        from ganlab.checkpoints import load_checkpoint
        from ganlab.config import GeneratorConfig
        from ganlab.models import Generator

        if args.dry_run and not teacher_folder.exists():
            return Generator(GeneratorConfig.teacher())  # an untrained stand-in keeps dry runs offline
        return load_checkpoint(teacher_folder, expect="generator")

    weights = teacher_folder / WEIGHTS_NAME
    # which teacher exactly: scripts/rebuild_models.sh redistils a student only when this differs
    teacher_sha256 = sha256_of(weights) if uses_teacher and weights.is_file() else None
    teacher_info = {"teacher": str(args.teacher) if uses_teacher else None, "teacher_sha256": teacher_sha256}
    train(
        args, "distill", default_out="runs/student", load_teacher=load_teacher if uses_teacher else None, student_width=args.width,
        inputs=(teacher_folder,) if uses_teacher else (), extra_info={**teacher_info, "student_width": args.width, "recipe": args.recipe},
        **changes,
    )  # fmt: skip


def run() -> None:
    """The `ganlab-distill` console command."""
    run_main(main)


if __name__ == "__main__":
    run()
