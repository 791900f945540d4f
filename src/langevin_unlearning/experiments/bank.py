"""A reference bank: N models retrained without the forget set (seeds 0..N-1), the original's recipe.

    runs/<original>-bank-<spec>/
        bank.json            what the bank is for: the original (path, weights hash), forget spec, recipe, seeds done
        seed-0000/           one run folder per model (model.safetensors + model.json), as `train --exclude-forget` writes
        seed-0001/ ...

Each model is one executor Task (in this process or on Ray). A task trains in a private temporary folder and
returns the two files' contents; the calling process, the only writer, puts them into a temporary folder of the
bank and renames it into place, so a folder named seed-NNNN is always complete. A rerun trains only the seeds
whose folder is missing, which makes building a bank resumable after an interruption.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError
from ..data import DataOptions, load_dataset
from ..store.atomic import umask, write_json
from ..store.checkpoint import SIDECAR, WEIGHTS, read_meta
from ..store.locks import clean_stale, exclusive, temp_prefix
from .sweeps.executors import Task, make_executor

BANK_FILE = "bank.json"


def default_dir(original: str | Path, forget: str, runs_dir: str | Path = "runs") -> Path:
    slug = re.sub(r"[^A-Za-z0-9.]+", "_", forget).strip("_")
    return Path(runs_dir) / f"{Path(original).resolve().name}-bank-{slug}"


def member_dir(bank: Path, seed: int) -> Path:
    return Path(bank) / f"seed-{seed:04d}"


def recipe(original: str | Path) -> dict:
    """How the original was trained, from its sidecar: everything a retrained model must share with it."""
    meta = read_meta(original)
    if not isinstance(meta.train, dict) or meta.dataset is None:
        raise UserError(
            f"{original} records no training recipe (model.json has no 'train'); pass a model written by `langevin-unlearn train`"
        )
    if meta.kind not in (None, "original"):
        raise UserError(
            f"{original} is a {meta.kind} model; pass the original model (trained on all images) as --original"
        )
    return {
        "dataset": meta.dataset,
        "model": meta.model["name"],
        "width": meta.model.get("width", 1.0),
        "train": meta.train,
        "image_size": meta.image_size,
        "split_seed": meta.split_seed,
        "forget_seed": meta.subset_seed,
        "original_weights_sha256": meta.weights_sha256,
    }


@functools.lru_cache(maxsize=2)
def _dataset(name: str, data_dir: str | None, image_size: int | None, split_seed: int):
    return load_dataset(
        name, DataOptions(data_dir=Path(data_dir) if data_dir else None, image_size=image_size, seed=split_seed)
    )


def train_member(*, recipe: dict, forget: str, seed: int, device: str = "auto", data_dir: str | None = None) -> dict:
    """Task: train one retrained model; return its files (base64 weights, JSON sidecar), writing nothing that stays."""
    from ..core.device import resolve_device
    from ..engine.train import TrainConfig
    from .training import train_run

    torch_device = resolve_device(device)
    data = _dataset(recipe["dataset"], data_dir, recipe["image_size"], recipe["split_seed"])
    options = DataOptions(
        data_dir=Path(data_dir) if data_dir else None, image_size=recipe["image_size"], seed=recipe["split_seed"]
    )
    with tempfile.TemporaryDirectory(prefix="bank-member-") as tmp:
        out = Path(tmp) / f"seed-{seed:04d}"
        _, meta, _ = train_run(
            dataset=recipe["dataset"],
            model=recipe["model"],
            cfg=TrainConfig(**recipe["train"]),
            out=out,
            width=recipe["width"],
            forget=forget,
            exclude_forget=True,
            seed=seed,
            device=torch_device,
            options=options,
            progress=False,
            data=data,
            forget_seed=recipe["forget_seed"],
        )
        return {
            "seed": seed,
            "train_seconds": meta.train_seconds,
            "accuracy": meta.accuracy,
            "files": {
                WEIGHTS: base64.b64encode((out / WEIGHTS).read_bytes()).decode("ascii"),
                SIDECAR: (out / SIDECAR).read_text(),
            },
        }


def is_member(path: Path, forget: str, seed: int) -> bool:
    """A complete run folder of a model retrained without ``forget`` with ``seed``."""
    try:
        meta = json.loads((path / SIDECAR).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return (
        (path / WEIGHTS).is_file()
        and meta.get("exclude_forget") is True
        and meta.get("forget") == forget
        and meta.get("seed") == seed
    )


def store_member(bank: Path, result: dict) -> Path:
    """Write a task's files into a temporary folder of the bank, then rename it into place (atomic)."""
    final = member_dir(bank, result["seed"])
    clean_stale(bank, final.name)
    tmp = Path(tempfile.mkdtemp(dir=bank, prefix=temp_prefix(final.name), suffix=".tmp"))
    try:
        os.chmod(tmp, 0o777 & ~umask())  # mkdtemp made it 0700; bank members get the usual permissions
        (tmp / WEIGHTS).write_bytes(base64.b64decode(result["files"][WEIGHTS]))
        (tmp / SIDECAR).write_text(result["files"][SIDECAR])
        if final.exists():  # an incomplete or stale folder (complete ones are never retrained)
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


@dataclass
class BankReport:
    path: Path
    seeds: list[int]  # all seeds present now
    trained: list[int]  # trained by this call
    seconds: float


def build_bank(
    original: str | Path,
    forget: str,
    n: int,
    *,
    out: str | Path | None = None,
    ray=None,
    device: str = "auto",
    data_dir: str | Path | None = None,
    progress: bool = True,
    wait: bool = False,
) -> BankReport:
    """Make sure ``out`` holds retrained models for seeds 0..n-1; train only the missing ones.

    One writer per bank folder (store/locks.py): a second ``bank`` for the same folder is refused, or with
    ``wait`` waits for the first and then finds its models already there."""
    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    rec = recipe(original)
    # the forget spec must parse for this dataset before any training starts (one-line error otherwise)
    from ..data import parse_forget

    parse_forget(
        forget,
        _dataset(rec["dataset"], str(data_dir) if data_dir else None, rec["image_size"], rec["split_seed"]),
        rec["forget_seed"],
    )
    bank = Path(out) if out else default_dir(original, forget)
    if bank.resolve() == Path.cwd().resolve():
        raise UserError("--out is the current folder; give the bank its own folder, e.g. --out runs/bank")
    with exclusive(bank, f"bank --out {bank}", wait=wait, flag="--out"):
        return _build(bank, original, forget, n, rec, ray=ray, device=device, data_dir=data_dir, progress=progress)


def _build(bank: Path, original, forget: str, n: int, rec: dict, *, ray, device, data_dir, progress) -> BankReport:
    import time

    info_path = bank / BANK_FILE
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        if (
            info.get("forget") != forget
            or info.get("recipe", {}).get("original_weights_sha256") != rec["original_weights_sha256"]
        ):
            raise UserError(
                f"{bank} holds a bank for {info.get('original')} forgetting {info.get('forget')!r}; pass another --out for this original and spec"
            )
    bank.mkdir(parents=True, exist_ok=True)
    info = {"original": str(Path(original).resolve()), "forget": forget, "recipe": rec, "seeds": []}
    missing = [s for s in range(n) if not is_member(member_dir(bank, s), forget, s)]
    start = time.perf_counter()

    def present() -> list[int]:
        return sorted(
            int(p.name.split("-")[1])
            for p in bank.glob("seed-*")
            if p.is_dir() and is_member(p, forget, int(p.name.split("-")[1]))
        )

    def on_result(task: Task, result: dict) -> None:
        store_member(bank, result)
        write_json(info_path, {**info, "seeds": present()})

    write_json(info_path, {**info, "seeds": present()})
    tasks = [
        Task(
            key=f"seed={s}",
            fn=train_member,
            kwargs={
                "recipe": rec,
                "forget": forget,
                "seed": s,
                "device": device,
                "data_dir": str(data_dir) if data_dir else None,
            },
        )
        for s in missing
    ]
    if tasks:
        make_executor(ray).run(tasks, on_result, progress=progress, desc=f"bank {bank.name}")
    return BankReport(bank, present(), missing, time.perf_counter() - start)


def read_bank(path: str | Path) -> dict:
    """bank.json of a bank folder, with the member folders of the seeds present."""
    bank = Path(path)
    info_path = bank / BANK_FILE
    if not info_path.is_file():
        raise UserError(
            f"{bank} is not a bank (no {BANK_FILE}); build one with `langevin-unlearn bank --original RUN --forget SPEC --n N`"
        )
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{info_path} is not valid JSON ({e.msg}); rebuild the bank") from None
    seeds = sorted(s for s in info.get("seeds", []) if is_member(member_dir(bank, s), info["forget"], s))
    return {**info, "path": str(bank), "seeds": seeds, "members": [str(member_dir(bank, s)) for s in seeds]}
