"""Content hashes that identify what a result came from: a file's bytes, a set of image indices."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def index_digest(index: torch.Tensor) -> str:
    """sha256 of an index set as int64 bytes (the order given): names a forget or remain set."""
    return hashlib.sha256(index.to(torch.int64).numpy().tobytes()).hexdigest()
