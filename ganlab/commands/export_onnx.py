"""Export a generator to ONNX (opset 18, dynamic batch), verified against PyTorch with onnxruntime.

    python scripts/export_onnx.py --model student --out student.onnx
    python scripts/export_onnx.py --model checkpoints/teacher --out teacher.onnx

The file takes "z" (batch, latent_dim) float32 ~ N(0, I) and returns "image" (batch, 1, 28, 28)
in [-1, 1]. It is written only if onnxruntime matches PyTorch within 1e-4 on 256 samples.
"""

from __future__ import annotations


from ganlab.cli import ArgumentParser, run_main


def main() -> None:
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="student", help="teacher | student | baseline | original | PATH")
    parser.add_argument("--out", required=True, help="the .onnx file to write")
    args = parser.parse_args()

    from ganlab.checkpoints import check_output_file, load_checkpoint, resolve_model_path
    from ganlab.errors import GanlabError
    from ganlab.export import VERIFY_SAMPLES, export_onnx

    out = check_output_file(args.out, (".onnx",), inputs=[resolve_model_path(args.model)])  # refused before the model is loaded, never into its folder
    model = load_checkpoint(resolve_model_path(args.model), expect="generator")
    try:
        difference = export_onnx(model, out)
    except OSError as error:
        raise GanlabError(f"cannot write {out}: {error.strerror or error}") from None
    size = out.stat().st_size
    print(f"wrote {out} ({size / 1e6:.2f} MB) from {args.model}; onnxruntime matches PyTorch within {difference:.1e} on {VERIFY_SAMPLES} samples")


def run() -> None:
    """The `ganlab-export-onnx` console command."""
    run_main(main)


if __name__ == "__main__":
    run()
