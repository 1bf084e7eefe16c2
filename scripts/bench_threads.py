"""The app's training step in a background thread, alone and beside another thread's OpenMP team.

    python scripts/bench_threads.py            # ~1 min on 2 cores; run it on a quiet machine

Why: libgomp (PyTorch's OpenMP) keeps a team of worker threads for every thread that ever ran a
parallel op with more than one thread; once the process holds more of them than cores, every
team sleeps between ops instead of spinning. The app trains in a background thread, so another
thread's team (the main thread's model loading, a Gradio worker's sampling) slows every step.
Each case runs in a fresh process: the step Start makes with every default (RunRequest), timed
over 6 blocks of 25 steps after 5 warm-up steps, median per step. ganlab.lab.sampler is built on
the result (one sampling team, retired when a run starts; the app's main thread on one thread).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time

from ganlab.cli import ArgumentParser, run_main

CASES = {
    "main thread": "the trainer in the main thread",
    "background thread": "in a background thread, no other team",
    "background thread, another team": "in a background thread after the main thread ran one 2-thread op",
    "background thread, main on 1 thread": "in a background thread after the main thread ran one op on 1 thread",
}


def step_ms(case: str) -> float:
    """The median training step (ms) of `case`, in this process."""
    import torch

    from ganlab.checkpoints import load_checkpoint, resolve_model_path
    from ganlab.data import training_images
    from ganlab.lab.request import default_run_config
    from ganlab.lab.settings import LabSettings
    from ganlab.trainer import new_trainer

    result = {}

    def train() -> None:
        settings = LabSettings.from_env()
        torch.set_num_threads(settings.train_threads)
        trainer = new_trainer(default_run_config(settings), images=training_images("mnist"), teacher=load_checkpoint(resolve_model_path("teacher"), expect="generator"))
        batches, blocks = iter(trainer.batches), []
        for _ in range(5):
            trainer._train_step(next(batches), trainer.noise_generator)
        for _ in range(6):
            start = time.perf_counter()
            for _ in range(25):
                trainer._train_step(next(batches), trainer.noise_generator)
            blocks.append((time.perf_counter() - start) / 25)
        result["ms"] = statistics.median(blocks) * 1e3

    if case == "main thread":
        train()
        return result["ms"]
    if case != "background thread":
        torch.set_num_threads(2 if case.endswith("another team") else 1)
        a = torch.randn(512, 512)
        (a @ a).sum()  # one op: with 2 threads, this thread now holds an OpenMP team
    worker = threading.Thread(target=train)
    worker.start()
    worker.join()
    return result["ms"]


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=list(CASES), help=argparse.SUPPRESS)  # one case, run by the script itself
    args = parser.parse_args()
    if args.case:  # one case, in this fresh process
        print(json.dumps({"case": args.case, "step_ms": round(step_ms(args.case), 1)}))
        return
    from ganlab.precision import machine

    print(f"{machine()}; the app's default training step, median ms:")
    for case, meaning in CASES.items():
        out = subprocess.run([sys.executable, __file__, "--case", case], capture_output=True, text=True, check=True).stdout
        print(f"  {json.loads(out.strip().splitlines()[-1])['step_ms']:6.1f}  {meaning}")


if __name__ == "__main__":
    run_main(main)
