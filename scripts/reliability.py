"""Run the reliability tests, keep what they recorded, and regenerate docs/reliability.md from it.

    python scripts/reliability.py                            # tests/test_reliability_*.py, then the page
    python scripts/reliability.py --records runs/reliability # where the tests write their records first

The tests record each malformed-input case and each figure (concurrency, stop/restart,
divergence, no pickle) only when GANLAB_RELIABILITY_OUT names a folder; this script sets it,
runs them, stores the records as checkpoints/reliability.json and renders the page through
scripts/results.py (whose --check then keeps it honest). Tests never write the README or docs/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

from ganlab.cli import ArgumentParser, run_main

TESTS = sorted(str(path.relative_to(REPO)) for path in (REPO / "tests").glob("test_reliability*.py"))


def main() -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("--records", default="runs/reliability", help="folder the tests write their records into")
    parser.add_argument("--folder", default=str(REPO / "checkpoints"), help="where reliability.json is kept")
    parser.add_argument("--docs", default=str(REPO / "docs"))
    args = parser.parse_args()

    from ganlab.checkpoints import atomic_write_json
    from ganlab.errors import GanlabError
    from results import Measured, regenerate

    records_dir = Path(args.records).resolve()
    (records_dir / "reliability.json").unlink(missing_ok=True)  # never keep a previous run's records
    env = {**os.environ, "GANLAB_RELIABILITY_OUT": str(records_dir)}
    if subprocess.run([sys.executable, "-m", "pytest", "-q", *TESTS], cwd=REPO, env=env).returncode != 0:
        raise GanlabError("the reliability tests failed (see above); checkpoints/reliability.json is unchanged")
    try:
        records = json.loads((records_dir / "reliability.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise GanlabError(f"the tests left no readable records in {records_dir} ({error})") from None
    folder = Path(args.folder)
    atomic_write_json(folder / "reliability.json", records)
    regenerate(REPO / "README.md", Path(args.docs), Measured(folder, {}, 0), only="reliability.md")
    print(f"{folder / 'reliability.json'}: {len(records['cases'])} cases, figures: {', '.join(records['figures'])}; docs/reliability.md regenerated")
    return 0


if __name__ == "__main__":
    run_main(main)
