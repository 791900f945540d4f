"""Unlearn a saved model and measure it against the retrained reference: the API behind `unlearn`,
`evaluate`, `compare` and `main.py --do_unlearning`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..core.device import seed_everything
from ..core.errors import UserError
from ..core.threads import ThreadChoice, use_threads, work_size
from ..data import DataOptions, ForgetSplit, ImageDataset, load_dataset, parse_forget
from ..evaluation.analyses import run_analyses
from ..evaluation.metrics import evaluate, timing
from ..evaluation.relearn import forget_accuracy
from ..methods import UnlearningMethod
from ..store.agreement import check_data, check_original, check_pair, check_reference_split
from ..store.checkpoint import load_checkpoint, save_checkpoint
from ..store.runmeta import RunMeta
from ..store.tables import append_csv, write_csv  # noqa: F401  (re-exported: the CLI imports them from here)
from .training import thread_count


@dataclass
class Setup:
    """Everything an unlearning experiment starts from."""

    data: ImageDataset
    split: ForgetSplit
    original: nn.Module
    original_meta: RunMeta
    retrain: nn.Module | None
    retrain_meta: RunMeta | None
    device: torch.device
    split_seed: int = 0  # the seed that chose a class:K:F forget subset
    selective: bool = False  # forget/remain accuracies on the training subsets (--selective)
    threads: ThreadChoice | None = None  # CPU threads the experiment runs with, and why (core/threads.py)


def load_setup(
    original: str | Path,
    forget: str,
    *,
    retrain: str | Path | None = None,
    data_dir: Path | None = None,
    device=torch.device("cpu"),
    expect_model: str | None = None,
    selective: bool = False,
    roles: tuple[str, str] = ("--original", "--retrain"),
    any_model: bool = False,
) -> Setup:
    """Load the original (and retrained) model, their dataset and the forget split, checking they agree
    (agreement.py: same data description, a real retrained reference of this spec, unchanged data)."""
    f0, meta0 = load_checkpoint(original, expect_model=expect_model, device=device)
    ref, ref_meta = load_checkpoint(retrain, expect_model=expect_model, device=device) if retrain else (None, None)
    if not isinstance(meta0.dataset, str):
        raise UserError(f"{original} records no dataset in its sidecar; it was not written by `langevin-unlearn train`")
    if ref_meta is not None:
        check_pair(meta0, ref_meta, forget, roles=roles, any_model=any_model)
    elif not any_model:
        check_original(meta0, roles[0])
    options = DataOptions(data_dir=data_dir, image_size=meta0.image_size, seed=meta0.split_seed)
    data = load_dataset(meta0.dataset, options)
    if data.num_classes != meta0.model["num_classes"]:
        raise UserError(
            f"{meta0['dataset']} has {data.num_classes} classes but the checkpoint has {meta0['model']['num_classes']}; the checkpoint is from another dataset"
        )
    for meta, label in ((meta0, roles[0]), (ref_meta, roles[1])):
        if meta is not None:
            check_data(meta, data, label)
    # the forget split must be the one the retrained model left out: same spec, same seed
    split_seed = (ref_meta or meta0).subset_seed
    split = parse_forget(forget, data, seed=split_seed)
    if ref_meta is not None:
        check_reference_split(ref_meta, split, roles[1])
    threads = use_threads(work_size(data.image_shape, meta0.model.get("width")))
    return Setup(data, split, f0, meta0, ref, ref_meta, device, split_seed, selective, threads)


def reference_rows(setup: Setup, seed: int = 0) -> list[dict]:
    """Evaluation rows for the original and (if given) the retrained model."""
    rows = [
        {
            "model": "original",
            **evaluate(
                setup.original,
                setup.data,
                setup.split,
                reference=setup.retrain,
                device=setup.device,
                seed=seed,
                selective=setup.selective,
            ),
        }
    ]
    if setup.retrain is not None:
        rows.append(
            {
                "model": "retrain (target)",
                **evaluate(
                    setup.retrain,
                    setup.data,
                    setup.split,
                    reference=setup.retrain,
                    device=setup.device,
                    seed=seed,
                    selective=setup.selective,
                ),
                "unlearn_seconds": setup.retrain_meta.train_seconds,
            }
        )
    return rows


def timed_unlearn(
    setup: Setup,
    method: UnlearningMethod,
    *,
    seed: int,
    splits: list[ForgetSplit] | None = None,
    progress: bool = False,
) -> tuple[nn.Module, float]:
    """``method`` from the original model over ``splits`` in turn (default: the setup's one split), every seed
    set from ``seed`` first; the unlearned model and the seconds it took (a GPU's queue drained on both ends, so
    the seconds are the work's, not the launch's)."""
    seed_everything(seed)
    sync = torch.cuda.synchronize if setup.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    model = setup.original
    for split in splits or [setup.split]:
        model = method.unlearn(model, setup.data, split, device=setup.device, seed=seed, progress=progress)
    sync()
    return model, time.perf_counter() - start


def unlearn_and_evaluate(
    setup: Setup, method: UnlearningMethod, *, seed: int = 0, progress: bool = True
) -> tuple[nn.Module, dict]:
    """Run one method from the original model; return the unlearned model and its metrics row."""
    model, seconds = timed_unlearn(setup, method, seed=seed, progress=progress)
    metrics = evaluate(
        model,
        setup.data,
        setup.split,
        reference=setup.retrain,
        device=setup.device,
        seed=seed,
        selective=setup.selective,
    )
    retrain_seconds = setup.retrain_meta.train_seconds if setup.retrain_meta else None
    return model, {**metrics, **timing(seconds, retrain_seconds), **method.diagnostics}


def threads_meta(setup: Setup) -> dict:
    """torch_threads and threads_reason for a run's records: the setup's choice, else torch's count as it is."""
    threads = setup.threads or ThreadChoice(thread_count(), "caller")
    return {"torch_threads": threads.count, "threads_reason": threads.reason}


def save_unlearned(
    run_dir: Path, model: nn.Module, setup: Setup, method: UnlearningMethod, metrics: dict, seed: int
) -> None:
    meta = {
        "kind": "unlearned",
        "dataset": setup.original_meta.dataset,
        "data": setup.original_meta.data,
        "classes": setup.data.classes,
        "forget": setup.split.spec,
        "forget_seed": setup.split_seed,
        "seed": seed,
        **threads_meta(setup),
        "unlearning": method.describe(),
        "paper": method.paper,
        "original_weights_sha256": setup.original_meta.weights_sha256,
        "data_fingerprint": setup.original_meta.data_fingerprint,
        "accuracy": {k: metrics[k] for k in ("test_acc", "forget_acc", "remain_acc", "train_forget_acc")},
        "selective": setup.selective,  # forget/remain accuracies above are on the training subsets
    }
    metrics_json = {
        "seed": seed,
        **threads_meta(setup),
        "forget": setup.split.spec,
        **method.describe(),
        **metrics,
    }
    save_checkpoint(run_dir, model, setup.original_meta.model, meta, extra_json={"metrics.json": metrics_json})


def analysis_rows(
    setup: Setup, analyses: list[str], *, label: str, original: str | Path | None = None, seed: int = 0
) -> list[dict]:
    """Relearning / probe values (``analyses``) of the model, then of the retrained reference and the original (when given)."""
    original_path, original = original, None
    if original_path:
        original, meta = load_checkpoint(original_path, device=setup.device)
        if meta.dataset != setup.original_meta.dataset or meta.model["num_classes"] != setup.data.num_classes:
            raise UserError(
                f"--original is a {meta.dataset} model but --model is a {setup.original_meta.dataset} model; pass runs of the same dataset"
            )
    elif setup.original_meta.kind == "original":
        original = setup.original  # the evaluated model is itself an original model
    target = None
    if "relearn" in analyses:
        if original is None:
            raise UserError("--analyses relearn needs the original model's forget accuracy: pass --original RUN")
        target = forget_accuracy(original, setup.data, setup.split, device=setup.device, seed=seed)
    models = [(label, setup.original)]
    if setup.retrain is not None:
        models.append(("retrain (reference)", setup.retrain))
    if original_path:
        models.append(("original", original))
    return [
        {
            "model": name,
            **run_analyses(m, setup.data, setup.split, analyses, device=setup.device, seed=seed, target=target),
        }
        for name, m in models
    ]
