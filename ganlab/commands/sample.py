"""Sample digits from a generator checkpoint into a PNG grid or an .npz of uint8 images.

    python scripts/sample.py --model student --n 64 --seed 0 --out grid.png
    python scripts/sample.py --model checkpoints/teacher --n 1000 --out samples.npz   # key "images": (N, 28, 28) uint8
    python scripts/sample.py --model student --digit 7 --n 16 --out sevens.png

--model takes teacher, student, baseline (the bundled checkpoints), a checkpoint folder or a
.safetensors file. The same seed gives the same noise for every model. --digit d keeps the
seed's noise whose teacher image the evaluation classifier reads as d (ganlab.digits), so the
teacher and a student given the same --digit and --seed render identical z.
"""

from __future__ import annotations


from ganlab.cli import ArgumentParser, int_in, run_main, setting

MAX_SAMPLES = 100_000


def digit_z(digit: int, n: int, seed: int):
    """The seed's first n z whose bundled-teacher image the classifier reads as `digit`; prints how many."""
    from ganlab.checkpoints import load_checkpoint, load_classifier, resolve_model_path
    from ganlab.digits import digit_noise
    from ganlab.errors import GanlabError

    teacher = load_checkpoint(resolve_model_path("teacher"), expect="generator")
    search = digit_noise(teacher, load_classifier(), digit, n, seed)
    if not search.found:
        raise GanlabError(f"{search.summary()}: try another seed")
    print(search.summary())
    return search.z


def main() -> None:
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="student", help="teacher | student | baseline | original | PATH")
    parser.add_argument("--n", type=int_in(1, MAX_SAMPLES), default=64, help="number of samples")
    parser.add_argument("--seed", type=setting("seed"), default=0)
    parser.add_argument("--out", default="grid.png", help="a .png grid or an .npz file")
    parser.add_argument("--scale", type=int_in(1, 16), default=2, help="PNG upscaling (nearest neighbour)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto", help="auto: bf16 where the CPU multiplies it natively (AMX / AVX512-BF16), else fp32")
    parser.add_argument("--digit", type=int_in(0, 9), default=None, help="only noise whose teacher image reads as this digit")
    args = parser.parse_args()

    import io

    import numpy as np
    import torch

    from ganlab.checkpoints import atomic_write_bytes, check_output_file, load_checkpoint, resolve_model_path
    from ganlab.errors import GanlabError
    from ganlab.sampling import generate, grid, grid_size, noise, save_png, to_uint8

    # 1. everything that can be refused is refused before the model is loaded
    out = check_output_file(args.out, (".png", ".npz"), inputs=[resolve_model_path(args.model)])  # never into the model's folder
    as_png = out.suffix.lower() == ".png"
    if as_png:
        grid_size(args.n, scale=args.scale)
    model = load_checkpoint(resolve_model_path(args.model), expect="generator")
    images = []
    z = noise(args.n, args.seed, model.latent_dim) if args.digit is None else digit_z(args.digit, args.n, args.seed)
    if z.shape[1] != model.latent_dim:
        raise GanlabError(f"{args.model} takes {model.latent_dim}-dimensional noise, the teacher {z.shape[1]}")
    with torch.inference_mode():
        for chunk in z.split(1024):  # bounded memory for large n
            images.append(to_uint8(generate(model, chunk, args.precision)))
    images = np.concatenate(images)  # (N, 28, 28) uint8
    # 2. encode in memory, then one atomic write to exactly `out` (numpy would append .npz to "s.NPZ")
    encoded = io.BytesIO()
    if as_png:
        save_png(grid(images, scale=args.scale), encoded)
    else:
        np.savez_compressed(encoded, images=images)
    try:
        atomic_write_bytes(out, encoded.getvalue())
    except OSError as error:
        raise GanlabError(f"cannot write {out}: {error.strerror or error}") from None
    print(f"wrote {len(images)} samples from {args.model} (seed {args.seed}) to {out}")


def run() -> None:
    """The `ganlab-sample` console command."""
    run_main(main)


if __name__ == "__main__":
    run()
