"""Sampling in fp32 and bf16, side by side: speed, share of the cores' peak, and faithfulness.

    python scripts/bench_precision.py                       # ~3 min on 2 cores; run it on a quiet machine
    python scripts/bench_precision.py --quick --out /tmp/precision.json

In one process with a fixed thread count: the peak of a large fp32 and bf16 matrix product
(what the cores can do), then the teacher and the student at each batch size in both
precisions, interleaved (ganlab.timing), as images/s and as a share of that precision's peak
(MACs per image x images/s / peak MAC/s). Faithfulness: the same n noise vectors through both
precisions, the share of pixels within 1 gray level of fp32's and the largest difference, and
FID of each (evaluation classifier, MNIST test). Then, in the app's precision (`auto`): the
largest batch in chunks of each size (what sampling.CPU_CHUNK was chosen from), and the
student's hidden transposed convolution in each form of ganlab.conv_forms at batch 256, with its
share of the peak (each form checked against torch's own first). Writes JSON (default
checkpoints/precision.json); docs/results.md shows it (python scripts/results.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


from ganlab.cli import ArgumentParser, float_in, int_in, run_main, setting
from ganlab.errors import GanlabError

PRECISIONS = ("fp32", "bf16")


def peak_macs(threads: int, size: int, seconds: float) -> dict[str, float]:
    """Multiply-accumulates per second of a size x size matrix product, per precision (the best of several)."""
    import torch

    from ganlab.precision import DTYPES

    peaks = {}
    for name in PRECISIONS:
        a = torch.randn(size, size).to(DTYPES[name])
        b = torch.randn(size, size).to(DTYPES[name])
        torch.mm(a, b)  # warm-up: oneDNN / BLAS set-up
        best, deadline = float("inf"), time.perf_counter() + seconds
        while time.perf_counter() < deadline or best == float("inf"):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
        peaks[name] = size**3 / best
    return peaks


def chunk_speeds(models: dict, batch: int, chunks: list[int], repeats: int, min_seconds: float) -> dict[str, dict[str, float]]:
    """Images/s of each model at `batch`, drawn in chunks of each size ("whole": one piece), in the app's precision."""
    from ganlab.sampling import generate, noise
    from ganlab.timing import interleaved_medians

    z = noise(batch, 0)
    sizes = {str(size): size for size in chunks if size < batch} | {"whole": batch}
    tasks = {(name, label): (lambda m=model, c=size: generate(m, z, "auto", chunk=c)) for name, model in models.items() for label, size in sizes.items()}
    timings = interleaved_medians(tasks, repeats=repeats, min_seconds=min_seconds)
    result: dict[str, dict[str, float]] = {}
    for (name, label), timing in timings.items():
        result.setdefault(name, {})[label] = round(batch / timing["median_s"], 1)
    return result


def hidden_forms(student, batch: int, peak: float, repeats: int, min_seconds: float) -> dict[str, dict[str, float]]:
    """The student's first hidden layer (stride 2) in each form of ganlab.conv_forms, on its real
    activations in the app's dtype: ms, GMAC/s, share of that dtype's peak, largest gap to torch's."""
    import torch

    from ganlab.conv_forms import FORMS
    from ganlab.precision import inference_dtype
    from ganlab.sampling import noise
    from ganlab.timing import interleaved_medians

    dtype = inference_dtype("auto")
    with torch.inference_mode():
        x = student.infer(noise(batch, 0), dtype=dtype, return_features=True)[1]["7x7"]
        (weight, bias) = student._folded(dtype)[1][0]  # BatchNorm folded in, as infer runs it
        reference = torch.nn.functional.conv_transpose2d(x, weight, bias, stride=2, padding=1).float()
        gaps = {name: float((form(x, weight, bias).float() - reference).abs().max()) for name, form in FORMS.items()}
        timings = interleaved_medians({name: (lambda f=form: f(x, weight, bias)) for name, form in FORMS.items()}, repeats=repeats, min_seconds=min_seconds)
    macs = weight.shape[0] * weight.shape[1] * 16 * x.shape[-1] * x.shape[-2] * batch  # every input pixel meets the 4x4 kernel once
    return {
        name: {
            "median_ms": round(timing["median_s"] * 1e3, 3),
            "gmacs": round(macs / timing["median_s"] / 1e9, 1),
            "share_of_peak": round(macs / timing["median_s"] / peak, 4),
            "max_gap": round(gaps[name], 5),
        }
        for name, timing in timings.items()
    }


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="teacher", help="teacher checkpoint (name or path)")
    parser.add_argument("--student", default="student", help="student checkpoint (name or path)")
    parser.add_argument("--threads", type=int_in(1, 1024), default=2)
    parser.add_argument("--batch-sizes", type=int_in(1, 4096), nargs="+", default=[1, 64, 256, 1024])
    parser.add_argument("--chunks", type=int_in(1, 4096), nargs="+", default=[64, 128, 256, 512], help="chunk sizes tried at the largest batch")
    parser.add_argument("--forms-batch", type=int_in(1, 4096), default=256, help="batch of the hidden-layer forms")
    parser.add_argument("--repeats", type=int_in(1, 1000), default=5)
    parser.add_argument("--min-seconds", type=float_in(0, 60, open_low=True), default=0.25)
    parser.add_argument("--n", type=int_in(10, 60000), default=10000, help="samples for the faithfulness figures")
    parser.add_argument("--seed", type=setting("seed"), default=0)
    parser.add_argument("--classifier", default=None, help="evaluation classifier (default checkpoints/classifier)")
    parser.add_argument("--out", default="checkpoints/precision.json")
    parser.add_argument("--quick", action="store_true", help="batch 1 and 64, n=256, short loops: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.batch_sizes = [b for b in args.batch_sizes if b <= 64] or [1]
        args.repeats, args.min_seconds, args.n = 1, 0.01, min(args.n, 256)
        args.chunks, args.forms_batch = [16], 16

    import torch

    from ganlab.checkpoints import atomic_write_json, display_path, load_checkpoint, load_classifier, resolve_model_path
    from ganlab.data import load_mnist, to_unit_range
    from ganlab.metrics import compare, embed, generate_images, make_reference
    from ganlab.precision import cpu_has_fast_bf16, cpu_name, inference_dtype
    from ganlab.report import precision_table
    from ganlab.sampling import CPU_CHUNK, generate, noise, to_uint8
    from ganlab.timing import interleaved_medians, macs_per_image

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    paths = {"teacher": resolve_model_path(args.teacher), "student": resolve_model_path(args.student)}
    models = {name: load_checkpoint(path, expect="generator") for name, path in paths.items()}
    if models["student"].config.strides[0] != 2:  # before any timing: the forms are for a stride-2 layer
        raise GanlabError(f"the student's first hidden layer has stride {models['student'].config.strides[0]}; the hidden-layer forms need stride 2")
    macs = {name: macs_per_image(model, torch.zeros(1, model.latent_dim)) for name, model in models.items()}
    peaks = peak_macs(args.threads, 512 if args.quick else 2048, 0.05 if args.quick else 1.0)

    speed: dict[str, dict] = {}
    for batch in args.batch_sizes:
        z = noise(batch, 0)
        tasks = {(name, precision): (lambda m=model, p=precision: generate(m, z, p)) for name, model in models.items() for precision in PRECISIONS}
        timings = interleaved_medians(tasks, repeats=args.repeats, min_seconds=args.min_seconds)
        for (name, precision), timing in timings.items():
            images_per_s = batch / timing["median_s"]
            speed.setdefault(str(batch), {}).setdefault(name, {})[precision] = {
                "median_ms": round(timing["median_s"] * 1e3, 3),
                "images_per_s": round(images_per_s, 1),
                "share_of_peak": round(macs[name] * images_per_s / peaks[precision], 4),
            }
        print(f"batch {batch}: done", file=sys.stderr)

    largest = max(args.batch_sizes)
    chunks = chunk_speeds(models, largest, args.chunks, args.repeats, args.min_seconds)
    print(f"chunks of batch {largest}: {chunks}", file=sys.stderr)
    app_precision = "bf16" if inference_dtype("auto") == torch.bfloat16 else "fp32"
    forms = hidden_forms(models["student"], args.forms_batch, peaks[app_precision], args.repeats, args.min_seconds)
    print(f"hidden-layer forms: {forms}", file=sys.stderr)

    classifier = load_classifier(args.classifier)
    reference = make_reference(classifier, to_unit_range(load_mnist("test")[0][: 1000 if args.quick else None]))
    z = noise(args.n, args.seed)
    faithful = {}
    for name, model in models.items():
        images = {precision: generate_images(model, z, precision=precision) for precision in PRECISIONS}
        gap = (torch.from_numpy(to_uint8(images["fp32"])).int() - torch.from_numpy(to_uint8(images["bf16"])).int()).abs()
        faithful[name] = {
            "within_1_gray_level": round(float((gap <= 1).double().mean()), 5),
            "max_gray_levels": int(gap.max()),
            "fid": {precision: round(compare(embed(classifier, images[precision]), reference)["fid"], 2) for precision in PRECISIONS},
        }
        print(f"{name}: {faithful[name]}", file=sys.stderr)

    result = {
        "peak_gmacs": {precision: round(value / 1e9, 1) for precision, value in peaks.items()},
        "macs_per_image": macs,
        "speed": speed,
        "faithfulness": {"n": args.n, "seed": args.seed, "models": faithful},
        # the app's precision here ("auto"): what the chunk and form figures ran in
        "app_precision": app_precision,
        "chunks": {"batch": largest, "images_per_s": chunks, "chosen": CPU_CHUNK},
        "hidden_forms": {"batch": args.forms_batch, "layer": "student 7x7 -> 14x14", "forms": forms},
        "meta": {
            "models": {name: display_path(path) for name, path in paths.items()},
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "machine": f"{cpu_name()}, {'native' if cpu_has_fast_bf16() else 'no native (emulated)'} bf16",
            # whether torch sends bf16 convolutions to oneDNN here (else its reference kernels)
            "onednn_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
            "repeats": args.repeats, "quick": args.quick, "wall_time_s": round(time.perf_counter() - started, 1),
        },
    }  # fmt: skip
    atomic_write_json(Path(args.out), result)
    print(precision_table(result))


if __name__ == "__main__":
    run_main(main)
