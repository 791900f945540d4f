"""Inputs that must agree are checked before anything runs.

An original model and its retrained reference must describe the same data (dataset, image size,
channels, class names, normalization), the reference must really be retrained without this forget set
(its sidecar says ``exclude_forget`` with this spec and these remain images), and the data on disk must
be the data the models were trained on (the fingerprint recorded at training time). Every message says
what differs.
"""

from __future__ import annotations

from ..core.digest import index_digest
from ..core.errors import UserError
from ..core.validation import warn
from ..data import ForgetSplit, ImageDataset
from ..data.fingerprint import differences, fingerprint
from ..data.forget import canonical_spec
from .runmeta import RunMeta


def _short(value) -> str:
    text = "native" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def described_data(meta: RunMeta) -> dict:
    """The facts about a model's data that two models of one experiment must share."""
    spec = meta.model
    return {
        "dataset": meta.dataset,
        "image size": meta.image_size,
        "channels": spec.get("in_channels"),
        "number of classes": spec.get("num_classes"),
        "class names": meta.classes,
        "normalization mean": [round(v, 4) for v in spec.get("mean", [])],
        "normalization std": [round(v, 4) for v in spec.get("std", [])],
    }


def check_pair(
    meta: RunMeta,
    ref_meta: RunMeta,
    forget: str,
    *,
    roles: tuple[str, str] = ("--original", "--retrain"),
    any_model: bool = False,
) -> None:
    """Refuse a model / reference pair that does not belong together, naming what differs."""
    first, second = roles
    a, b = described_data(meta), described_data(ref_meta)
    diffs = [
        f"{key} {_short(a[key])} vs {_short(b[key])}"
        for key in a
        if a[key] != b[key] and (key == "image size" or not (a[key] is None or b[key] is None))
    ]
    if diffs:
        raise UserError(
            f"{first} and {second} were trained on different data ({'; '.join(diffs[:3])}); pass models of the same dataset and settings"
        )
    if not ref_meta.exclude_forget:
        kind = ref_meta.kind or "not retrained"
        what = (
            "an original model, trained on every image (the forget set included)"
            if kind == "original"
            else f"a{'n' if kind[:1] in 'aeiou' else ''} {kind} model"
        )
        swapped = " (did you swap --original and --retrain?)" if meta.exclude_forget else ""
        raise UserError(
            f"{second} is {what}, not one retrained without the forget set{swapped}; pass the run trained with --exclude-forget --forget {forget}"
        )
    if not any_model:
        check_original(meta, first)


def check_original(meta: RunMeta, label: str = "--original") -> None:
    """The model to unlearn from must not be a retrained reference (a swapped pair)."""
    if meta.exclude_forget:
        raise UserError(
            f"{label} is a retrained model (trained without {meta.forget}), not the original; pass the model trained on every image (did you swap --original and --retrain?)"
        )


def check_reference_split(ref_meta: RunMeta, split: ForgetSplit, second: str = "--retrain") -> None:
    """The reference must have left out this spec, and trained on exactly this split's remain images."""
    # sidecars written before specs were canonical may hold another spelling of the same spec
    if canonical_spec(ref_meta.forget or "") != split.spec:
        raise UserError(
            f"{second} left out {ref_meta.forget!r}, but --forget is {split.spec!r}; pass --forget {ref_meta.forget} or retrain for this spec"
        )
    recorded = ref_meta.train_indices_sha256
    if recorded is not None and recorded != index_digest(split.train_remain):
        count = ref_meta.train_images
        raise UserError(
            f"{second} left out {split.spec!r} but from other images: it trained on {count} images, this split keeps "
            f"{len(split.train_remain)} (the data or the split seed changed since); retrain it on the current data"
        )


def check_data(meta: RunMeta, data: ImageDataset, label: str) -> None:
    """The data on disk must be what the model was trained on (its recorded fingerprint and class names)."""
    if meta.classes is not None and list(meta.classes) != list(data.classes):
        raise UserError(
            f"{label} was trained with classes {_short(meta.classes)}, but {data.name} now has {_short(data.classes)}; restore the data or retrain"
        )
    recorded = meta.data_fingerprint
    if not isinstance(recorded, dict):
        warn(
            f"{label} records no data fingerprint (written by an older version): cannot check that {data.name} is unchanged since training"
        )
        return
    diffs = differences(recorded, fingerprint(data))
    if diffs:
        raise UserError(
            f"the data differ from what {label} was trained on: {'; '.join(diffs[:2])}; restore the data or retrain the model"
        )
