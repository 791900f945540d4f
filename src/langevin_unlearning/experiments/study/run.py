"""Run a study: train (or reuse) its models, then every missing cell, one committed store row per cell.

    study = load_study("fmnist")
    report = run_study(study, Path("results"), models=Path("runs/models"), executor=make_executor(workers=2))

Models are cached by the hash of their recipe (``Recipe.digest``: dataset, model, every training setting,
the forget spec left out, the seed), so two studies, or two forget kinds, that need the same model train it
once. Cells are tasks (a top-level function and plain arguments), run in this process, in worker processes
or on Ray; the calling process is the only writer. With ``budget_seconds`` no cell starts after the budget:
the cells in flight finish and are stored, the rest run on the next call.
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ...core.device import resolve_device
from ...data.forget import SEQUENCE, request_splits
from ...evaluation.analyses import run_analyses
from ...evaluation.metrics import evaluate, test_logits_of
from ...evaluation.relearn import forget_accuracy
from ...methods import create_method, identity_settings
from ...store.checkpoint import read_meta
from ...store.study_store import StudyStore
from ...store.sweep_store import canonical
from ..recipes import Recipe, cached_run, train_cached
from ..setup import Setup, threads_meta, timed_unlearn
from ..sweeps.run import cached_setup
from ..sweeps.tasks import Task
from .spec import REFERENCE, Cell, Study

ORIGINAL = "original"  # the row of the model before unlearning (not a method; every forget set has one)


@dataclass
class StudyReport:
    store: StudyStore
    planned: int
    skipped: int
    finished: int
    failed: int
    stopped_early: bool

    @property
    def remaining(self) -> int:
        return self.planned - self.skipped - self.finished + self.failed


class _BudgetReached(Exception):
    pass


def machine() -> dict:
    """What a reader needs to weigh a study's seconds: the CPU (or GPU), its cores, torch."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "host": socket.gethostname()}


# ------------------------------------------------------------------------------------------------- models
def model_folder(models: Path, recipe: Recipe, *, forget: str | None, seed: int) -> Path:
    """The cache folder of one model: named by its kind and the first 16 hex digits of its recipe hash."""
    digest = recipe.digest(forget=forget, exclude_forget=forget is not None, seed=seed)
    return Path(models) / f"{recipe.dataset}-{'retrain' if forget else 'original'}-{digest[:16]}"


def train_task(*, recipe: dict, out: str, forget: str | None, seed: int, data_dir: str | None, device: str) -> dict:
    """One model of the study (a task): trained unless its folder already holds this recipe's model."""
    r = Recipe.from_record(recipe)
    path, trained = train_cached(
        r,
        out,
        forget=forget,
        exclude_forget=forget is not None,
        seed=seed,
        device=resolve_device(device),
        progress=False,
        data_dir=Path(data_dir) if data_dir else None,
    )
    return {"path": str(path), "trained": trained, "train_seconds": read_meta(path).train_seconds}


# -------------------------------------------------------------------------------------------------- cells
def cell_task(
    *,
    original: str,
    retrain: str,
    spec: str,
    method: str,
    settings: dict,
    seed: int,
    analyses: list[str],
    workers: int,
    data_dir: str | None = None,
    device: str = "auto",
) -> dict:
    """One cell (a task): unlearn ``spec`` with ``method`` (each request of a sequence in turn), evaluate against
    the retrained model, add the asked analyses. ``original`` and ``retrain`` rows evaluate those models
    themselves. A failure is returned as ``{"error": ...}`` so the rest of the study still runs."""
    began = time.perf_counter()
    setup = cached_setup(original, retrain, spec, data_dir, device)  # one per process: a worker's cells share it
    loaded = time.perf_counter()
    where = {
        "host": socket.gethostname(),
        "device": str(setup.device),
        "workers": workers,
        "load_1min": round(os.getloadavg()[0], 2),  # how busy the machine was as the cell started
        **threads_meta(setup),
    }
    try:
        if method == ORIGINAL:
            model, seconds = setup.original, None
        elif method == REFERENCE:
            model, seconds = setup.retrain, setup.retrain_meta.train_seconds
        else:
            model, seconds = _unlearn(setup, method, settings, seed)
        unlearned = time.perf_counter()
        metrics = evaluate(
            model, setup.data, setup.split, device=setup.device, seed=seed, reference_logits=_reference_logits(setup)
        )
        evaluated = time.perf_counter()
        if analyses:  # a failed analysis (relearning that diverges) is noted; the cell's scores stand
            target = forget_accuracy(setup.original, setup.data, setup.split, device=setup.device, seed=seed)
            try:
                metrics.update(
                    run_analyses(
                        model, setup.data, setup.split, analyses, device=setup.device, seed=seed, target=target
                    )
                )
            except Exception as e:  # noqa: BLE001
                metrics["analysis_error"] = f"{type(e).__name__}: {e}".splitlines()[0][:200]
    except Exception as e:  # noqa: BLE001 - the message is the row; the rest of the study still runs
        return {"error": f"{type(e).__name__}: {e}".splitlines()[0][:200], **where}
    # where the cell's time went: loading (the data and models, once per forget set and process), the
    # unlearning itself, the evaluation, the analyses
    done = time.perf_counter()
    spent = {
        "load_seconds": loaded - began,
        "run_seconds": unlearned - loaded,
        "eval_seconds": evaluated - unlearned,
        "analysis_seconds": done - evaluated,
    }
    return {**metrics, "seconds": seconds, **spent, **where}


_REFERENCE: dict[int, torch.Tensor] = {}  # the reference's test logits, for the one setup a process holds


def _reference_logits(setup: Setup) -> torch.Tensor:
    if id(setup) not in _REFERENCE:
        _REFERENCE.clear()
        _REFERENCE[id(setup)] = test_logits_of(setup.retrain, setup.data, setup.device)
    return _REFERENCE[id(setup)]


def _unlearn(setup: Setup, method: str, settings: dict, seed: int):
    requests = request_splits(setup.split.spec, setup.data, setup.split_seed) if SEQUENCE in setup.split.spec else None
    return timed_unlearn(setup, create_method(method, **settings), seed=seed, splits=requests)


# ------------------------------------------------------------------------------------------------- driver
def cell_key(study: Study, cell: Cell) -> str:
    """The hash of everything that makes the cell's row: its models' recipe, forget set, seed, method settings."""
    if cell.method == ORIGINAL:
        settings = {}
    else:
        entry = study.method(cell.method)
        settings = identity_settings(entry.method, entry.settings)
    key = {
        "recipe": study.recipe.digest(forget=cell.spec, exclude_forget=True, seed=cell.seed),
        "original_seed": study.train_seed,
        "kind": cell.kind,
        "spec": cell.spec,
        "seed": cell.seed,
        "method": cell.method,
        "settings": settings,
        "analyses": list(analyses_for(study, cell.method)),
    }
    return hashlib.sha256(canonical(key).encode()).hexdigest()[:32]


def analyses_for(study: Study, method: str) -> tuple[str, ...]:
    return study.analyses if method in study.analysis_methods else ()


def all_cells(study: Study) -> list[Cell]:
    """The study's cells with each forget set's ``original`` row first."""
    out: list[Cell] = []
    for cell in study.cells():
        if cell.method == REFERENCE:
            out.append(Cell(cell.kind, cell.spec, cell.seed, ORIGINAL))
        out.append(cell)
    return out


def run_study(
    study: Study,
    results: Path,
    *,
    models: Path,
    executor,
    workers: int = 1,
    budget_seconds: float | None = None,
    data_dir: Path | None = None,
    device: str = "auto",
    progress: bool = True,
) -> StudyReport:
    start = time.monotonic()
    store = StudyStore.open(Path(results) / study.name)
    store.set_meta("study", study.raw)
    store.set_meta("machine", machine())
    cells = all_cells(study)
    done = store.finished_keys()
    todo = [c for c in cells if cell_key(study, c) not in done]
    common = {"data_dir": str(data_dir) if data_dir else None, "device": device}
    recipe = study.recipe.record()

    # the models the missing cells need, trained where their recipe's folder does not hold them yet
    needed = {(None, study.train_seed)} | {(c.spec, c.seed) for c in todo}
    paths = {(spec, seed): model_folder(models, study.recipe, forget=spec, seed=seed) for spec, seed in needed}
    missing = {
        (spec, seed): Task(
            key=str(path),
            fn=train_task,
            kwargs={"recipe": recipe, "out": str(path), "forget": spec, "seed": seed, **common},
        )
        for (spec, seed), path in sorted(paths.items(), key=lambda kv: str(kv[0]))
        if todo and cached_run(study.recipe, path, forget=spec, exclude_forget=spec is not None, seed=seed) is None
    }
    # the missing cells: those whose models exist run beside the training (no worker idles while the last
    # models train), the others after it
    by_key, ready, waiting = {}, [], []
    for c in todo:
        key = cell_key(study, c)
        by_key[key] = c
        settings = {} if c.method == ORIGINAL else study.method(c.method).settings
        task = Task(
            key=key,
            fn=cell_task,
            kwargs={
                "original": str(paths[(None, study.train_seed)]),
                "retrain": str(paths[(c.spec, c.seed)]),
                "spec": c.spec,
                "method": c.method if c.method == ORIGINAL else study.method(c.method).method,
                "settings": settings,
                "seed": c.seed,
                "analyses": list(analyses_for(study, c.method)),
                "workers": workers,
                **common,
            },
        )
        blocked = (c.spec, c.seed) in missing or (None, study.train_seed) in missing
        (waiting if blocked else ready).append(task)
    counts = {"finished": 0, "failed": 0}

    def on_result(task: Task, metrics: dict) -> None:
        if task.fn is cell_task:  # a trained model needs no row: its folder is the record
            c = by_key[task.key]
            store.add(task.key, c.kind, c.spec, c.seed, c.method, task.kwargs["settings"], metrics)
            counts["finished"] += 1
            counts["failed"] += "error" in metrics
        if budget_seconds is not None and time.monotonic() - start > budget_seconds:
            raise _BudgetReached

    stopped = False
    try:
        if budget_seconds is not None and time.monotonic() - start > budget_seconds and todo:
            raise _BudgetReached
        first = [*missing.values(), *ready]
        if first:
            desc = f"study {study.name}" + (": models and cells" if missing else "")
            executor.run(first, on_result, progress=progress, desc=desc)
        if waiting:
            executor.run(waiting, on_result, progress=progress, desc=f"study {study.name}")
    except _BudgetReached:
        stopped = counts["finished"] < len(todo)
    return StudyReport(store, len(cells), len(cells) - len(todo), counts["finished"], counts["failed"], stopped)


def current_rows(study: Study, store: StudyStore) -> list[dict]:
    """The stored rows of this study's cells as it is declared now (rows of changed settings are left out)."""
    keys = {cell_key(study, c): c for c in all_cells(study)}
    return [r for r in store.rows() if r["key"] in keys and r["error"] is None]


__all__ = ["ORIGINAL", "StudyReport", "all_cells", "cell_key", "current_rows", "machine", "run_study"]
