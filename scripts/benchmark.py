"""Teacher vs student, side by side in one run: size, MACs, latency, throughput, training steps.

    python scripts/benchmark.py                     # ~3 min on 2 threads; writes checkpoints/benchmark.json
    python scripts/benchmark.py --threads 1 --out runs/bench-1t.json
    python scripts/benchmark.py --quick --out /tmp/bench.json      # seconds (no ONNX rows unless --onnx)

Fairness: both models run in the same process with the same thread count, timed in
alternating order (teacher, student, student, teacher, ...) and summarised by medians.
onnxruntime: both models exported to ONNX (ganlab.export, verified against PyTorch) and run
on the CPU with the same thread count, timed in the same interleaved loops as the PyTorch
passes, so the two runtimes meet the same background load.
Training: the project's trainer (in-memory batches, one discriminator pass over real and
fake together), in fp32 and with bf16 autocast, against a straightforward fp32 loop of the
same models (torchvision MNIST + DataLoader + ToTensor/Normalize, separate discriminator
passes), as a ratio; and the data path alone, to show what it can explain.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


from ganlab.cli import ArgumentParser, float_in, int_in, run_main
from ganlab.precision import machine


TRAIN_WARMUP_STEPS = 3  # not timed: first steps allocate buffers and warm the allocator (1 in --quick)


def inference_benchmark(
    models: dict, batch_sizes: list[int], *, repeats: int, min_seconds: float, sessions: dict | None = None
) -> dict:
    """Median seconds per forward pass of every model at each batch size, interleaved.

    sessions ({name: onnxruntime session of that model}) are timed in the same loops; returns
    {"pytorch": {batch: entry}} and, with sessions, "onnxruntime": {batch: entry}, whose entries
    also hold "vs_pytorch": how many times faster onnxruntime runs each model than PyTorch.
    """
    import torch

    from ganlab.export import INPUT_NAME, OUTPUT_NAME
    from ganlab.sampling import noise
    from ganlab.timing import interleaved_medians

    sessions = sessions or {}
    results: dict[str, dict] = {"pytorch": {}, **({"onnxruntime": {}} if sessions else {})}
    for batch in batch_sizes:
        z = noise(batch, 0)
        feed = {INPUT_NAME: z.numpy()}
        tasks = {("pytorch", name): (lambda model=model: model(z)) for name, model in models.items()}
        tasks |= {("onnxruntime", name): (lambda runner=runner: runner.run([OUTPUT_NAME], feed)) for name, runner in sessions.items()}
        with torch.inference_mode():
            timings = interleaved_medians(tasks, repeats=repeats, min_seconds=min_seconds)
        for (runtime, name), timing in timings.items():
            timing["images_per_s"] = batch / timing["median_s"]
            results[runtime].setdefault(str(batch), {})[name] = timing
        for runtime, by_batch in results.items():
            entry, names = by_batch[str(batch)], list(models)
            if len(names) == 2:  # how much faster the second (student) is than the first (teacher)
                entry["speedup"] = entry[names[0]]["median_s"] / entry[names[1]]["median_s"]
            if runtime == "onnxruntime":
                pytorch = results["pytorch"][str(batch)]
                entry["vs_pytorch"] = {name: pytorch[name]["median_s"] / entry[name]["median_s"] for name in sessions}
    return results


def onnx_sessions(models: dict, folder: Path, threads: int) -> tuple[dict, dict]:
    """Export each model to folder/<name>.onnx (verified against PyTorch) and open an onnxruntime
    session on it: ({name: session}, {name: {"file_bytes"}})."""
    from ganlab.export import export_onnx, session

    sessions, files = {}, {}
    for name, model in models.items():
        path = folder / f"{name}.onnx"
        export_onnx(model, path)
        sessions[name] = session(path, threads=threads)
        files[name] = {"file_bytes": path.stat().st_size}
    return sessions, files


def project_steps(config, images, teacher, steps: int, warmup: int = TRAIN_WARMUP_STEPS) -> float:
    """Seconds per step of the project's trainer, after warm-up steps (from its Step events)."""
    from ganlab.events import Step
    from ganlab.trainer import new_trainer

    times: dict[int, float] = {}

    def record(event) -> None:
        if isinstance(event, Step):
            times[event.step] = event.elapsed

    trainer = new_trainer(config.replace(steps=warmup + steps), images=images, teacher=teacher, on_event=record)
    trainer.run()
    return (times[warmup + steps] - times[warmup]) / steps


def reference_dataset(data_root: str):
    """torchvision's MNIST train set with the usual ToTensor + Normalize to [-1, 1]."""
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    return datasets.MNIST(data_root, train=True, download=False, transform=transform)


def reference_steps(config, dataset, teacher, steps: int, warmup: int = TRAIN_WARMUP_STEPS) -> float:
    """Seconds per step of a straightforward PyTorch GAN / distillation loop of the same models.

    The textbook recipe (as in pytorch/examples dcgan): a torchvision dataset with
    ToTensor + Normalize, a shuffling DataLoader, D on real and on fake in two passes,
    G's loss through D without freezing it, .item() of each loss for logging.
    """
    import torch
    import torch.nn.functional as F

    from ganlab.config import DiscriminatorConfig, GeneratorConfig
    from ganlab.models import Discriminator, Generator, init_weights

    torch.manual_seed(config.seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=True)
    distill = config.mode == "distill"
    generator = Generator(GeneratorConfig.student() if distill else GeneratorConfig.teacher())
    discriminator = Discriminator(DiscriminatorConfig())
    init_weights(generator)
    init_weights(discriminator)
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=config.lr_generator, betas=(config.beta1, config.beta2))
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_discriminator, betas=(config.beta1, config.beta2))
    criterion = torch.nn.BCEWithLogitsLoss()
    start = None
    for index, (real, _) in enumerate(loader):
        if index == warmup:
            start = time.perf_counter()
        if index == warmup + steps:
            break
        batch = real.shape[0]
        ones, zeros = torch.ones(batch), torch.zeros(batch)
        z = torch.randn(batch, generator.latent_dim)
        fake, student_features = generator(z, return_features=True)
        # D: real, then fake, in two passes
        optimizer_d.zero_grad()
        output_real = discriminator(real)
        loss_real = criterion(output_real, ones)
        loss_real.backward()
        output_fake = discriminator(fake.detach())
        loss_fake = criterion(output_fake, zeros)
        loss_fake.backward()
        optimizer_d.step()
        # G: through D, plus feature MSE to the teacher when distilling
        optimizer_g.zero_grad()
        loss_g = criterion(discriminator(fake), ones)
        if distill:
            with torch.no_grad():
                _, teacher_features = teacher(z, return_features=True)
            distillation = sum(F.mse_loss(student_features[layer], teacher_features[layer]) for layer in config.layers) / len(config.layers)
            loss_g = (1 - config.alpha) * loss_g + config.alpha * distillation
        loss_g.backward()
        optimizer_g.step()
        _ = (loss_real.item() + loss_fake.item(), loss_g.item(), torch.sigmoid(output_real).mean().item())
    if start is None:
        raise RuntimeError("the reference loop ran out of data before timing started")
    return (time.perf_counter() - start) / steps


def data_benchmark(images, dataset, batch_size: int, batches: int) -> dict:
    """Seconds per batch of the data path alone: how much of a step the reference's DataLoader costs."""
    import statistics

    import torch

    from ganlab.data import InMemoryBatches

    def per_batch(iterator) -> float:
        next(iterator)  # first batch: worker and shuffle set-up, not timed
        times = []
        for _ in range(batches):
            start = time.perf_counter()
            next(iterator)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
    return {
        "batches": batches,
        "reference_dataloader_s": per_batch(iter(loader)),
        "in_memory_s": per_batch(iter(InMemoryBatches(images, batch_size))),
    }


def training_benchmark(teacher, images, data_root: str, *, steps: int, repeats: int, batch_size: int, warmup: int = TRAIN_WARMUP_STEPS) -> dict:
    """Project trainer vs reference loop for a GAN (teacher) step and a distillation step."""
    import statistics

    from ganlab.config import TrainConfig

    dataset = reference_dataset(data_root)
    modes = {}
    # the project trainer in its default fp32 and with bf16 autocast; the reference loop is fp32
    for mode, precision in (("teacher", "fp32"), ("distill", "fp32"), ("teacher", "bf16"), ("distill", "bf16")):
        config = TrainConfig(mode=mode, steps=steps, batch_size=batch_size, sample_every=0, checkpoint_every=0, seed=0, precision=precision)
        samples: dict[str, list[float]] = {"project": [], "reference": []}
        for repeat in range(repeats):  # alternate which loop goes first
            order = ("project", "reference") if repeat % 2 == 0 else ("reference", "project")
            for name in order:
                if name == "project":
                    samples[name].append(project_steps(config, images, teacher, steps, warmup))
                else:
                    samples[name].append(reference_steps(config, dataset, teacher, steps, warmup))
        entry = {"precision": precision}
        for name, values in samples.items():
            median = statistics.median(values)
            entry[name] = {"median_step_s": median, "images_per_s": batch_size / median, "step_s": values}
        entry["speedup"] = entry["reference"]["median_step_s"] / entry["project"]["median_step_s"]
        label = "GAN step (teacher)" if mode == "teacher" else "distillation step (student)"
        modes[label if precision == "fp32" else f"{label}, bf16 autocast"] = entry
    data = data_benchmark(images, dataset, batch_size, batches=max(steps, 5))
    return {"batch_size": batch_size, "steps_per_repeat": steps, "warmup_steps": warmup, "repeats": repeats, "modes": modes, "data": data}


def checks(result: dict) -> dict:
    """The issue's speed targets, measured here (reported, not asserted)."""
    found = {}
    inference = result["inference"]
    if "speedup" in inference.get("256", {}):
        found["student throughput >= 4.3x teacher at batch 256"] = (inference["256"]["speedup"], 4.3)
    if "speedup" in inference.get("1", {}):
        found["student >= 2.5x teacher at batch 1"] = (inference["1"]["speedup"], 2.5)
    for mode, entry in result.get("training", {}).get("modes", {}).items():
        found[f"project {mode} >= 1.3x reference loop"] = (entry["speedup"], 1.3)
    return {name: {"value": round(value, 3), "target": target, "met": value >= target} for name, (value, target) in found.items()}


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="teacher", help="teacher checkpoint (name or path)")
    parser.add_argument("--student", default="student", help="student checkpoint (name or path)")
    parser.add_argument("--threads", type=int_in(1, 1024), default=2, help="torch CPU threads, fixed for the whole run")
    parser.add_argument("--batch-sizes", type=int_in(1, 4096), nargs="+", default=[1, 64, 256])
    parser.add_argument("--repeats", type=int_in(1, 1000), default=9, help="interleaved timing repeats per batch size")
    parser.add_argument("--min-seconds", type=float_in(0, 60, open_low=True), default=0.25, help="length of one timed loop")
    parser.add_argument("--train-steps", type=int_in(0, 10000), default=20, help="timed training steps per repeat (0: skip)")
    parser.add_argument("--train-repeats", type=int_in(1, 100), default=3)
    parser.add_argument("--train-batch", type=int_in(1, 4096), default=128)
    parser.add_argument("--data", default=None, help="MNIST root (default $GANLAB_DATA or ./data)")
    parser.add_argument("--out", default="checkpoints/benchmark.json", help="JSON output")
    parser.add_argument("--quick", action="store_true", help="tiny repeats and steps: a seconds-long smoke run")
    parser.add_argument("--onnx", action=__import__("argparse").BooleanOptionalAction, default=None, help="onnxruntime rows (default: on, off with --quick)")
    args = parser.parse_args()
    if args.onnx is None:
        args.onnx = not args.quick  # exporting takes ~10 s a model: more than a --quick run
    if args.quick:
        args.batch_sizes = [b for b in args.batch_sizes if b <= 64] or [1]
        args.repeats, args.min_seconds = min(args.repeats, 2), min(args.min_seconds, 0.01)
        args.train_steps, args.train_repeats, args.train_batch = min(args.train_steps, 1), 1, min(args.train_batch, 8)

    import torch

    from ganlab.checkpoints import atomic_write_json, display_path, load_checkpoint, resolve_model_path
    from ganlab.data import data_root, load_mnist, to_unit_range
    from ganlab.models import count_parameters
    from ganlab.report import benchmark_table
    from ganlab.timing import file_size, macs_per_image

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    paths = {"teacher": resolve_model_path(args.teacher), "student": resolve_model_path(args.student)}
    models = {name: load_checkpoint(path, expect="generator") for name, path in paths.items()}
    sizes = {
        name: {
            "path": display_path(paths[name]),
            "parameters": count_parameters(model),
            "macs_per_image": macs_per_image(model, torch.zeros(1, model.latent_dim)),
            "file_bytes": file_size(paths[name]),
        }
        for name, model in models.items()
    }
    sessions, onnx_files = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        if args.onnx:
            sessions, onnx_files = onnx_sessions(models, Path(folder), args.threads)
        timed = inference_benchmark(models, args.batch_sizes, repeats=args.repeats, min_seconds=args.min_seconds, sessions=sessions)
    result = {"models": sizes, "inference": timed["pytorch"]}
    if sessions:
        import onnxruntime

        from ganlab.export import OPSET

        result["onnxruntime"] = {
            "version": onnxruntime.__version__, "opset": OPSET, "threads": args.threads,
            "models": onnx_files, "inference": timed["onnxruntime"],
        }
    if args.train_steps:
        images = to_unit_range(load_mnist("train", args.data)[0])
        root = str(data_root(args.data))
        result["training"] = training_benchmark(
            models["teacher"], images, root, steps=args.train_steps, repeats=args.train_repeats,
            batch_size=args.train_batch, warmup=1 if args.quick else TRAIN_WARMUP_STEPS,
        )
    result["checks"] = checks(result)
    result["meta"] = {
        "order": list(models),  # teacher first; the JSON's keys are sorted
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": machine(),
        "repeats": args.repeats,
        "min_seconds_per_loop": args.min_seconds,
        "quick": args.quick,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    atomic_write_json(Path(args.out), result)
    print(benchmark_table(result))
    for name, check in result["checks"].items():
        print(f"{'met ' if check['met'] else 'MISSED'} {name}: {check['value']}")
    print(f"\nwrote {args.out} in {result['meta']['wall_time_s']:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
