"""The sweep driver: every (settings, seed) of a grid from one original/retrained pair, one store row per run.

    grid = parse_grid("langevin", ["gamma=0,1e-4", "lamda=0,1e-3"], ["steps=5"])
    report = run_sweep(SweepSpec("ablation", original, retrain, "class:3", grid, seeds=[0, 1]))

The driver loads the pair once (checking it, and evaluating the original and retrained models as the
reference for each seed), skips runs the store already holds, hands the rest to an executor as tasks
(``run_one`` with paths and plain settings, so a Ray worker can load the checkpoints itself) and commits
each result the moment it arrives. With ``budget_seconds`` it stops after the first result past the
budget; what finished is stored, the rest runs on the next call.

With ``objective="audit"`` each grid point is instead one per-example audit (experiments/audit.py ``Auditor``)
against a bank of retrained models: the method runs with seeds 0..audit_n-1, and the point's one stored row
holds the forgetting quality F (and its interval), the LiRA AUC, remain F, and the N runs' mean metrics and
gaps to the sweep's retrained model, so F and the gap can be read side by side for every setting.

    spec = SweepSpec("ablation", original, retrain, "class:3", grid, objective="audit", bank="runs/bank", audit_n=4)
"""

from __future__ import annotations

import math
import socket
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...core.device import resolve_device
from ...core.errors import UserError
from ...data.forget import canonical_spec
from ...evaluation.closeness import with_gaps
from ...evaluation.metrics import timing
from ...evaluation.retrain_free import forget_test_signal
from ...methods import create_method
from ...store.checkpoint import read_meta
from ...store.sweep_store import SweepStore, audit_key, run_key
from ..audit import EVAL_SEED, Auditor
from ..bank import read_bank
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
    objective: str = "gap"  # "gap": one row per (settings, seed); "audit": one audit per grid point
    bank: Path | None = None  # the audit's bank of retrained models (objective "audit")
    audit_n: int = 4  # runs of the method and bank models per audit
    audit_remain_sample: int = 200
    audit_bootstrap: int = 100  # bootstrap rounds of F's interval (0: no interval)

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
    unit: str = "runs"  # what was counted: "runs", or "audits" (grid points) for the audit objective

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


def error_row(e: Exception) -> dict:
    """A failed task's row: the error's first line, and where it ran."""
    return {"error": f"{type(e).__name__}: {e}".splitlines()[0][:200], "host": socket.gethostname()}


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
        model, metrics = unlearn_and_evaluate(setup, create_method(method, **settings), seed=seed, progress=False)
        metrics |= forget_test_signal(model, setup.data, setup.split, setup.device)
    except Exception as e:  # noqa: BLE001 - the message is the row; the rest of the sweep still runs
        return {**error_row(e), "device": str(setup.device)}
    return {**metrics, "device": str(setup.device), "host": socket.gethostname()}


OBJECTIVES = ("gap", "audit")
_AUDITORS: dict[tuple, Auditor] = {}


def cached_auditor(
    bank: str, n: int, data_dir: str | None, device: str, remain_sample: int, bootstrap_rounds: int
) -> Auditor:
    """One Auditor per process (the bank's models are loaded and scored once, then every grid point reuses them)."""
    key = (bank, n, data_dir, device, remain_sample, bootstrap_rounds)
    if key not in _AUDITORS:
        _AUDITORS.clear()
        _AUDITORS[key] = Auditor(
            bank,
            n,
            device=resolve_device(device),
            data_dir=Path(data_dir) if data_dir else None,
            remain_sample=remain_sample,
            bootstrap_rounds=bootstrap_rounds,
            progress=False,
            n_flag="--audit-n",
        )
    return _AUDITORS[key]


def _auditor_of(spec: SweepSpec) -> Auditor:
    return cached_auditor(
        str(Path(spec.bank).resolve()),
        spec.audit_n,
        str(spec.data_dir) if spec.data_dir else None,
        spec.device,
        spec.audit_remain_sample,
        spec.audit_bootstrap,
    )


def check_objective(spec: SweepSpec) -> Auditor | None:
    """The spec's objective checked before anything is written: for "audit", a bank of the sweep's original
    model and forget spec holding at least ``audit_n`` models (its Auditor, loaded once, is returned)."""
    if spec.objective not in OBJECTIVES:
        raise UserError(f"--objective {spec.objective!r} is not one of: {', '.join(OBJECTIVES)}")
    if spec.objective != "audit":
        if spec.bank is not None:
            raise UserError("--bank is read only by --objective audit; add --objective audit or drop --bank")
        return None
    if spec.bank is None:
        raise UserError(
            "--objective audit needs --bank BANK_DIR: retrained models of the sweep's original and forget spec; "
            f"build one with `langevin-unlearn bank --original {spec.original} --forget {spec.forget} --n 8`"
        )
    info = read_bank(spec.bank)
    if canonical_spec(info["forget"]) != canonical_spec(spec.forget):
        raise UserError(
            f"--bank {spec.bank} holds models retrained without {info['forget']!r}, but the sweep forgets "
            f"{spec.forget!r}; pass a bank built with --forget {spec.forget}"
        )
    original = read_meta(spec.original).weights_sha256
    if info["recipe"].get("original_weights_sha256") != original:
        raise UserError(
            f"--bank {spec.bank} was built from another original model ({info['original']}) than --original "
            f"{spec.original} (their weights differ); pass a bank built with --original {spec.original}"
        )
    return _auditor_of(spec)


def audit_one(
    *,
    bank: str,
    n: int,
    method: str,
    settings: dict,
    data_dir: str | None = None,
    device: str = "auto",
    remain_sample: int = 200,
    bootstrap_rounds: int = 100,
) -> dict:
    """One task: audit ``settings`` (N runs of the method against the bank); return the statistics and each
    run's metrics. A failure returns ``{"error": ...}`` instead of stopping the sweep."""
    auditor = cached_auditor(bank, n, data_dir, device, remain_sample, bootstrap_rounds)
    try:
        setup = auditor.setup
        unlearned = auditor.run_method(
            method, settings, extra=lambda model: forget_test_signal(model, setup.data, setup.split, setup.device)
        )
        scored = auditor.score(unlearned, auditor.retrained, label=method, keep_examples=False)
    except Exception as e:  # noqa: BLE001 - the message is the row; the rest of the sweep still runs
        return error_row(e)
    interval = scored["intervals"].get("F", [math.nan, math.nan])
    return {
        "F": scored["forget"]["F"],
        "F_low": interval[0],
        "F_high": interval[1],
        "lira_auc": scored["forget"]["lira_auc"]["mean"],
        "lira_pooled_auc": scored["forget"]["lira_pooled_auc"],
        "remain_F": scored.get("remain", {}).get("F", math.nan),
        "final_score": scored["final_score"],
        "bank_avg_gap": scored["avg_gap"],  # against the bank's models' mean metrics, not the sweep's reference
        "per_run": [
            {**m, "seed": s, "unlearn_seconds": t}
            for m, s, t in zip(unlearned.metrics, unlearned.seeds, unlearned.seconds)
        ],
        "device": str(auditor.setup.device),
        "host": socket.gethostname(),
    }


def mean_of_runs(runs: list[dict]) -> dict:
    """Per numeric metric, the mean over ``runs`` (values that are missing or NaN left out)."""
    out = {}
    for k in dict.fromkeys(k for r in runs for k in r):
        vals = [v for v in (r.get(k) for r in runs) if isinstance(v, (int, float)) and not isinstance(v, bool)]
        vals = [v for v in vals if not math.isnan(v)]
        if vals and k != "seed":
            out[k] = statistics.fmean(vals)
    return out


def audit_row(result: dict, retrain_ref: dict, retrain_seconds: float | None) -> dict:
    """The stored row of one audited point: its statistics, and the N runs' mean metrics and gaps to
    ``retrain_ref`` (the sweep's retrained model, evaluated as the audit evaluates every model)."""
    if "error" in result:
        return result
    runs = [with_gaps({**r, **timing(r["unlearn_seconds"], retrain_seconds)}, retrain_ref) for r in result["per_run"]]
    stats = {k: v for k, v in result.items() if k != "per_run"}
    return {**mean_of_runs(runs), **stats, "runs": runs}


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
    for full in full_settings(spec):
        out += [(run_key(spec.grid.method, full, seed), full, seed) for seed in spec.seeds]
    return out


def full_settings(spec: SweepSpec) -> list[dict]:
    """Every grid point as the method describes it: every setting, defaults filled in (what keys and rows record)."""
    describe = (create_method(spec.grid.method, **point).describe() for point in spec.grid.points())
    return [{k: v for k, v in d.items() if k != "method"} for d in describe]


def execute(spec: SweepSpec, tasks: list[Task], commit, executor, *, start: float, progress: bool, desc: str):
    """Run ``tasks``, ``commit(task, result)`` each result as it arrives, stop after the first past the budget.
    Returns (finished, failed, stopped early)."""
    counts = {"finished": 0, "failed": 0}

    def on_result(task: Task, result: dict) -> None:
        commit(task, result)
        counts["finished"] += 1
        counts["failed"] += "error" in result
        if spec.budget_seconds is not None and time.monotonic() - start > spec.budget_seconds:
            raise _BudgetReached

    stopped = False
    try:
        (executor or InProcessExecutor()).run(tasks, on_result, progress=progress, desc=desc)
    except _BudgetReached:
        stopped = counts["finished"] < len(tasks)
    return counts["finished"], counts["failed"], stopped


def run_sweep(spec: SweepSpec, executor=None, *, progress: bool = True) -> SweepReport:
    """Run every missing (settings, seed) of ``spec`` with ``executor`` (in-process by default)."""
    if not spec.seeds:
        raise UserError("no seeds to run; use --seeds 1 or more")
    auditor = check_objective(spec)
    start = time.monotonic()
    original, retrain = Path(spec.original).resolve(), Path(spec.retrain).resolve()
    setup = cached_setup(
        str(original), str(retrain), spec.forget, str(spec.data_dir) if spec.data_dir else None, spec.device
    )
    store = SweepStore.open(spec.folder, sweep_identity(spec.grid.method, original, retrain, spec.forget))
    have = store.reference("retrain")
    # the audit evaluates every model with one seed; its gaps are to the retrained model evaluated with it
    for seed in spec.seeds if auditor is None else [EVAL_SEED]:
        if seed not in have:
            ref_original, ref_retrain = reference_rows(setup, seed)
            ref_original |= forget_test_signal(setup.original, setup.data, setup.split, setup.device)
            ref_retrain |= forget_test_signal(setup.retrain, setup.data, setup.split, setup.device)
            store.set_reference("original", seed, ref_original)
            store.set_reference("retrain", seed, ref_retrain)
    refs = store.reference("retrain")
    if auditor is not None:
        return _run_audits(spec, executor, auditor, store, setup, refs[EVAL_SEED], start, progress)
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

    def commit(task: Task, metrics: dict) -> None:
        settings, seed = task.kwargs["settings"], task.kwargs["seed"]
        store.add(task.key, spec.grid.method, settings, seed, with_gaps(metrics, refs[seed]))

    done_now = execute(spec, tasks, commit, executor, start=start, progress=progress, desc=f"sweep {spec.name}")
    return SweepReport(store, len(runs), len(runs) - len(todo), *done_now)


def audit_options(spec: SweepSpec, auditor: Auditor) -> dict:
    """What an audit's result depends on besides the method's settings: part of its row's key."""
    return {
        "n": spec.audit_n,
        "bank_weights_sha256": auditor.member_hashes,
        "remain_sample": spec.audit_remain_sample,
        "bootstrap_rounds": spec.audit_bootstrap,
        "delta": auditor.delta,
        "cap": auditor.cap,
        "estimator": auditor.estimator,
        "seed": auditor.seed,
    }


def _run_audits(spec, executor, auditor, store, setup, retrain_ref, start, progress) -> SweepReport:
    options = audit_options(spec, auditor)
    points = [(audit_key(spec.grid.method, full, options), full) for full in full_settings(spec)]
    done = store.finished_audit_keys()
    todo = [(k, s) for k, s in points if k not in done]
    common = {
        "bank": str(Path(spec.bank).resolve()),
        "n": spec.audit_n,
        "method": spec.grid.method,
        "data_dir": str(spec.data_dir) if spec.data_dir else None,
        "device": spec.device,
        "remain_sample": spec.audit_remain_sample,
        "bootstrap_rounds": spec.audit_bootstrap,
    }
    tasks = [Task(key=k, fn=audit_one, kwargs={**common, "settings": s}) for k, s in todo]
    retrain_seconds = setup.retrain_meta.train_seconds if setup.retrain_meta else None

    def commit(task: Task, result: dict) -> None:
        row = audit_row(result, retrain_ref, retrain_seconds)
        store.add_audit(task.key, spec.grid.method, task.kwargs["settings"], spec.audit_n, row)

    desc = f"audit sweep {spec.name}"
    done_now = execute(spec, tasks, commit, executor, start=start, progress=progress, desc=desc)
    return SweepReport(store, len(points), len(points) - len(todo), *done_now, unit="audits")
