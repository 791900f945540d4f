"""A fingerprint of a dataset's splits, recorded when a model is trained and checked when it is used.

Per split: the image count and shape, a sha256 of the labels, a sha256 of a fixed sample of images
(evenly spaced, so it costs the same for 1k or 1M images), and for folder datasets a sha256 of the file
list. Comparing two fingerprints names what changed: a folder that gained or lost images, relabelled or
edited images, another dataset behind the same name.
"""

from __future__ import annotations

import hashlib

import torch

from .base import ImageDataset, Split

VERSION = 1
SAMPLE = 32  # images hashed per split


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _split_fingerprint(split: Split, files: list[str] | None) -> dict:
    n = len(split)
    idx = torch.linspace(0, n - 1, steps=min(n, SAMPLE)).long() if n else torch.empty(0, dtype=torch.int64)
    sample = split.images[idx] if n else torch.empty(0, dtype=torch.uint8)
    entry = {
        "count": n,
        "shape": list(split.images.shape[1:]),
        "labels_sha256": _sha(split.labels.to(torch.int64).contiguous().numpy().tobytes()),
        "images_sha256": _sha(sample.contiguous().numpy().tobytes()),
    }
    if files is not None:
        entry["files"] = len(files)
        entry["files_sha256"] = _sha("\n".join(files).encode("utf-8", "surrogateescape"))
    return entry


def fingerprint(data: ImageDataset) -> dict:
    """What identifies ``data``'s train and test splits (JSON-ready)."""
    return {
        "version": VERSION,
        "train": _split_fingerprint(data.train, (data.extra.get("paths") or {}).get("train")),
        "test": _split_fingerprint(data.test, (data.extra.get("paths") or {}).get("test")),
    }


def differences(recorded: dict, current: dict) -> list[str]:
    """Human-readable differences between a recorded and a current fingerprint (empty when they agree)."""
    out = []
    for split in ("train", "test"):
        old, new = recorded.get(split) or {}, current.get(split) or {}
        if old.get("count") is not None and old.get("count") != new.get("count"):
            out.append(f"the {split} split had {old['count']} images, now {new.get('count')}")
            continue
        if old.get("shape") is not None and old.get("shape") != new.get("shape"):
            out.append(
                f"{split} images were {'x'.join(map(str, old['shape']))}, now {'x'.join(map(str, new.get('shape') or []))}"
            )
            continue
        if old.get("files_sha256") is not None and old.get("files_sha256") != new.get("files_sha256"):
            out.append(
                f"the {split} file list changed (files added, removed or renamed: {old.get('files')} files then, {new.get('files')} now)"
            )
            continue
        if old.get("labels_sha256") is not None and old.get("labels_sha256") != new.get("labels_sha256"):
            out.append(f"the {split} labels changed")
        if old.get("images_sha256") is not None and old.get("images_sha256") != new.get("images_sha256"):
            out.append(f"the {split} images changed")
    return out
