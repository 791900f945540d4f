"""The sweep driver: every (settings, seed) of a grid from one original/retrained pair, one store row per run.

    grid = parse_grid("langevin", ["gamma=0,1e-4", "lamda=0,1e-3"], ["steps=5"])
    report = run_sweep(SweepSpec("ablation", original, retrain, "class:3", grid, seeds=[0, 1]))

The driver loads the pair once (checking it, and evaluating the original and retrained models as the
reference for each seed), skips runs the store already holds, hands the rest to an executor as tasks
(``run_one`` with paths and plain settings, so a Ray worker can load the checkpoints itself) and commits
each result the moment it arrives. With ``budget_seconds`` it stops after the first result past the
budget; what finished is stored, the rest runs on the next call.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...core.device import resolve_device
from ...core.errors import UserError
from ...evaluation.closeness import with_gaps
from ...methods import create_method
from ...store.checkpoint import read_meta
from ...store.sweep_store import SweepStore, run_key
from ..setup import Setup, load_setup, reference_rows, unlearn_and_evaluate
from .executors import InProcessExecutor, Task
from .grid import Grid


@dataclass
class SweepSpec:
    name: str
    original: Path
    retrain: Path
    forget: str
    grid: Grid
    seeds: list[int] = field(default_factory=lambda: [0])
    results_dir: Path = Path("results")
    data_dir: Path | None = None
    device: str = "auto"
    budget_seconds: float | None = None

    @property
    def folder(self) -> Path:
        return Path(self.results_dir) / self.name


@dataclass
class SweepReport:
    store: SweepStore
    planned: int  # runs this command asked for
    skipped: int  # already in the store
    finished: int  # finished now
    failed: int  # finished now with an error (stored; retried on the next call)
    stopped_early: bool  # the budget ran out before every run finished

    @property
    def remaining(self) -> int:
        return self.planned - self.skipped - self.finished


class _BudgetReached(Exception):
    pass


# one loaded setup per process (the driver, or a Ray worker that runs many tasks of one sweep)
_SETUPS: dict[tuple, Setup] = {}


def cached_setup(original: str, retrain: str, forget: str, data_dir: str | None, device: str) -> Setup:
    key = (
        original,
        read_meta(original).weights_sha256,
        retrain,
        read_meta(retrain).weights_sha256,
        forget,
        data_dir,
        device,
    )
    if key not in _SETUPS:
        _SETUPS.clear()
        _SETUPS[key] = load_setup(
            original,
            forget,
            retrain=retrain,
            data_dir=Path(data_dir) if data_dir else None,
            device=resolve_device(device),
        )
    return _SETUPS[key]


def run_one(
    *,
    original: str,
    retrain: str,
    forget: str,
    method: str,
    settings: dict,
    seed: int,
    data_dir: str | None = None,
    device: str = "auto",
) -> dict:
    """One task: load (or reuse) the pair, unlearn with ``settings`` and ``seed``, return the metrics row.
    A run that fails (diverges, runs out of memory) returns ``{"error": ...}`` instead of stopping the sweep."""
    setup = cached_setup(original, retrain, forget, data_dir, device)
    try:
        _, metrics = unlearn_and_evaluate(setup, create_method(method, **settings), seed=seed, progress=False)
    except Exception as e:  # noqa: BLE001 - the message is the row; the rest of the sweep still runs
        return {
            "error": f"{type(e).__name__}: {e}".splitlines()[0][:200],
            "device": str(setup.device),
            "host": socket.gethostname(),
        }
    return {**metrics, "device": str(setup.device), "host": socket.gethostname()}


def sweep_identity(method: str, original: Path, retrain: Path, forget: str) -> dict:
    m0, m1 = read_meta(original), read_meta(retrain)
    return {
        "method": method,
        "dataset": m0.dataset,
        "forget": forget,
        "original": str(original),
        "retrain": str(retrain),
        "original_weights_sha256": m0.weights_sha256,
        "retrain_weights_sha256": m1.weights_sha256,
    }


def plan(spec: SweepSpec) -> list[tuple[str, dict, int]]:
    """(key, full settings, seed) for every run the spec asks for, in grid order then seed order."""
    out = []
    for point in spec.grid.points():
        full = {k: v for k, v in create_method(spec.grid.method, **point).describe().items() if k != "method"}
        out += [(run_key(spec.grid.method, full, seed), full, seed) for seed in spec.seeds]
    return out


def run_sweep(spec: SweepSpec, executor=None, *, progress: bool = True) -> SweepReport:
    """Run every missing (settings, seed) of ``spec`` with ``executor`` (in-process by default)."""
    if not spec.seeds:
        raise UserError("no seeds to run; use --seeds 1 or more")
    start = time.monotonic()
    original, retrain = Path(spec.original).resolve(), Path(spec.retrain).resolve()
    setup = cached_setup(
        str(original), str(retrain), spec.forget, str(spec.data_dir) if spec.data_dir else None, spec.device
    )
    store = SweepStore.open(spec.folder, sweep_identity(spec.grid.method, original, retrain, spec.forget))
    have = store.reference("retrain")
    for seed in spec.seeds:
        if seed not in have:
            ref_original, ref_retrain = reference_rows(setup, seed)
            store.set_reference("original", seed, ref_original)
            store.set_reference("retrain", seed, ref_retrain)
    refs = store.reference("retrain")
    runs = plan(spec)
    done = store.finished_keys()
    todo = [(k, s, seed) for k, s, seed in runs if k not in done]
    common = {
        "original": str(original),
        "retrain": str(retrain),
        "forget": spec.forget,
        "method": spec.grid.method,
        "data_dir": str(spec.data_dir) if spec.data_dir else None,
        "device": spec.device,
    }
    tasks = [Task(key=k, fn=run_one, kwargs={**common, "settings": s, "seed": seed}) for k, s, seed in todo]
    meta = {t.key: (t.kwargs["settings"], t.kwargs["seed"]) for t in tasks}
    counts = {"finished": 0, "failed": 0}

    def on_result(task: Task, metrics: dict) -> None:
        settings, seed = meta[task.key]
        store.add(task.key, spec.grid.method, settings, seed, with_gaps(metrics, refs[seed]))
        counts["finished"] += 1
        counts["failed"] += "error" in metrics
        if spec.budget_seconds is not None and time.monotonic() - start > spec.budget_seconds:
            raise _BudgetReached

    stopped = False
    try:
        (executor or InProcessExecutor()).run(tasks, on_result, progress=progress, desc=f"sweep {spec.name}")
    except _BudgetReached:
        stopped = counts["finished"] < len(tasks)
    return SweepReport(store, len(runs), len(runs) - len(todo), counts["finished"], counts["failed"], stopped)
