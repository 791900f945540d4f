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
from ..store.files import is_json, object_problem, read_json_object
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


def _member_record(path: Path) -> dict | None:
    """The sidecar of a complete member folder (weights and a sidecar that is a JSON object), else None."""
    try:
        meta = json.loads((path / SIDECAR).read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return meta if isinstance(meta, dict) and (path / WEIGHTS).is_file() else None


def _mismatch(meta: dict, forget: str, seed: int, rec: dict | None) -> str | None:
    """How a member's sidecar differs from a model retrained without ``forget`` with ``seed`` and ``rec``."""
    if meta.get("exclude_forget") is not True:
        return "a model not retrained without the forget set"
    if meta.get("forget") != forget:
        return f"a model retrained without {meta.get('forget')!r}, not {forget!r}"
    if meta.get("seed") != seed:
        return f"seed {meta.get('seed')!r}, not {seed}"
    if rec is None:
        return None
    model = meta.get("model") if isinstance(meta.get("model"), dict) else {}
    data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    recorded = {
        "dataset": meta.get("dataset"),
        "model": model.get("name"),
        "width": model.get("width", 1.0),
        "train": meta.get("train"),
        "image_size": data.get("image_size"),
        "split_seed": data.get("split_seed", 0),
        "forget_seed": meta.get("forget_seed", meta.get("seed")),
    }
    differ = [k for k, v in recorded.items() if k in rec and v != rec[k]]
    return f"another recipe ({', '.join(differ)} differ)" if differ else None


def is_member(path: Path, forget: str, seed: int, rec: dict | None = None) -> bool:
    """A complete run folder of a model retrained without ``forget`` with ``seed`` (and ``rec``'s recipe)."""
    meta = _member_record(path)
    return meta is not None and _mismatch(meta, forget, seed, rec) is None


def _seed_dirs(bank: Path) -> dict[int, Path]:
    return {int(p.name[5:]): p for p in bank.glob("seed-*") if p.is_dir() and re.fullmatch(r"seed-\d{4,}", p.name)}


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
    replace: bool = False,
) -> BankReport:
    """Make sure ``out`` holds retrained models for seeds 0..n-1; train only the missing ones. Members of
    another forget spec or recipe (and a bank.json of another request) are refused unless ``replace``.

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
        return _build(
            bank,
            original,
            forget,
            n,
            rec,
            ray=ray,
            device=device,
            data_dir=data_dir,
            progress=progress,
            replace=replace,
        )


def _build(
    bank: Path, original, forget: str, n: int, rec: dict, *, ray, device, data_dir, progress, replace: bool
) -> BankReport:
    import time

    info_path = bank / BANK_FILE
    again = f"pass another --out, or --replace to retrain its models for {original} and {forget!r}"
    if info_path.is_file() and not replace:
        info = read_info(info_path)
        if info["forget"] != forget or info["recipe"] != rec:
            which = "" if info["recipe"] == rec else " (another recipe or original weights)"
            raise UserError(f"{bank} holds a bank for {info['original']} forgetting {info['forget']!r}{which}; {again}")
    # a complete member of another request is never replaced silently: bank.json may have been edited
    foreign = {}
    for seed, folder in _seed_dirs(bank).items():
        meta = _member_record(folder)
        problem = None if meta is None else _mismatch(meta, forget, seed, rec)
        if problem:
            foreign[seed] = problem
    if foreign and not replace:
        seed, problem = min(foreign.items())
        raise UserError(f"{member_dir(bank, seed)} holds {problem}; {again}")
    for s in foreign:
        if s >= n:  # beyond this request: removed so that the bank describes only its own members
            shutil.rmtree(member_dir(bank, s))
    bank.mkdir(parents=True, exist_ok=True)
    info = {"original": str(Path(original).resolve()), "forget": forget, "recipe": rec, "seeds": []}
    missing = [s for s in range(n) if not is_member(member_dir(bank, s), forget, s, rec)]
    start = time.perf_counter()

    def present() -> list[int]:
        return sorted(s for s, p in _seed_dirs(bank).items() if is_member(p, forget, s, rec))

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


BANK_KEYS = {"original": str, "forget": str, "recipe": dict, "seeds": list}
RECIPE_KEYS = {"dataset": str, "model": str, "train": dict, "original_weights_sha256": str}


def _rebuild(bank: Path, info: dict | None = None) -> str:
    original = info.get("original", "RUN") if isinstance(info, dict) else "RUN"
    forget = info.get("forget", "SPEC") if isinstance(info, dict) else "SPEC"
    return (
        f"rebuild it with `langevin-unlearn bank --original {original} --forget {forget} --n N --out {bank} --replace`"
    )


def read_info(info_path: Path) -> dict:
    """bank.json, checked: an object with the keys and types a bank records, or one line naming the fix."""
    bank = info_path.parent
    info = read_json_object(info_path, "a bank's record", BANK_KEYS, fix=_rebuild(bank))
    problem = object_problem(info["recipe"], RECIPE_KEYS, "recipe.")
    if problem:
        raise UserError(f"{info_path} (a bank's record) {problem}; {_rebuild(bank, info)}")
    if not all(is_json(s, int) and s >= 0 for s in info["seeds"]):
        raise UserError(
            f"{info_path} (a bank's record) has seeds that are not whole numbers >= 0; {_rebuild(bank, info)}"
        )
    return info


def read_bank(path: str | Path) -> dict:
    """bank.json of a bank folder, with the member folders of the seeds present; refused when the members
    are of another forget spec or recipe than bank.json records (the file was edited or moved)."""
    bank = Path(path)
    info_path = bank / BANK_FILE
    if not info_path.is_file():
        raise UserError(
            f"{bank} is not a bank (no {BANK_FILE}); build one with `langevin-unlearn bank --original RUN --forget SPEC --n N`"
        )
    info = read_info(info_path)
    for seed, member in sorted(_seed_dirs(bank).items()):
        meta = _member_record(member)
        problem = None if meta is None else _mismatch(meta, info["forget"], seed, info["recipe"])
        if problem:
            raise UserError(
                f"{info_path} records a bank forgetting {info['forget']!r}, but {member.name} holds {problem}; "
                f"restore {BANK_FILE}, or {_rebuild(bank, info)}"
            )
    seeds = sorted(s for s in set(info["seeds"]) if is_member(member_dir(bank, s), info["forget"], s, info["recipe"]))
    return {**info, "path": str(bank), "seeds": seeds, "members": [str(member_dir(bank, s)) for s in seeds]}
