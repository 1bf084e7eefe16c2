"""torch.compile of the app's training step against eager: is it worth it in a UI run?

    python scripts/bench_compile.py                          # ~2 min on 2 cores; run it on a quiet machine
    python scripts/bench_compile.py --steps 20 --threads 2
    python scripts/bench_compile.py --device cuda --mode reduce-overhead   # CUDA graphs, on a GPU

Trains exactly the run the Distill tab's Start makes with every default (RunRequest's defaults:
the fast recipe, its batch, the deployment's trainer threads, precision and device, all
overridable) from the bundled teacher, eager and then with the student generator and the
discriminator compiled (`Module.compile(mode=...)`; "reduce-overhead" replays CUDA graphs on a
GPU). Prints the first two steps (which include the compilation) and the median step after
warm-up, and how many steps each would give in the default 120-second UI run, as JSON.
Measured: on a 2-core AVX2 AMD EPYC (fp32, batch 128, 1 thread) compilation 29.9 s, then 1.45 s
a step against 1.01 s eager: 64 steps against 119 in 120 s; on a 2-core Intel Xeon with AMX
(the app's defaults there: bf16, batch 64, 2 threads), see docs/development.md. The app keeps
eager steps.
"""

from __future__ import annotations

import json
import statistics
import sys
import time


from ganlab.cli import ArgumentParser, int_in, run_main


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int_in(6, 1000), default=14, help="timed steps per mode (the first 4 are warm-up)")
    parser.add_argument("--threads", type=int_in(1, 1024), default=None, help="torch threads (default: the app's trainer threads, GANLAB_TRAIN_THREADS)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (default: the app's, GANLAB_DEVICE)")
    parser.add_argument("--mode", choices=["default", "reduce-overhead", "max-autotune"], default="default", help="torch.compile mode")
    parser.add_argument("--budget", type=int_in(1, 3600), default=120, help="the UI run's time budget to compare in, seconds")
    parser.add_argument("--data", default=None, help="MNIST root (default $GANLAB_DATA or ./data)")
    args = parser.parse_args()

    import torch

    from ganlab.checkpoints import load_checkpoint, resolve_model_path
    from ganlab.data import training_images
    from ganlab.lab.request import default_run_config
    from ganlab.lab.settings import LabSettings
    from ganlab.trainer import new_trainer

    overrides = {name: value for name, value in (("train_threads", args.threads), ("device", args.device)) if value is not None}
    settings = LabSettings.from_env(**overrides)  # a bad --device is one line (run_main)
    config = default_run_config(settings)  # what Start sends with every default
    torch.set_num_threads(settings.train_threads)
    cuda = config.device.startswith("cuda")
    images = training_images("mnist", root=args.data, limit=4096)
    teacher = load_checkpoint(resolve_model_path("teacher"), expect="generator")
    print(f"the app's default run: batch {config.batch_size}, {config.precision}, {settings.train_threads} threads, on {config.device}", file=sys.stderr)
    result = {}
    for mode in ("eager", "compiled"):
        trainer = new_trainer(config, images=images, teacher=teacher)
        if mode == "compiled":
            trainer.generator.compile(mode=args.mode)
            trainer.discriminator.compile(mode=args.mode)
        batches, times = iter(trainer.batches), []
        for _ in range(args.steps):
            start = time.perf_counter()
            trainer._train_step(next(batches), trainer.noise_generator)
            if cuda:
                torch.cuda.synchronize()  # a step's kernels are queued: time them, not their launch
            times.append(time.perf_counter() - start)
        first, median = times[0] + times[1], statistics.median(times[4:])
        steps = 2 + max(0.0, args.budget - first) / median
        result[mode] = {"first_two_steps_s": round(first, 2), "median_step_s": round(median, 4), f"steps_in_{args.budget}_s": round(steps)}
        print(f"{mode}: first two steps {first:.1f} s, then {median:.3f} s a step: ~{steps:.0f} steps in {args.budget} s", file=sys.stderr)
    result["settings"] = {"batch_size": config.batch_size, "precision": config.precision, "threads": settings.train_threads, "device": config.device, "mode": args.mode}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    run_main(main)
