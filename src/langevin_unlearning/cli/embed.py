"""`langevin-unlearn embed`: t-SNE of several models' feature spaces on the same test images, forget set highlighted."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import UserError
from .common import FORGET_SPECS

HELP = "t-SNE of the feature embeddings of several runs, one panel per run, the forget set highlighted (one PNG)"


def add_parser(p) -> None:
    p.add_argument(
        "--models", required=True, help="comma-separated run folders, e.g. runs/original,runs/langevin,runs/retrain"
    )
    p.add_argument("--forget", required=True, help=f"forget spec: {FORGET_SPECS}")
    p.add_argument(
        "--out", type=Path, default=Path("results/embed.png"), help="PNG to write (default results/embed.png)"
    )
    p.add_argument("--n", type=int, default=500, help="how many test images to embed (default 500)")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--seed", type=int, default=0, help="seed of the image sample and of t-SNE")
    p.add_argument("--device", default="auto")


def run(args) -> int:
    from ..core.device import resolve_device
    from ..experiments.setup import load_setup
    from ..report.embedding import embedding_plot, model_title
    from ..store.checkpoint import load_checkpoint

    runs = [r.strip() for r in args.models.split(",") if r.strip()]
    if not runs:
        raise UserError("--models is empty; give comma-separated run folders")
    if args.n < 5:
        raise UserError(f"--n must be at least 5 for t-SNE, got {args.n}")
    if args.out.suffix.lower() != ".png":
        raise UserError(f"--out {args.out} must end in .png")
    setup = load_setup(
        runs[0],
        args.forget,
        data_dir=args.data_dir,
        device=resolve_device(args.device),
        roles=(str(runs[0]), "--retrain"),
        any_model=True,
    )
    models = [(model_title(setup.original_meta, runs[0]), setup.original)]
    for run_dir in runs[1:]:
        model, meta = load_checkpoint(run_dir, device=setup.device)
        if meta.dataset != setup.original_meta.dataset or meta.model["num_classes"] != setup.data.num_classes:
            raise UserError(
                f"{run_dir} is a {meta.dataset} model but {runs[0]} is a {setup.original_meta.dataset} model; embed runs of one dataset"
            )
        models.append((model_title(meta, run_dir), model))
    print(setup.split.summary())
    out = embedding_plot(models, setup.data, setup.split, args.out, n=args.n, seed=args.seed, device=setup.device)
    print(f"wrote {out}")
    return 0
