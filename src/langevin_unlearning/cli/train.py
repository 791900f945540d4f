"""`langevin-unlearn train`: train an original model, or with --exclude-forget the retrained reference."""

from __future__ import annotations

from pathlib import Path

from .common import (
    FORGET_SPECS,
    add_data_flags,
    add_graphs_flags,
    add_runtime_flags,
    add_write_flags,
    data_options,
    parse_model_args,
)

HELP = "train a model (the original, or the retrained reference with --exclude-forget)"


def add_parser(p) -> None:
    add_data_flags(p)
    p.add_argument(
        "--model",
        default="allcnn",
        help="allcnn, resnet18, resnet50 or timm:NAME (e.g. timm:vit_tiny_patch16_224; needs timm)",
    )
    p.add_argument("--width", type=float, default=1.0, help="channel width multiplier (allcnn, resnet18)")
    p.add_argument(
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="timm architecture argument, repeatable (e.g. patch_size=2 embed_dim=64)",
    )
    p.add_argument(
        "--weights",
        default=None,
        metavar="FILE",
        help="start a timm model from this local safetensors file (timm's state dict; nothing is downloaded)",
    )
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--optimizer", default="sgd", choices=["sgd", "adamw"], help="sgd (the paper's) or adamw (vision transformers)"
    )
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    p.add_argument("--no-augment", action="store_true", help="no random crops or flips")
    p.add_argument("--precision", default=None, help="fp32 or bf16 (default: measured per device, see device.py)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (worth it on CUDA)")
    add_graphs_flags(p)
    p.add_argument("--forget", default=None, help=f"forget spec: {FORGET_SPECS}")
    p.add_argument(
        "--exclude-forget", action="store_true", help="train on the remain set only (the retrained reference)"
    )
    add_runtime_flags(p)
    add_write_flags(p, overwrite=True)
    p.add_argument("--out", required=True, help="run folder to write model.safetensors and model.json to")


def config_from_args(args, device):
    from ..core.device import resolve_precision
    from ..engine.train import TrainConfig

    return TrainConfig(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        augment=not args.no_augment,
        optimizer=args.optimizer,
        precision=resolve_precision(args.precision, device),
        compile=args.compile,
        graphs=args.graphs,
    )


def run(args) -> int:
    from ..core.device import resolve_device
    from ..store.locks import exclusive
    from ..store.paths import check_run_target

    out = Path(args.out)
    check_run_target(out, "--out", overwrite=args.overwrite)
    device = resolve_device(args.device)
    cfg = config_from_args(args, device)
    with exclusive(out, f"train --out {out}", wait=args.wait, flag="--out"):
        # again under the lock: another writer may have finished meanwhile
        check_run_target(out, "--out", overwrite=args.overwrite)
        return _train(args, cfg, device)


def _train(args, cfg, device) -> int:
    from ..experiments.training import train_run
    from ..report.tables import text_table

    _, meta, _ = train_run(
        dataset=args.dataset,
        model=args.model,
        cfg=cfg,
        out=args.out,
        width=args.width,
        forget=args.forget,
        exclude_forget=args.exclude_forget,
        seed=args.seed,
        device=device,
        options=data_options(args),
        progress=not args.no_progress,
        model_args=parse_model_args(args.model_arg),
        weights=args.weights,
    )
    print(text_table([{"run": args.out, "kind": meta.kind, **meta.accuracy, "seconds": meta.train_seconds}]))
    print(f"saved {args.out}/model.safetensors and model.json")
    return 0
