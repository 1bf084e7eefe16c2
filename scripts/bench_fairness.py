"""Measure what one visitor's flood of draws costs another: visitor A submits 8 digit searches of
n samples at once from one session; visitor B, from another session, times a 1-sample Generate.

    python scripts/bench_fairness.py fairness.json            # n = 256 (the app's default cap), 5 timed B calls
    python scripts/bench_fairness.py fairness.json --n 64 --quick

The app runs as its own process (`python app.py`). Before ganlab.lab.serving.one_draw_per_session,
A's eight searches queued ahead of B (40 s measured); now A has one draw in the queue and the rest
are refused at once, and draws run DRAW_CONCURRENCY at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

from bench_app import free_port, wait_for_server

from ganlab.cli import ArgumentParser, int_in, run_main
from ganlab.outputs import atomic_write_json, check_output_file


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("output", help="where to write the JSON results")
    parser.add_argument("--n", type=int_in(1, 256), default=256, help="samples per search of visitor A")
    parser.add_argument("--flood", type=int_in(1, 64), default=8, help="searches visitor A submits at once")
    parser.add_argument("--quick", action="store_true", help="3 timed calls of visitor B")
    args = parser.parse_args()
    out = check_output_file(args.output, (".json",))
    from ganlab.precision import machine

    port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="ganlab-fair-"))
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GANLAB_RUNS_DIR": str(scratch / "runs"), "GRADIO_TEMP_DIR": str(scratch / "gradio")}
    log = open(scratch / "app.log", "wb")
    process = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        visitor_a = wait_for_server(url, process, scratch / "a")
        visitor_b = wait_for_server(url, process, scratch / "b")
        visitor_b.predict(0, 1, "bundled student", api_name="/generate")  # warm
        jobs = [visitor_a.submit(index, args.n, "bundled student", "1", api_name="/generate") for index in range(args.flood)]
        time.sleep(0.3)  # A's joins reach the queue first
        latencies = []
        for index in range(3 if args.quick else 5):
            start = time.perf_counter()
            visitor_b.predict(index, 1, "bundled student", api_name="/generate")
            latencies.append(round((time.perf_counter() - start) * 1000, 1))
        outcomes = []
        for job in jobs:
            try:
                job.result(timeout=120)
                outcomes.append("drawn")
            except Exception as error:  # the refusal arrives as the client's error
                outcomes.append("refused" if "400 Bad Request" in str(error) or "still being drawn" in str(error) else f"error: {error}")
        result = {
            "n": args.n, "flood": args.flood, "b_latency_ms": latencies, "b_max_ms": max(latencies),
            "a_outcomes": {kind: outcomes.count(kind) for kind in sorted(set(outcomes))},
            "machine": machine(), "load": os.getloadavg()[0],
        }  # fmt: skip
        atomic_write_json(out, result)
        print(json.dumps(result, indent=2))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    run_main(main)
