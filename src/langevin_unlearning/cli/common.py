"""Flags shared by several sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import UserError


def add_data_flags(p: argparse.ArgumentParser, *, dataset_default: str | None = "digits") -> None:
    p.add_argument(
        "--dataset",
        default=dataset_default,
        help="dataset name, e.g. digits, fashionmnist, cifar10, medmnist:pathmnist, folder:PATH",
    )
    p.add_argument("--data-dir", type=Path, default=None, help="where dataset files are (also $LANGEVIN_DATA)")
    p.add_argument("--image-size", type=int, default=None, help="resize images to SIZE x SIZE")


FORGET_SPECS = "class:K, class:K:FRACTION, indices:FILE or where:FILE.csv:EXPR"


def add_pair_flags(p: argparse.ArgumentParser, *, retrain_required: bool = True) -> None:
    """--original, --retrain and --forget: the pair every experiment starts from (unlearn, compare, sweep)."""
    p.add_argument("--original", required=True, help="run folder of the original model")
    p.add_argument(
        "--retrain", required=retrain_required, default=None, help="run folder of the retrained model (the target)"
    )
    p.add_argument("--forget", required=True, help=f"forget spec the retrained model left out: {FORGET_SPECS}")


def add_runtime_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="one seed for data splits, init and noise (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_ray_flag(p: argparse.ArgumentParser, what: str = "runs") -> None:
    """--ray [ADDRESS]: a local Ray started on demand, or the cluster at ADDRESS."""
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="ADDRESS",
        help=f"run the {what} on Ray: a local Ray (no ADDRESS) or the cluster at ADDRESS",
    )


def add_write_flags(p: argparse.ArgumentParser, *, overwrite: bool = False) -> None:
    """--wait (every command that writes a named result: one writer per name) and, for commands that make
    one run folder, --overwrite (an existing run is kept unless asked)."""
    p.add_argument(
        "--wait",
        action="store_true",
        help="if another process is writing the same name, wait for it instead of stopping",
    )
    if overwrite:
        p.add_argument("--overwrite", action="store_true", help="replace an existing run folder of the same name")


def add_graphs_flags(p: argparse.ArgumentParser) -> None:
    """--graphs / --no-graphs (alias --eager): run each step as one captured CUDA graph, or eagerly."""
    p.add_argument(
        "--graphs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="CUDA only: replay each step as one captured CUDA graph (default: the measured default in device.py)",
    )
    p.add_argument("--eager", dest="graphs", action="store_false", help="same as --no-graphs: run every step eagerly")


def data_options(args, seed: int | None = None):
    from ..data import DataOptions

    return DataOptions(data_dir=args.data_dir, image_size=args.image_size, seed=args.seed if seed is None else seed)


def parse_value(text: str):
    """A literal from the command line: int, float, true/false/none, else the string itself (never evaluated)."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_model_args(items: list[str]) -> dict:
    """``["patch_size=2", "embed_dim=32"]`` -> ``{"patch_size": 2, "embed_dim": 32}``."""
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise UserError(f"bad --model-arg {item!r}; use KEY=VALUE, e.g. --model-arg patch_size=2")
        out[key.strip()] = parse_value(value)
    return out
