"""Measure `generate` latency through gradio_client: idle, then while a distillation run trains.

Also, idle: the same call over plain HTTP (Gradio's REST API), so the client's own overhead
(it polls for messages every 50 ms) can be told apart from the server's.

    python scripts/bench_app.py bench.json                    # 64 + 64 samples, 40 requests per phase
    python scripts/bench_app.py bench.json --quick            # a few requests, a small data subset (tests)
    GANLAB_TEACHER=runs/teacher python scripts/bench_app.py bench.json

The app runs as its own process (`python app.py`), as on a Space, so the client does not share
its interpreter. Latency is the full round trip: queue, sampling, PNG encoding, file download.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

from ganlab.cli import ArgumentParser, int_in, run_main
from ganlab.errors import GanlabError
from ganlab.lab.settings import LabSettings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_server(url: str, process: subprocess.Popen, downloads: Path, timeout: float = 120.0):
    from gradio_client import Client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise GanlabError(f"the app exited with status {process.returncode} before it served {url} (its log: {downloads.parent / 'app.log'})")
        try:
            return Client(url, verbose=False, download_files=downloads)
        except Exception:  # not listening yet
            time.sleep(0.5)
    raise GanlabError(f"the app did not answer at {url} within {timeout:.0f} s")


def wait_for_state(client, state: str, timeout: float = 120.0) -> dict:
    """Poll the run's status until it reads `state`; the status it reached."""
    deadline = time.monotonic() + timeout
    while (status := client.predict(api_name="/run_status")[-2]).get("state") != state:
        if time.monotonic() > deadline or status.get("state") in ("finished", "failed"):
            raise GanlabError(f"the run did not reach {state} within {timeout:.0f} s: {status.get('phase')}")
        time.sleep(0.5)
    return status


def stand_in_checkpoints(folder: Path) -> dict[str, str]:
    """Initialised full-size teacher and student: same architectures, so the same timings."""
    import torch

    from ganlab.checkpoints import save_checkpoint
    from ganlab.config import GeneratorConfig
    from ganlab.models import Generator, init_weights

    paths = {}
    for role, config in (("teacher", GeneratorConfig.teacher()), ("student", GeneratorConfig.student())):
        model = Generator(config)
        init_weights(model, torch.Generator().manual_seed(0))
        paths[f"GANLAB_{role.upper()}"] = str(save_checkpoint(model, folder / role))
    return paths


def time_requests(client, count: int, n: int) -> list[float]:
    latencies = []
    for index in range(count):
        start = time.perf_counter()
        result = client.predict(index, n, "bundled student", api_name="/generate")
        latencies.append((time.perf_counter() - start) * 1000)
        if str(result[-1]).startswith("⚠️"):
            raise GanlabError(f"generate failed: {result[-1]}")
    return latencies


def time_http_requests(url: str, count: int, n: int) -> list[float]:
    """`generate` through Gradio's REST API with plain HTTP (as curl would): POST the call, read
    the result event, download both PNGs. The same server work as gradio_client without the
    client's own polling (it checks for messages every 50 ms)."""
    import urllib.request

    def fetch(target: str, data: bytes | None = None) -> bytes:
        headers = {"Content-Type": "application/json"} if data is not None else {}
        with urllib.request.urlopen(urllib.request.Request(target, data=data, headers=headers), timeout=60) as response:
            return response.read()

    latencies = []
    for index in range(count):
        start = time.perf_counter()
        body = json.dumps({"data": [index, n, "bundled student", "any"]}).encode()  # raw HTTP sends every input: seed, n, student, digit
        event = json.loads(fetch(f"{url}gradio_api/call/generate", body))["event_id"]
        stream = fetch(f"{url}gradio_api/call/generate/{event}").decode()
        if "event: complete" not in stream:
            raise GanlabError(f"generate over HTTP did not complete: {stream[:300]}")
        outputs = json.loads(stream.split("event: complete", 1)[1].split("data:", 1)[1].strip().splitlines()[0])
        images = [fetch(output["url"]) for output in outputs if isinstance(output, dict) and output.get("url")]
        latencies.append((time.perf_counter() - start) * 1000)
        if len(images) != 2 or not all(image.startswith(b"\x89PNG") for image in images):
            raise GanlabError("generate over HTTP did not return two PNG images")
    return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"requests": len(ordered), "median_ms": round(statistics.median(ordered), 1), "p95_ms": round(p95, 1), "max_ms": round(ordered[-1], 1)}


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("output", help="where to write the JSON results")
    parser.add_argument("--n", type=int_in(1, 256), default=64, help="samples per model per request")
    parser.add_argument("--requests", type=int_in(1, 10_000), default=40, help="timed requests per phase")
    parser.add_argument("--sample-threads", type=int_in(0, 64), default=0, help="torch threads for sampling (GANLAB_SAMPLE_THREADS; 0: the app's default)")
    parser.add_argument("--train-threads", type=int_in(1, 64), default=LabSettings().train_threads, help="torch threads of the trainer (GANLAB_TRAIN_THREADS; default: the app's)")
    parser.add_argument("--train-images", type=int_in(0, 60_000), default=0, help="MNIST images for the run (0: all)")
    parser.add_argument("--quick", action="store_true", help="5 requests per phase, 512 images: seconds, for tests")
    args = parser.parse_args()
    requests = 5 if args.quick else args.requests
    train_images = 512 if args.quick else args.train_images

    port = free_port()
    scratch = tempfile.mkdtemp(prefix="ganlab-bench-")
    # The client downloads every image it is sent, and leaves an empty folder in the temp dir for
    # each; keep both in the scratch folder, which goes when the benchmark ends.
    tempfile.tempdir = scratch
    env = {
        **os.environ,
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GANLAB_TRAIN_THREADS": str(args.train_threads),
        "GANLAB_TRAIN_IMAGES": str(train_images),
        "GANLAB_MAX_SAMPLES": str(max(args.n, 64)),
        "GANLAB_RUNS_DIR": scratch,
    }
    if args.sample_threads:
        env["GANLAB_SAMPLE_THREADS"] = str(args.sample_threads)
    stand_in = not os.environ.get("GANLAB_TEACHER") and not (REPO / "checkpoints" / "teacher" / "model.safetensors").is_file()
    if stand_in:
        env.update(stand_in_checkpoints(Path(scratch)))
    log = open(Path(scratch) / "app.log", "w")
    process = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a terminated benchmark still stops its server (finally below)
    try:
        url = f"http://127.0.0.1:{port}/"
        client = wait_for_server(url, process, Path(scratch) / "downloads")
        time_requests(client, 3, args.n)  # warm-up: first calls load kernels and fill caches
        idle = time_requests(client, requests, args.n)
        idle_http = time_http_requests(url, requests, args.n)
        started = client.predict(api_name="/start_run")
        if started[-2].get("state") not in ("preparing", "running"):  # preparing: MNIST loads in the run's thread
            raise GanlabError(f"could not start a run: {started[-1]}")
        wait_for_state(client, "running")  # a loaded machine can take longer than a fixed sleep to prepare
        time.sleep(2.0)  # let the run reach its steady state
        training = time_requests(client, requests, args.n)
        status = client.predict(api_name="/run_status")[-2]
        client.predict(api_name="/stop_run")
        stopped = wait_for_state(client, "stopped")  # a stop lands once the step in flight ends
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    shutil.rmtree(scratch, ignore_errors=True)  # kept after a failure: its app.log says why

    results = {
        "n_per_model": args.n,
        "sample_threads": args.sample_threads or "app default (every core; one fewer while a run trains)",
        "train_threads": args.train_threads,
        "cpu_count": os.cpu_count(),
        "stand_in_checkpoints": stand_in,
        "idle": summary(idle),
        "idle_http": summary(idle_http),
        "while_training": summary(training),
        "run_steps_during_bench": status.get("step"),
        "run_stopped": stopped.get("state") == "stopped",
        "targets": {"idle_median_ms": 100, "while_training_p95_ms": 500},
    }
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(f"generate, {args.n} + {args.n} samples, round trip through gradio_client "
          f"(sample threads {args.sample_threads or 'default'}, trainer threads {args.train_threads}):")
    print(f"{'phase':<16}{'requests':>9}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}")
    for phase in ("idle", "while_training", "idle_http"):
        row = results[phase]
        print(f"{phase:<16}{row['requests']:>9}{row['median_ms']:>11}{row['p95_ms']:>9}{row['max_ms']:>9}")
    print("idle_http: the same call over plain HTTP (Gradio's REST API, both PNGs downloaded)")
    if stand_in:
        print("(no trained teacher: untrained stand-ins of the same architectures were timed)")
    print(f"the run made {status.get('step')} steps during the second phase; stopped cleanly: {results['run_stopped']}")


if __name__ == "__main__":
    run_main(main)
