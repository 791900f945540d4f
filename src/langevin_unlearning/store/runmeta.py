"""The run record: what ``model.json`` beside every run's weights says, as one typed object.

Three writers make run folders (``experiments.training.train_run``: original and retrained models,
``experiments.setup.save_unlearned``, ``experiments.compose.save_composition``) and every reader goes through
``RunMeta``: a field is read as ``meta.dataset``, never as ``meta["dataset"]``. Keys this version does not know
(a sidecar from a newer version) are kept in ``extra`` and written back unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

KINDS = ("original", "retrained", "unlearned", "composed")


@dataclass
class RunMeta:
    model: dict  # how to rebuild the model: name, num_classes, in_channels, mean, std, width (and timm args)
    weights_sha256: str  # of model.safetensors; loading verifies it
    kind: str | None = None  # one of KINDS
    dataset: str | None = None
    data: dict = field(default_factory=dict)  # image_size, split_seed: what the loader was told
    classes: list | None = None
    forget: str | None = None  # the forget spec: left out (retrained), unlearned, or only measured (original)
    exclude_forget: bool = False  # trained without the forget set: a retrained reference
    seed: int | None = None
    forget_seed: int | None = None  # the seed that chose a class:K:F subset (default: seed)
    torch_threads: int | None = None
    threads_reason: str | None = None  # why that count: core/threads.py REASONS (asked, env, tiny model, load, caller)
    data_fingerprint: dict | None = None  # data/fingerprint.py, checked whenever the run is used
    accuracy: dict = field(default_factory=dict)  # test_acc, forget_acc, remain_acc, train_forget_acc
    versions: dict = field(default_factory=dict)
    # trained runs
    train: dict | None = None  # the TrainConfig fields: the recipe a retrained reference must share
    init_weights: dict | None = None
    recipe_sha256: str | None = None  # experiments/recipes.py: the cache key of (recipe, forget spec, seed)
    train_images: int | None = None
    train_indices_sha256: str | None = None  # of the training index set (a retrained model's remain set)
    train_seconds: float | None = None
    samples_per_second: float | None = None
    device: str | None = None
    step_mode: str | None = None
    epoch_losses: list = field(default_factory=list)
    epoch_test_acc: list = field(default_factory=list)
    # unlearned runs
    unlearning: dict | None = None  # the method and every setting
    paper: str | None = None
    original_weights_sha256: str | None = None
    selective: bool = False
    # composed runs
    composition: dict | None = None
    trajectory: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> RunMeta:
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in d.items() if k in names and v is not None}
        return cls(**known, extra={k: v for k, v in d.items() if k not in names})

    def to_dict(self) -> dict:
        """The sidecar's JSON object: fields left at their defaults are not written, unknown keys are kept."""
        out = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "extra" and not _is_default(self, f)
        }
        return {**out, **self.extra}

    @property
    def image_size(self) -> int | None:
        return self.data.get("image_size")

    @property
    def split_seed(self) -> int:
        """The seed of the dataset's own train/test split (folder: datasets)."""
        return self.data.get("split_seed", 0)

    @property
    def subset_seed(self) -> int:
        """The seed that chose the forget subset of a class:K:F spec."""
        return self.forget_seed if self.forget_seed is not None else (self.seed or 0)

    @property
    def model_name(self) -> str:
        return self.model["name"]


def _is_default(meta: RunMeta, f: dataclasses.Field) -> bool:
    value = getattr(meta, f.name)
    if f.default is not dataclasses.MISSING:
        return value is None and f.default is None
    if f.default_factory is not dataclasses.MISSING:
        return value == f.default_factory() and f.name not in ("data", "accuracy")
    return False
