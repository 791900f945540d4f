"""Training recipes and a cache keyed by them: a model is reused only when everything that made it is the same.

    recipe = Recipe("fashionmnist", cfg=TrainConfig(epochs=3, lr=0.05), width=0.25)
    out, trained = train_cached(recipe, Path("runs/fmnist/original"), forget="class:0", seed=0, device=device)

The key is the sha256 of the recipe (dataset, model, width, image size, split seed, every TrainConfig field) plus
the forget spec, whether it was left out, and the seed. It is recorded in the run's sidecar (``recipe_sha256``); a
folder whose key differs (another epoch count, learning rate, forget spec, ...) is retrained, never reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data import DataOptions
from ..engine.train import TrainConfig
from ..store.checkpoint import read_meta
from ..store.runmeta import RunMeta
from .training import train_run


@dataclass(frozen=True)
class Recipe:
    dataset: str
    cfg: TrainConfig = field(default_factory=TrainConfig)
    model: str = "allcnn"
    width: float = 1.0
    image_size: int | None = None
    split_seed: int = 0  # the dataset's own split (folder: datasets)

    def record(self) -> dict:
        return {
            "dataset": self.dataset,
            "model": self.model,
            "width": float(self.width),
            "image_size": self.image_size,
            "split_seed": self.split_seed,
            "train": dataclasses.asdict(self.cfg),
        }

    @classmethod
    def from_record(cls, record: dict) -> Recipe:
        """The recipe ``record()`` wrote (a task's plain arguments back into a recipe)."""
        return cls(
            record["dataset"],
            cfg=TrainConfig(**record["train"]),
            model=record["model"],
            width=record["width"],
            image_size=record["image_size"],
            split_seed=record["split_seed"],
        )

    def digest(self, *, forget: str | None = None, exclude_forget: bool = False, seed: int = 0) -> str:
        """sha256 of this recipe and what is trained with it (forget spec, left out or not, seed)."""
        key = {**self.record(), "forget": forget, "exclude_forget": exclude_forget, "seed": seed}
        return hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def cached_run(
    recipe: Recipe, out: str | Path, *, forget: str | None = None, exclude_forget: bool = False, seed: int = 0
) -> RunMeta | None:
    """The record of the run folder ``out`` when it was trained with this recipe (its recorded key matches), else None."""
    out = Path(out)
    if not ((out / "model.json").is_file() and (out / "model.safetensors").is_file()):
        return None
    meta = read_meta(out)
    return (
        meta if meta.recipe_sha256 == recipe.digest(forget=forget, exclude_forget=exclude_forget, seed=seed) else None
    )


def train_cached(
    recipe: Recipe,
    out: str | Path,
    *,
    forget: str | None = None,
    exclude_forget: bool = False,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    progress: bool = True,
    data=None,
    data_dir: Path | None = None,
) -> tuple[Path, bool]:
    """The run folder ``out`` for this recipe: reused when its recorded key matches, else (re)trained. Returns (out, trained)."""
    out = Path(out)
    if cached_run(recipe, out, forget=forget, exclude_forget=exclude_forget, seed=seed) is not None:
        return out, False
    train_run(
        dataset=recipe.dataset,
        model=recipe.model,
        cfg=recipe.cfg,
        out=out,
        width=recipe.width,
        forget=forget,
        exclude_forget=exclude_forget,
        seed=seed,
        device=device,
        options=DataOptions(data_dir=data_dir, image_size=recipe.image_size, seed=recipe.split_seed),
        progress=progress,
        data=data,
        recipe_sha256=recipe.digest(forget=forget, exclude_forget=exclude_forget, seed=seed),
    )
    return out, True
