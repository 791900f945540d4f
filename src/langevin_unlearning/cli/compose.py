"""`langevin-unlearn compose`: one run's features with another run's classifier head, optionally fine-tuned."""

from __future__ import annotations

from pathlib import Path

from .common import add_runtime_flags, add_write_flags

HELP = (
    "compose one run's feature extractor with another run's classifier head (optionally fine-tuned on the remain set)"
)
TABLE = ["epoch", "forget_acc", "remain_acc", "train_forget_acc"]
SUMMARY = ["model", "forget_acc", "remain_acc", "test_acc", "mia", "agreement_with_retrain", "js_to_retrain_forget"]


def add_parser(p) -> None:
    p.add_argument(
        "--features",
        required=True,
        metavar="RUN_A",
        help="run whose feature extractor (everything but the head) is kept, e.g. a good-remain unlearning run",
    )
    p.add_argument(
        "--head",
        required=True,
        metavar="RUN_B",
        help="run whose classifier head is used, e.g. a good-forget unlearning run",
    )
    p.add_argument("--forget", required=True, help="forget spec both runs were made for")
    p.add_argument("--retrain", default=None, help="run folder of the retrained model (the target) for agreement/JS")
    p.add_argument(
        "--finetune-epochs",
        type=int,
        default=0,
        help="passes over the remain set after composing (published: up to 5; default 0)",
    )
    p.add_argument(
        "--optimizer", default="adam", choices=["adam", "sgd"], help="fine-tuning optimizer (published: adam)"
    )
    p.add_argument("--lr", type=float, default=1e-4, help="fine-tuning learning rate (published: 1e-4)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--freeze-features", action="store_true", help="fine-tune the head only; the features stay the features run's"
    )
    p.add_argument("--no-augment", action="store_true", help="no random crops or flips while fine-tuning")
    p.add_argument("--name", required=True, help="writes runs/NAME/ (checkpoint, metrics.json)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--data-dir", type=Path, default=None)
    add_runtime_flags(p)
    add_write_flags(p, overwrite=True)


def run(args) -> int:
    from ..core.device import resolve_device
    from ..experiments.compose import FinetuneSettings, Parent, check_parents
    from ..experiments.setup import load_setup
    from ..store.checkpoint import load_checkpoint, read_meta
    from ..store.locks import exclusive
    from ..store.paths import check_name, check_run_target

    check_name(args.name)
    target = args.runs_dir / args.name
    check_run_target(target, "--name", overwrite=args.overwrite)
    settings = FinetuneSettings(
        epochs=args.finetune_epochs,
        optimizer=args.optimizer,
        lr=args.lr,
        batch_size=args.batch_size,
        freeze_features=args.freeze_features,
        augment=not args.no_augment,
    )
    check_parents(read_meta(args.features), read_meta(args.head), args.forget)  # before loading any data
    device = resolve_device(args.device)
    setup = load_setup(
        args.features,
        args.forget,
        retrain=args.retrain,
        data_dir=args.data_dir,
        device=device,
        roles=("--features", "--retrain"),
        any_model=True,
    )
    features = Parent(Path(args.features), setup.original, setup.original_meta)
    head = Parent(Path(args.head), *load_checkpoint(args.head, device=device))
    with exclusive(target, f"compose --name {args.name}", wait=args.wait):
        # again under the lock: another writer may have finished meanwhile
        check_run_target(target, "--name", overwrite=args.overwrite)
        return _compose(args, setup, features, head, settings, device)


def _compose(args, setup, features, head, settings, device) -> int:
    from ..core.device import seed_everything
    from ..evaluation.metrics import evaluate
    from ..experiments.compose import compose_and_finetune, save_composition
    from ..report.tables import text_table

    print(setup.split.summary())
    seed_everything(args.seed)
    comp = compose_and_finetune(
        features, head, setup.data, setup.split, settings, device=device, seed=args.seed, progress=not args.no_progress
    )
    metrics = evaluate(comp.model, setup.data, setup.split, reference=setup.retrain, device=device, seed=args.seed)
    out = save_composition(
        args.runs_dir / args.name,
        comp,
        features,
        head,
        settings,
        forget=args.forget,
        forget_seed=setup.split_seed,
        seed=args.seed,
        metrics=metrics,
    )
    if settings.epochs:
        print(
            f"fine-tuning on the remain set ({settings.optimizer}, lr {settings.lr:g}{', head only' if settings.freeze_features else ''}): test accuracy after each epoch"
        )
        print(text_table(comp.trajectory, TABLE))
    rows = [{"model": "composed" + (f" + {settings.epochs} epochs" if settings.epochs else ""), **metrics}]
    print(text_table(rows, [c for c in SUMMARY if c in rows[0]]))
    print(
        f"saved {out} (features from {args.features}, head from {args.head}); evaluate it with: langevin-unlearn evaluate --model {out} --forget {args.forget}"
    )
    return 0
