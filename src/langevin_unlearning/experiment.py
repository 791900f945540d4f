"""Unlearn a saved model and measure it against the retrained reference: the API behind `unlearn`,
`evaluate`, `compare` and `main.py --do_unlearning`."""

from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .data import DataOptions, ForgetSplit, ImageDataset, load_dataset, parse_forget
from .device import seed_everything
from .errors import UserError
from .evaluation.metrics import evaluate, timing
from .io import atomic_write, write_json
from .methods import UnlearningMethod
from .models import load_checkpoint, save_checkpoint
from .runs import index_digest


@dataclass
class Setup:
    """Everything an unlearning experiment starts from."""

    data: ImageDataset
    split: ForgetSplit
    original: nn.Module
    original_meta: dict
    retrain: nn.Module | None
    retrain_meta: dict | None
    device: torch.device
    split_seed: int = 0  # the seed that chose a class:K:F forget subset


def load_setup(original: str | Path, forget: str, *, retrain: str | Path | None = None, data_dir: Path | None = None, device=torch.device("cpu"), expect_model: str | None = None) -> Setup:
    """Load the original (and retrained) model, their dataset and the forget split, checking they agree."""
    f0, meta0 = load_checkpoint(original, expect_model=expect_model, device=device)
    ref, ref_meta = (load_checkpoint(retrain, expect_model=expect_model, device=device) if retrain else (None, None))
    if ref_meta is not None:
        if ref_meta.get("dataset") != meta0.get("dataset"):
            raise UserError(f"the original model is a {meta0.get('dataset')} model but the retrained one is a {ref_meta.get('dataset')} model; pass models of the same dataset")
        if ref_meta["model"]["num_classes"] != meta0["model"]["num_classes"]:
            raise UserError("the original and retrained models have different numbers of classes; pass models of the same dataset")
    data_meta = meta0.get("data", {})
    options = DataOptions(data_dir=data_dir, image_size=data_meta.get("image_size"), seed=data_meta.get("split_seed", 0))
    data = load_dataset(meta0["dataset"], options)
    if data.num_classes != meta0["model"]["num_classes"]:
        raise UserError(f"{meta0['dataset']} has {data.num_classes} classes but the checkpoint has {meta0['model']['num_classes']}; the checkpoint is from another dataset")
    # the forget split must be the one the retrained model left out: same spec, same seed
    source = ref_meta if ref_meta else meta0
    split_seed = source.get("forget_seed", source.get("seed", 0))
    split = parse_forget(forget, data, seed=split_seed)
    if ref_meta is not None and ref_meta.get("exclude_forget"):
        if ref_meta.get("forget") != forget or ref_meta.get("train_indices_sha256") != index_digest(split.train_remain):
            raise UserError(f"the retrained model left out {ref_meta.get('forget')!r}, not {forget!r}; pass --forget {ref_meta.get('forget')} or retrain for this spec")
    return Setup(data, split, f0, meta0, ref, ref_meta, device, split_seed)


def reference_rows(setup: Setup, seed: int = 0) -> list[dict]:
    """Evaluation rows for the original and (if given) the retrained model."""
    rows = [{"model": "original", **evaluate(setup.original, setup.data, setup.split, reference=setup.retrain, device=setup.device, seed=seed)}]
    if setup.retrain is not None:
        rows.append({"model": "retrain (target)", **evaluate(setup.retrain, setup.data, setup.split, reference=setup.retrain, device=setup.device, seed=seed), "unlearn_seconds": setup.retrain_meta.get("train_seconds")})
    return rows


def unlearn_and_evaluate(setup: Setup, method: UnlearningMethod, *, seed: int = 0, progress: bool = True) -> tuple[nn.Module, dict]:
    """Run one method from the original model; return the unlearned model and its metrics row."""
    seed_everything(seed)
    if setup.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    model = method.unlearn(setup.original, setup.data, setup.split, device=setup.device, seed=seed, progress=progress)
    if setup.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    metrics = evaluate(model, setup.data, setup.split, reference=setup.retrain, device=setup.device, seed=seed)
    retrain_seconds = setup.retrain_meta.get("train_seconds") if setup.retrain_meta else None
    return model, {**metrics, **timing(seconds, retrain_seconds), **method.diagnostics}


def save_unlearned(run_dir: Path, model: nn.Module, setup: Setup, method: UnlearningMethod, metrics: dict, seed: int) -> None:
    meta = {
        "kind": "unlearned",
        "dataset": setup.original_meta["dataset"],
        "data": setup.original_meta.get("data", {}),
        "classes": setup.data.classes,
        "forget": setup.split.spec,
        "forget_seed": setup.split_seed,
        "seed": seed,
        "unlearning": method.describe(),
        "paper": method.paper,
        "original_weights_sha256": setup.original_meta["weights_sha256"],
        "accuracy": {k: metrics[k] for k in ("test_acc", "forget_acc", "remain_acc", "train_forget_acc")},
    }
    save_checkpoint(run_dir, model, setup.original_meta["model"], meta)
    write_json(run_dir / "metrics.json", {"seed": seed, "forget": setup.split.spec, **method.describe(), **metrics})


def write_csv(path: Path, rows: list[dict]) -> Path:
    """Write rows as a CSV (columns: the union of the rows' keys, in order of appearance), atomically."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: _csv_value(v) for k, v in r.items()} for r in rows)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(buf.getvalue()))


def append_csv(path: Path, rows: list[dict]) -> Path:
    """Append rows to a CSV (adding a header for a new file); the file is rewritten atomically."""
    existing = list(csv.DictReader(io.StringIO(path.read_text()))) if path.is_file() else []
    return write_csv(path, [*existing, *rows])


def _csv_value(v):
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return " ".join(_csv_value(x) for x in v)
    return v
