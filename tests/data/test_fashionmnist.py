import gzip
from pathlib import Path

import numpy as np
import pytest

from langevin_unlearning.core.errors import UserError
from langevin_unlearning.data import DataOptions, load_dataset
from langevin_unlearning.data.fashionmnist import DEBIAN_DIR, read_idx


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_fixture(folder: Path, compress: bool, n_train=20, n_test=10):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    for name, arr in arrays.items():
        write_idx(folder / name, arr, compress)
    return arrays


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.delenv("LANGEVIN_DATA", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_fixture_in_torchvision_layout(tmp_path, compress):
    arrays = write_fixture(tmp_path / "FashionMNIST" / "raw", compress)
    ds = load_dataset("fashionmnist", DataOptions(data_dir=tmp_path, download=False))
    assert ds.train.images.shape == (20, 1, 28, 28) and ds.test.images.shape == (10, 1, 28, 28)
    assert (ds.train.images[:, 0].numpy() == arrays["train-images-idx3-ubyte"]).all()
    assert ds.train.labels.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert ds.source == str(tmp_path / "FashionMNIST" / "raw")


def test_langevin_data_env_and_resize(tmp_path, monkeypatch):
    write_fixture(tmp_path / "elsewhere", compress=True)
    monkeypatch.setenv("LANGEVIN_DATA", str(tmp_path / "elsewhere"))
    ds = load_dataset("fashionmnist", DataOptions(image_size=32, download=False))
    assert ds.train.images.shape == (20, 1, 32, 32)


def test_truncated_idx_is_a_clear_error(tmp_path):
    path = tmp_path / "bad-idx"
    path.write_bytes(bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + bytes(10))
    with pytest.raises(UserError, match="truncated"):
        read_idx(path)
    path.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(UserError, match="not an IDX file"):
        read_idx(path)


@pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist (.ci/run does)")
def test_debian_package_is_found_with_full_splits(tmp_path):
    (tmp_path / "empty").mkdir()
    ds = load_dataset("fashionmnist", DataOptions(data_dir=tmp_path / "empty", download=False))
    assert ds.source == str(DEBIAN_DIR)
    assert len(ds.train) == 60000 and len(ds.test) == 10000
    assert ds.train.images.shape[1:] == (1, 28, 28)
    assert sorted(ds.train.labels.unique().tolist()) == list(range(10))
    assert abs(ds.train.images.float().mean().item() / 255 - ds.mean[0]) < 0.01
