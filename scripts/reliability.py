"""Run the reliability tests and rewrite the README's Reliability section from what they recorded.

    python scripts/reliability.py              # pytest tests/test_reliability.py, then README.md
    python scripts/reliability.py --no-tests   # README.md from the last run's records (--records)

tests/test_reliability.py writes reliability.json (cases and figures) and reliability.md (the
malformed-input table) into $GANLAB_RELIABILITY_OUT; this script points that at --records,
then replaces only the text between `<!-- reliability:start -->` and `<!-- reliability:end -->`.
The Limits table is read from ganlab.lab.LabSettings, so it cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ganlab.cli import ArgumentParser, run_main  # noqa: E402

START, END = "<!-- reliability:start -->", "<!-- reliability:end -->"
# the LabSettings fields that bound what one visitor can take (the rest are locations and Hub repos)
CAPS = ("max_samples", "max_frames", "max_steps", "max_batch_size", "run_cap_s", "idle_stop_s", "train_threads", "sample_threads", "train_images")


def limits_markdown() -> str:
    """Every LabSettings field whose comment names a GANLAB_* variable: caps first, then the rest."""
    from ganlab.lab import LabSettings

    comments = {}
    for line in inspect.getsource(LabSettings).splitlines():
        found = re.match(r"\s+(\w+): .*?# (GANLAB_\w+)(?::\s*(.*))?$", line)
        if found:
            comments[found.group(1)] = (found.group(2), found.group(3) or "")
    defaults = LabSettings()
    rows = ["| setting | environment variable | default | what it limits |", "|---|---|---|---|"]
    for field in dataclasses.fields(LabSettings):
        if field.name not in comments or field.name not in CAPS:
            continue
        variable, meaning = comments[field.name]
        value = getattr(defaults, field.name)
        shown = f"{value:,}" if isinstance(value, int) else (f"{value:g}" if isinstance(value, float) else (value or "—"))
        rows.append(f"| `{field.name}` | `{variable}` | {shown} | {meaning} |")
    return "\n".join(rows)


def figures_markdown(figures: dict) -> str:
    lines = []
    if concurrency := figures.get("concurrency"):
        lines.append(
            f"- **Concurrency**: {concurrency['generate_clients']} gradio_client clients sent "
            f"{concurrency['generate_requests']} `generate` requests while a run trained, and 3 more clients sent "
            f"{concurrency['start_run_requests']} `start_run` requests: {concurrency['error_responses']} error responses, "
            f"every `start_run` answered \"a run is already training\", at most {concurrency['most_trainer_threads']} "
            f"trainer thread at any moment ({concurrency['seconds']} s, {concurrency['steps_trained_meanwhile']} steps trained meanwhile)."
        )
    if starts := figures.get("simultaneous_starts"):
        lines.append(
            f"- **Simultaneous starts**: {starts['requests']} clients pressed Start at the same moment on an idle app: "
            f"{starts['runs_started']} run started; the slot was free again once it finished."
        )
    if cycles := figures.get("stop_restart"):
        lines.append(
            f"- **Stop and restart {cycles['cycles']}× in a row** (through the API): threads "
            f"{cycles['threads_before']} before → {cycles['threads_after']} after, of which ganlab's trainer/watchdog "
            f"threads after: {cycles['ganlab_threads_after']} (the rest is Gradio's AnyIO worker pool, "
            f"{cycles['pool_threads_before']} → {cycles['pool_threads_after']}, capped at 40); RSS after glibc's malloc_trim {cycles['rss_before_mb']:.0f} MB "
            f"before → {cycles['rss_after_mb']:.0f} MB after, largest growth {cycles['rss_max_growth_mb']:.0f} MB, "
            f"median of cycles 16–20 minus median of cycles 6–10 {cycles['rss_growth_last_10_mb']:.0f} MB."
        )
    if divergence := figures.get("divergence"):
        lines.append(
            f"- **Divergence**: a run whose loss became inf at step {divergence['diverged_at_step']} stopped itself "
            f"(\"{divergence['message'].removeprefix('Failed: ')}\"), freed the slot, and kept its step-"
            f"{divergence['kept_checkpoint_step']} checkpoint loadable; Compare and the next run worked."
        )
    if pickle := figures.get("no_pickle"):
        lines.append(
            f"- **No pickle**: {pickle['python_files_scanned']} Python files scanned (ast) for `import pickle`, "
            f"`torch.load` without `weights_only=True` and `numpy.load(allow_pickle=True)`: {pickle['problems']} found."
        )
    return "\n".join(lines)


def section(records: dict, cases_table: str) -> str:
    from ganlab.config import MAX_BATCH_SIZE, MAX_STEPS

    count = len(records["cases"])
    surfaces = sorted({case["surface"].split()[0] for case in records["cases"]})
    return f"""## Reliability

A public demo meets every kind of visitor, so `tests/test_reliability.py` tries to break it and
`python scripts/reliability.py` copies what happened here. Every refusal below is one clear line
(a ⚠️ status text and a warning toast in the app, `error: …` and exit status 2 on the command line),
never a stack trace; runs end by themselves at a cap; checkpoints and metrics are written to a
temporary file and renamed (a writer killed before the rename leaves the previous file loadable);
nothing is ever unpickled.

### {count} malformed inputs ({", ".join(surfaces)})

{cases_table.strip()}

### Concurrency, stop/restart, divergence

{figures_markdown(records["figures"])}

## Limits

Caps that keep a shared 2-vCPU Space usable. Set the variables to change them in your own copy
(`GANLAB_MAX_STEPS=50000 python app.py`); a malformed value stops the app at start with one line.

{limits_markdown()}

Whatever the variables say, a UI run's learning rates stay in (0, 0.1] and its time budget under
`GANLAB_RUN_CAP_S`; the training scripts cap steps at {MAX_STEPS:,} and the batch size at {MAX_BATCH_SIZE:,}
(`ganlab.config`).
"""


def replace_region(readme: str, body: str) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md has no {START} … {END} region")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{body.strip()}\n{END}{tail}"


def main() -> int:
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("--records", default="runs/reliability", help="folder the tests write their records into")
    parser.add_argument("--no-tests", action="store_true", help="only rewrite README.md from existing records")
    parser.add_argument("--readme", default=str(REPO / "README.md"))
    args = parser.parse_args()

    from ganlab.errors import GanlabError

    records_dir = Path(args.records).resolve()
    if not args.no_tests:
        env = {**os.environ, "GANLAB_RELIABILITY_OUT": str(records_dir)}
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_reliability.py"], cwd=REPO, env=env)
        if result.returncode != 0:
            raise GanlabError("the reliability tests failed (see above); README.md is unchanged")
    try:
        records = json.loads((records_dir / "reliability.json").read_text())
        cases_table = (records_dir / "reliability.md").read_text(encoding="utf-8")
    except (OSError, ValueError) as error:
        raise GanlabError(f"no readable records in {records_dir} ({error}); run without --no-tests first") from None
    readme = Path(args.readme)
    readme.write_text(replace_region(readme.read_text(encoding="utf-8"), section(records, cases_table)), encoding="utf-8")
    print(f"README.md: {len(records['cases'])} cases, figures: {', '.join(records['figures'])}")
    return 0


if __name__ == "__main__":
    run_main(main)
