"""`langevin-unlearn bank`: N models retrained without the forget set (seeds 0..N-1), cached and resumable."""

from __future__ import annotations

from pathlib import Path

from .common import add_write_flags

HELP = "train N retrained reference models (seeds 0..N-1, the original's recipe, remain set only) into a cached, resumable folder"


def add_parser(p) -> None:
    p.add_argument(
        "--original", required=True, help="run folder of the original model (its sidecar holds the training recipe)"
    )
    p.add_argument(
        "--forget", required=True, help="forget spec the models leave out: class:K, class:K:FRACTION or indices:FILE"
    )
    p.add_argument("--n", type=int, required=True, help="number of retrained models (seeds 0..N-1)")
    p.add_argument("--out", type=Path, default=None, help="bank folder (default runs/<original>-bank-<spec>)")
    p.add_argument(
        "--ray",
        nargs="?",
        const=True,
        default=None,
        metavar="ADDR",
        help="run the trainings on Ray: a local Ray, or the cluster at ADDR",
    )
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (where each training runs)")
    p.add_argument(
        "--replace",
        action="store_true",
        help="retrain members (and rewrite bank.json) recorded for another forget spec, recipe or original",
    )
    p.add_argument("--no-progress", action="store_true")
    add_write_flags(p)


def run(args) -> int:
    from ..experiments.bank import build_bank

    report = build_bank(
        args.original,
        args.forget,
        args.n,
        out=args.out,
        ray=args.ray,
        device=args.device,
        data_dir=args.data_dir,
        progress=not args.no_progress,
        wait=args.wait,
        replace=args.replace,
    )
    print(
        f"bank {report.path}: {len(report.seeds)} retrained models (seeds {_span(report.seeds)}); trained {len(report.trained)} now in {report.seconds:.1f} s"
    )
    return 0


def _span(seeds: list[int]) -> str:
    if not seeds:
        return "none"
    return f"{seeds[0]}..{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else " ".join(map(str, seeds))
