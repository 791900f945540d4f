"""Loaders read small fixtures written here in each dataset's real on-disk format (nothing is downloaded)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import langevin_unlearning.data.folder as folder_mod
from langevin_unlearning.core.errors import UserError
from langevin_unlearning.data import DataOptions, load_dataset

CIFAR_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Search only tmp_path: no $LANGEVIN_DATA, ./data is tmp_path/data, ~/.medmnist is empty."""
    monkeypatch.delenv("LANGEVIN_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def opts(tmp_path, **kw) -> DataOptions:
    return DataOptions(data_dir=tmp_path, download=False, **kw)


def check_split(split, n: int, shape: tuple[int, int, int]) -> None:
    assert split.images.shape == (n, *shape) and split.images.dtype == torch.uint8
    assert split.labels.shape == (n,) and split.labels.dtype == torch.int64


# ---------------------------------------------------------------- CIFAR-10


def write_cifar(root: Path, n: int = 4, protocol: int = 2) -> dict[str, np.ndarray]:
    """Batches as the real files hold them: dicts with bytes keys, b"data" (n, 3072) channel-major uint8."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    data = {}
    for b, name in enumerate(CIFAR_FILES):
        data[name] = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        batch = {
            b"batch_label": f"batch {b + 1}".encode(),
            b"labels": [(b * n + j) % 10 for j in range(n)],
            b"data": data[name],
            b"filenames": [f"img_{b}_{j}.png".encode() for j in range(n)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=protocol)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"num_cases_per_batch": n, b"label_names": CIFAR_NAMES, b"num_vis": 3072}, f, protocol=protocol)
    return data


@pytest.mark.parametrize("protocol", [2, 4, 5])  # 2: the real files; 4/5: re-pickled by numpy 2
def test_cifar10_layout_labels_classes(tmp_path, protocol):
    data = write_cifar(tmp_path, protocol=protocol)
    ds = load_dataset("cifar10", opts(tmp_path))
    check_split(ds.train, 20, (3, 32, 32))
    check_split(ds.test, 4, (3, 32, 32))
    assert ds.train.labels.tolist() == [i % 10 for i in range(20)]
    assert ds.test.labels.tolist() == [(20 + j) % 10 for j in range(4)]
    assert ds.classes == [n.decode() for n in CIFAR_NAMES] and ds.hflip and ds.num_classes == 10
    # a row is 1024 red, 1024 green, 1024 blue, each a row-major 32x32 plane
    row = data["data_batch_2"][1]
    for c, h, w in [(0, 0, 0), (1, 5, 7), (2, 31, 30), (0, 12, 31)]:
        assert ds.train.images[4 + 1, c, h, w] == row[1024 * c + 32 * h + w]
    assert torch.equal(ds.test.images.reshape(4, -1), torch.from_numpy(data["test_batch"]))


def test_cifar10_search_roots_and_resize(tmp_path):
    write_cifar(tmp_path / "data")  # ./data, with no --data-dir
    ds = load_dataset("cifar10", DataOptions(download=False, image_size=16))
    check_split(ds.train, 20, (3, 16, 16))
    assert Path(ds.source) == Path("data/cifar-10-batches-py")


def test_cifar10_batches_folder_given_directly(tmp_path):
    write_cifar(tmp_path)
    ds = load_dataset("cifar10", DataOptions(data_dir=tmp_path / "cifar-10-batches-py", download=False))
    assert len(ds.train) == 20


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_cifar10_refuses_code_in_pickles(tmp_path):
    write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_3", "wb") as f:
        pickle.dump({b"data": _Evil(marker), b"labels": [0]}, f, protocol=2)
    with pytest.raises(UserError, match="data_batch_3 is not a plain CIFAR-10 batch"):
        load_dataset("cifar10", opts(tmp_path))
    assert not marker.exists()


def test_cifar10_missing(tmp_path):
    with pytest.raises(UserError, match="CIFAR-10 not found"):
        load_dataset("cifar10", opts(tmp_path))


# ---------------------------------------------------------------- SVHN


def write_svhn(folder: Path, n_train: int = 12, n_test: int = 5) -> dict[str, np.ndarray]:
    from scipy.io import savemat

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    xs = {}
    for name, n in [("train", n_train), ("test", n_test)]:
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)  # 1..10, 10 meaning digit 0
        savemat(str(folder / f"{name}_32x32.mat"), {"X": x, "y": y})
        xs[name] = x
    return xs


def test_svhn_layout_and_labels(tmp_path):
    xs = write_svhn(tmp_path)
    ds = load_dataset("svhn", opts(tmp_path))
    check_split(ds.train, 12, (3, 32, 32))
    check_split(ds.test, 5, (3, 32, 32))
    assert ds.train.labels.tolist() == [(i % 10 + 1) % 10 for i in range(12)]  # 10 -> 0
    assert ds.train.labels[9] == 0 and ds.classes == [str(i) for i in range(10)] and not ds.hflip
    x = xs["train"]
    for i, c, h, w in [(0, 0, 0, 0), (3, 1, 4, 9), (11, 2, 31, 0)]:
        assert ds.train.images[i, c, h, w] == x[h, w, c, i]


def test_svhn_subfolder_and_resize(tmp_path):
    write_svhn(tmp_path / "svhn")
    ds = load_dataset("svhn", opts(tmp_path, image_size=24))
    check_split(ds.test, 5, (3, 24, 24))


def test_svhn_missing(tmp_path):
    with pytest.raises(UserError, match="SVHN not found"):
        load_dataset("svhn", opts(tmp_path))


# ---------------------------------------------------------------- MedMNIST


def write_medmnist(path: Path, n: int = 30, k: int = 9, rgb: bool = True, size: int = 28, multilabel: int = 0) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    arrays = {}
    for split, m in [("train", n), ("val", n // 3), ("test", n // 2)]:
        shape = (m, size, size, 3) if rgb else (m, size, size)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        if multilabel:
            arrays[f"{split}_labels"] = rng.integers(0, 2, (m, multilabel), dtype=np.uint8)
        else:
            arrays[f"{split}_labels"] = (np.arange(m) % k).astype(np.uint8).reshape(m, 1)
    np.savez_compressed(path, **arrays)
    return arrays


def test_medmnist_rgb(tmp_path):
    arrays = write_medmnist(tmp_path / "pathmnist.npz")
    ds = load_dataset("medmnist:pathmnist", opts(tmp_path))
    check_split(ds.train, 30, (3, 28, 28))  # val is not used
    check_split(ds.test, 15, (3, 28, 28))
    assert ds.train.labels.tolist() == [i % 9 for i in range(30)]
    assert ds.classes[0] == "adipose" and ds.num_classes == 9 and ds.hflip
    assert torch.equal(ds.train.images, torch.from_numpy(arrays["train_images"]).permute(0, 3, 1, 2))
    assert len(ds.mean) == 3 and ds.name == "medmnist:pathmnist"


def test_medmnist_gray_subfolder_unknown_flag(tmp_path):
    arrays = write_medmnist(tmp_path / "medmnist" / "mymnist.npz", k=3, rgb=False)
    ds = load_dataset("medmnist:mymnist", opts(tmp_path))
    check_split(ds.train, 30, (1, 28, 28))
    assert torch.equal(ds.train.images[:, 0], torch.from_numpy(arrays["train_images"]))
    assert ds.classes == ["0", "1", "2"] and len(ds.mean) == 1


def test_medmnist_sizes(tmp_path):
    write_medmnist(tmp_path / "pathmnist.npz")
    write_medmnist(tmp_path / "pathmnist_64.npz", size=64)
    ds = load_dataset("medmnist:pathmnist", opts(tmp_path, image_size=64))
    assert ds.source.endswith("pathmnist_64.npz") and ds.image_shape == (3, 64, 64)
    ds = load_dataset("medmnist:pathmnist", opts(tmp_path, image_size=32))  # no _32 file: resize the base one
    assert ds.source.endswith("pathmnist.npz") and ds.image_shape == (3, 32, 32)
    ds = load_dataset("medmnist:pathmnist", opts(tmp_path))
    assert ds.image_shape == (3, 28, 28)


def test_medmnist_home_and_organ_flips(tmp_path):
    write_medmnist(tmp_path / "home" / ".medmnist" / "organamnist.npz", k=11, rgb=False)
    ds = load_dataset("medmnist:organamnist", opts(tmp_path))
    assert not ds.hflip and ds.classes[1] == "femur-left"  # left/right labels: flips would swap them


def test_medmnist_refusals(tmp_path):
    write_medmnist(tmp_path / "chestmnist.npz", rgb=False, multilabel=14)
    with pytest.raises(UserError, match="multi-label"):
        load_dataset("medmnist:chestmnist", opts(tmp_path))
    with pytest.raises(UserError, match=r"pathmnist\.npz"):
        load_dataset("medmnist:pathmnist", opts(tmp_path))
    with pytest.raises(UserError, match="flag"):
        load_dataset("medmnist:../../etc/passwd", opts(tmp_path))
    with pytest.raises(UserError, match="needs an argument"):
        load_dataset("medmnist", opts(tmp_path))
    vol = {
        f"{s}_{k}": np.zeros((2, 28, 28, 28), np.uint8) if k == "images" else np.zeros((2, 1), np.uint8)
        for s in ("train", "val", "test")
        for k in ("images", "labels")
    }
    np.savez_compressed(tmp_path / "organmnist3d.npz", **vol)
    with pytest.raises(UserError, match="2-D"):
        load_dataset("medmnist:organmnist3d", opts(tmp_path))


# ---------------------------------------------------------------- folder


def write_tree(root: Path, counts: dict[str, int], mode: str = "RGB", size=(16, 16), ext: str = ".png") -> None:
    """One sub-folder per class; pixel (0,0) encodes the class (x40) and the image index (x5) to check labels."""
    for c, (name, count) in enumerate(counts.items()):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        (d / ".DS_Store").write_bytes(b"\0junk")  # hidden and non-image files are skipped
        (d / "notes.txt").write_text("not an image")
        for i in range(count):
            if mode == "RGB":
                arr = np.zeros((size[1], size[0], 3), np.uint8)
                arr[..., 0], arr[..., 1], arr[..., 2] = 40 * c, 5 * i, 200
            else:
                arr = np.full((size[1], size[0]), 40 * c + 20, np.uint8)
            Image.fromarray(arr, mode).save(d / f"img{i:03d}{ext}")


def test_folder_split_layout_rgb(tmp_path):
    write_tree(tmp_path / "pets", {"dog": 10, "cat": 10, "bird": 5})
    ds = load_dataset(f"folder:{tmp_path / 'pets'}", DataOptions(download=False))
    assert ds.classes == ["bird", "cat", "dog"] and not ds.hflip and not ds.extra["lazy"]
    check_split(ds.train, 20, (3, 16, 16))
    check_split(ds.test, 5, (3, 16, 16))
    assert torch.bincount(ds.test.labels).tolist() == [1, 2, 2]  # stratified 80/20
    # red = 40 x the write order (dog, cat, bird): each image's label must name the folder it came from
    folder_order = {0: 2, 1: 1, 2: 0}  # label (sorted: bird, cat, dog) -> write order
    expect = torch.tensor([40 * folder_order[int(y)] for y in ds.train.labels], dtype=torch.uint8)
    assert torch.equal(ds.train.images[:, 0, 0, 0], expect)
    assert (ds.train.images[:, 2] == 200).all()
    assert len(ds.mean) == 3 and abs(ds.mean[2] - 200 / 255) < 1e-3


def test_folder_split_is_seeded(tmp_path):
    write_tree(tmp_path / "d", {"a": 10, "b": 10})

    def test_pixels(seed):
        ds = load_dataset("folder:d", DataOptions(data_dir=tmp_path, seed=seed, download=False))
        return ds.test.images[:, :2, 0, 0].tolist()  # (class, index) of each held-out image

    assert test_pixels(0) == test_pixels(0)
    assert test_pixels(0) != test_pixels(1)


def test_folder_train_test_layout_gray_jpeg(tmp_path):
    write_tree(tmp_path / "x" / "train", {"no": 4, "yes": 3}, mode="L", size=(20, 20), ext=".JPG")
    write_tree(tmp_path / "x" / "test", {"no": 2, "yes": 2}, mode="L", size=(20, 20), ext=".jpeg")
    ds = load_dataset(f"folder:{tmp_path / 'x'}", opts(tmp_path, image_size=8))
    assert ds.classes == ["no", "yes"] and ds.in_channels == 1
    check_split(ds.train, 7, (1, 8, 8))
    check_split(ds.test, 4, (1, 8, 8))
    assert ds.train.labels.tolist() == [0] * 4 + [1] * 3
    assert (ds.test.images[ds.test.labels == 1].float() - 60).abs().max() <= 3  # JPEG is lossy

    write_tree(tmp_path / "x" / "test", {"maybe": 1}, mode="L", size=(20, 20))
    with pytest.raises(UserError, match="maybe"):
        load_dataset(f"folder:{tmp_path / 'x'}", opts(tmp_path))


def test_folder_sizes_and_16_bit(tmp_path):
    root = tmp_path / "scans"
    write_tree(root, {"a": 5, "b": 5}, mode="L", size=(12, 12))
    Image.fromarray(np.full((30, 30), 0x4000, np.uint16)).save(root / "b" / "zz_16bit.png")  # other size, 16-bit
    ds = load_dataset(f"folder:{root}", opts(tmp_path))
    assert ds.image_shape == (1, 12, 12)  # the first image's size; the rest are resized to it
    both = torch.cat([ds.train.images, ds.test.images])
    assert (both[:, 0, 0, 0] == 0x40).any()  # 16-bit kept its top 8 bits instead of clipping to 255
    Image.fromarray(np.zeros((10, 14), np.uint8)).save(root / "a" / "img000.png")  # first image not square
    with pytest.raises(UserError, match="--image-size"):
        load_dataset(f"folder:{root}", opts(tmp_path))
    assert load_dataset(f"folder:{root}", opts(tmp_path, image_size=10)).image_shape == (1, 10, 10)


def test_folder_lazy_matches_eager(tmp_path, monkeypatch):
    write_tree(tmp_path / "d", {"a": 6, "b": 6, "c": 6}, size=(10, 10))
    eager = load_dataset("folder:d", opts(tmp_path, image_size=12))
    monkeypatch.setattr(folder_mod, "EAGER_MAX_BYTES", 0)
    lazy = load_dataset("folder:d", opts(tmp_path, image_size=12))
    assert isinstance(lazy.train.images, folder_mod.FolderImages) and lazy.extra["lazy"]
    assert lazy.train.images.shape == eager.train.images.shape and lazy.image_shape == (3, 12, 12)
    assert torch.equal(lazy.train.labels, eager.train.labels) and lazy.mean == eager.mean and lazy.std == eager.std
    idx = torch.tensor([5, 0, 13, 5], dtype=torch.int64)
    images, labels = lazy.train.batch(idx)
    assert images.dtype == torch.uint8 and torch.equal(images, eager.train.images[idx])
    assert torch.equal(labels, eager.train.labels[idx])
    assert torch.equal(lazy.test.images[torch.arange(len(lazy.test))], eager.test.images)
    assert torch.equal(lazy.train.images[2:7], eager.train.images[2:7])
    assert torch.equal(lazy.train.images[-1], eager.train.images[-1])


def test_folder_errors(tmp_path):
    with pytest.raises(UserError, match="not a folder"):
        load_dataset(f"folder:{tmp_path / 'nope'}", opts(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no class sub-folders"):
        load_dataset(f"folder:{tmp_path / 'empty'}", opts(tmp_path))
    write_tree(tmp_path / "d", {"a": 5})
    (tmp_path / "d" / "b").mkdir()
    with pytest.raises(UserError, match=r"d/b has no images"):
        load_dataset(f"folder:{tmp_path / 'd'}", opts(tmp_path))
    (tmp_path / "d" / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="broken.png"):
        load_dataset(f"folder:{tmp_path / 'd'}", opts(tmp_path))


def test_folder_with_one_class_is_refused(tmp_path, capsys):
    write_tree(tmp_path / "one", {"cat": 6})
    with pytest.raises(UserError, match=r"one class sub-folder \('cat'\); a classifier needs at least two") as e:
        load_dataset(f"folder:{tmp_path / 'one'}", opts(tmp_path))
    assert "\n" not in str(e.value)
    write_tree(tmp_path / "split" / "train", {"cat": 4})
    write_tree(tmp_path / "split" / "test", {"cat": 2})
    with pytest.raises(UserError, match="at least two"):
        load_dataset(f"folder:{tmp_path / 'split'}", opts(tmp_path))
    from langevin_unlearning.cli import main

    out = tmp_path / "run"
    code = main(
        ["train", "--dataset", f"folder:{tmp_path / 'one'}", "--epochs", "1", "--out", str(out), "--device", "cpu"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "at least two" in err and err.strip().count("\n") == 0, err


def test_folder_skips_dangling_links_with_one_warning(tmp_path):
    import warnings

    from langevin_unlearning.core.validation import InputWarning

    root = tmp_path / "pets"
    write_tree(root, {"cat": 5, "dog": 5})
    for name in ("gone1.png", "gone2.jpg"):
        (root / "cat" / name).symlink_to(tmp_path / "missing" / name)
    (root / "dog" / "ok_link.png").symlink_to(root / "dog" / "img000.png")  # a link to an image is an image
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset(f"folder:{root}", opts(tmp_path))
    assert len(ds.train) + len(ds.test) == 11
    messages = [str(w.message) for w in caught if issubclass(w.category, InputWarning)]
    assert len(messages) == 1 and "skipped 2 image files" in messages[0] and "cat/gone1.png" in messages[0]
    assert "\n" not in messages[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_dataset(f"folder:{tmp_path / 'pets'}", opts(tmp_path))
        (root / "cat" / "gone1.png").unlink()
        (root / "cat" / "gone2.jpg").unlink()
        load_dataset(f"folder:{root}", opts(tmp_path))
    assert len([w for w in caught if issubclass(w.category, InputWarning)]) == 1  # none once the links are gone
