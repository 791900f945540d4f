"""MedMNIST 2-D subsets from the project's ``.npz`` files (``pathmnist.npz``, ``pathmnist_64.npz``, ...).

No download here: the ``medmnist`` package is not a dependency. ``pip install medmnist`` and
``python -m medmnist download`` put the files in ``~/.medmnist``, which is searched last.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..core.errors import UserError
from ..core.validation import MAX_CLASSES
from .base import DataOptions, ImageDataset, Split, channel_stats, class_names, resize_uint8, to_nchw_uint8
from .files import candidate_folders, find_folder
from .registry import register_dataset, search_roots

SUBDIR = "medmnist"
MEDMNIST_HOME = Path("~/.medmnist")  # where `python -m medmnist download` writes
_ORGANS = [
    "bladder",
    "femur-left",
    "femur-right",
    "heart",
    "kidney-left",
    "kidney-right",
    "liver",
    "lung-left",
    "lung-right",
    "pancreas",
    "spleen",
]
# label names from medmnist/info.py; flags not listed here get "0".."K-1"
CLASSES = {
    "pathmnist": [
        "adipose",
        "background",
        "debris",
        "lymphocytes",
        "mucus",
        "smooth muscle",
        "normal colon mucosa",
        "cancer-associated stroma",
        "colorectal adenocarcinoma epithelium",
    ],
    "dermamnist": [
        "actinic keratoses and intraepithelial carcinoma",
        "basal cell carcinoma",
        "benign keratosis-like lesions",
        "dermatofibroma",
        "melanoma",
        "melanocytic nevi",
        "vascular lesions",
    ],
    "octmnist": ["choroidal neovascularization", "diabetic macular edema", "drusen", "normal"],
    "pneumoniamnist": ["normal", "pneumonia"],
    "breastmnist": ["malignant", "normal, benign"],
    "bloodmnist": [
        "basophil",
        "eosinophil",
        "erythroblast",
        "immature granulocytes",
        "lymphocyte",
        "monocyte",
        "neutrophil",
        "platelet",
    ],
    "tissuemnist": [
        "Collecting Duct, Connecting Tubule",
        "Distal Convoluted Tubule",
        "Glomerular endothelial cells",
        "Interstitial endothelial cells",
        "Leukocytes",
        "Podocytes",
        "Proximal Tubule Segments",
        "Thick Ascending Limb",
    ],
    "organamnist": _ORGANS,
    "organcmnist": _ORGANS,
    "organsmnist": _ORGANS,
}
# Flips are label-preserving for tissue, cells, skin, retina and chest images, but the organ subsets
# have left/right labels (kidney-left vs kidney-right) that a mirror image would swap.
NO_HFLIP = {"organamnist", "organcmnist", "organsmnist"}
KEYS = ["train_images", "train_labels", "test_images", "test_labels"]
_FLAG = re.compile(r"[a-z0-9]+")


def _folders(options: DataOptions) -> list[Path]:
    return candidate_folders(options, [SUBDIR], [MEDMNIST_HOME.expanduser()])


def _file_names(flag: str, folder: Path, size: int | None) -> list[str]:
    """Preferred first: the file already at the asked size, the 28x28 base file, then other sizes (smallest first)."""
    names = [f"{flag}_{size}.npz"] if size and size != 28 else []
    names.append(f"{flag}.npz")
    sized = []
    for path in folder.glob(f"{flag}_*.npz"):
        suffix = path.stem[len(flag) + 1 :]
        if suffix.isdigit():
            sized.append((int(suffix), path.name))
    return names + [name for _, name in sorted(sized)]


def find_file(flag: str, options: DataOptions) -> Path | None:
    for folder in _folders(options):
        if not folder.is_dir():
            continue
        for name in _file_names(flag, folder, options.image_size):
            if (folder / name).is_file():
                return folder / name
    return None


def _check_flag(arg: str | None) -> str:
    flag = (arg or "").lower()
    if not _FLAG.fullmatch(flag):
        raise UserError(f"bad MedMNIST flag {arg!r}; use medmnist:<flag>, e.g. medmnist:pathmnist")
    return flag


def locate(arg, options: DataOptions) -> str | None:
    if arg is None:  # listing datasets: report where MedMNIST files are, if any
        folder = find_folder(_folders(options), lambda f: f.is_dir() and any(f.glob("*mnist*.npz")))
        return str(folder) if folder else None
    path = find_file(_check_flag(arg), options)
    return str(path) if path else None


def _images(array: np.ndarray, path: Path, key: str) -> torch.Tensor:
    if array.dtype != np.uint8 or not (array.ndim == 3 or (array.ndim == 4 and array.shape[-1] in (1, 3))):
        raise UserError(
            f"{path} {key} is {array.dtype} {array.shape}, not uint8 (N,H,W) or (N,H,W,3) images; "
            "only the 2-D MedMNIST subsets are supported"
        )
    return to_nchw_uint8(array, channels_last=True)


def _labels(array: np.ndarray, path: Path, flag: str) -> torch.Tensor:
    if array.dtype.kind not in "iu" or array.ndim not in (1, 2):
        raise UserError(f"{path} labels are {array.dtype} {array.shape}, not integers (N,) or (N,1); re-download it")
    if array.ndim == 2 and array.shape[1] > 1:
        raise UserError(
            f"{flag} is multi-label ({array.shape[1]} labels per image) and unsupported; pick a single-label flag such as pathmnist"
        )
    labels = torch.from_numpy(array.astype(np.int64).reshape(-1))
    if labels.numel() and labels.min() < 0:
        raise UserError(f"{path} has negative labels; re-download it")
    return labels


@register_dataset(
    "medmnist",
    summary="MedMNIST 2-D subsets from <flag>.npz (pathmnist, dermamnist, ...)",
    locate=locate,
    argument="<flag>",
)
def load_medmnist(arg: str | None, options: DataOptions) -> ImageDataset:
    flag = _check_flag(arg)
    path = find_file(flag, options)
    if path is None:
        where = search_roots(options)[0] / f"{flag}.npz"
        raise UserError(
            f"MedMNIST {flag} not found; put {flag}.npz in --data-dir, $LANGEVIN_DATA or ./data (e.g. {where}), "
            f"or run `pip install medmnist && python -m medmnist download`, which writes {MEDMNIST_HOME}/{flag}.npz"
        )
    fetch = f"delete it and re-download it (`pip install medmnist && python -m medmnist download` writes {MEDMNIST_HOME}/{flag}.npz)"
    if not zipfile.is_zipfile(path):  # np.load would take it for a pickle and advise allow_pickle, never wanted
        raise UserError(f"{path} is not a valid .npz file (a zip of arrays); {fetch}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in KEYS if k not in npz.files]
            if missing:
                raise UserError(f"{path} lacks {', '.join(missing)}; it is not a MedMNIST file, re-download it")
            arrays = {k: npz[k] for k in KEYS}
    except UserError:
        raise
    except ValueError as e:
        if "pickle" in str(e):  # object arrays: numpy refuses them without allow_pickle, and so does this toolkit
            raise UserError(f"{path} holds object (pickled) arrays, which are never loaded; {fetch}") from None
        raise UserError(f"{path} is unreadable (ValueError: {e}); {fetch}") from None
    except Exception as e:  # truncated download, a damaged zip member
        raise UserError(f"{path} is unreadable ({type(e).__name__}: {e}); {fetch}") from None

    # MedMNIST's val split is ignored: train is the training set, test the held-out set, as in the
    # other datasets here (model selection on val is not part of this toolkit).
    def split(kind: str) -> Split:
        images = _images(arrays[f"{kind}_images"], path, f"{kind}_images")
        labels = _labels(arrays[f"{kind}_labels"], path, flag)
        if len(images) != len(labels):
            raise UserError(
                f"{path} has {len(images)} {kind} images but {len(labels)} {kind} labels; the file is damaged, {fetch}"
            )
        return Split(resize_uint8(images, options.image_size), labels)

    train, test = split("train"), split("test")
    if train.images.shape[1:] != test.images.shape[1:]:
        raise UserError(f"{path} train and test images differ in shape; re-download it")
    if len(train) == 0 or len(test) == 0:
        raise UserError(f"{path} has an empty train or test split; re-download it")
    k = int(max(train.labels.max(), test.labels.max())) + 1
    if k > MAX_CLASSES:  # checked before anything (class names, the model's head) is sized by it
        raise UserError(
            f"{path} has a label {k - 1}, beyond {MAX_CLASSES} classes; the file is corrupt, re-download it"
        )
    names = CLASSES.get(flag)
    # known names fix K even when the top class happens to be absent from both splits
    classes = list(names) if names and k <= len(names) else class_names(k)
    mean, std = channel_stats(train.images)
    return ImageDataset(
        f"medmnist:{flag}", train, test, classes, mean, std, hflip=flag not in NO_HFLIP, source=str(path)
    )
