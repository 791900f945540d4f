"""The original research code's command line, kept working on top of the toolkit.

    python main.py --forget_class 0 --data_name fashionmnist --model_name AllCNN --lr 0.01 --epoch 15 \
        --batch_size 64 --gpu_id 0 --train            # original + retrained model
    ... --retrain                                      # retrained model only
    ... --do_unlearning --sgld --name NAME --original_model PATH --retrain_model PATH --remain_reg 0.0001 --lamda 0
                                                       # unlearn (gamma in {0, 1e-4}), write NAME.csv

Unlearning uses the published settings (``--preset paper``: SGD lr 1e-5, 10 passes, eps 0.1, one step), as
the original code did; --lr/--epoch/--batch_size keep their original meaning (training). Checkpoints are
the toolkit's safetensors run folders: the original code's pickled models are never loaded.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch

from ..core.device import resolve_precision
from ..core.errors import UserError
from ..core.validation import warn
from ..data import DataOptions
from ..engine.train import TrainConfig
from ..experiments.training import train_run
from ..report.tables import text_table
from ..store.checkpoint import read_meta
from ..store.paths import prepare_dir
from . import run_guarded
from .guard import OneLineParser

MODELS = {"allcnn": "allcnn", "resnet18": "resnet18", "resnet50": "resnet50"}
DATASETS = {
    "fashionmnist": "fashionmnist",
    "fmnist": "fashionmnist",
    "cifar10": "cifar10",
    "svhn": "svhn",
    "digits": "digits",
}
# the original code fed Fashion-MNIST at 32x32; keep that so published settings reproduce
DEFAULT_SIZE = {"fashionmnist": 32}


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="main.py", description="Original command line of the Langevin unlearning research code.")
    p.add_argument("--forget_class", type=int, default=0)
    p.add_argument("--data_name", default="fashionmnist")
    p.add_argument("--model_name", default="AllCNN")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--epoch", type=int, default=15)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--gpu_id", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=float, default=1.0, help="AllCNN width multiplier (new)")
    p.add_argument(
        "--image_size", type=int, default=None, help="resize (default: 32 for fashionmnist, as the original)"
    )
    p.add_argument("--data_dir", type=Path, default=None)
    p.add_argument("--save_dir", default="checkpoints", help="where --train writes its run folders")
    p.add_argument("--no_progress", action="store_true")
    p.add_argument("--train", action="store_true", help="train the original and the retrained model")
    p.add_argument("--retrain", action="store_true", help="train the retrained model only")
    u = p.add_argument_group("unlearning")
    u.add_argument("--do_unlearning", action="store_true", help="unlearn --forget_class from --original_model")
    u.add_argument("--original_model", default=None, help="run folder of the original model")
    u.add_argument("--retrain_model", default=None, help="run folder of the retrained model")
    u.add_argument("--name", default=None, help="experiment name: writes NAME.csv and runs/NAME/")
    u.add_argument("--sgld", action="store_true", help="Langevin noise: gamma in {0, 1e-4}")
    u.add_argument("--gamma", type=float, default=None, help="one Langevin temperature instead of --sgld's two")
    u.add_argument("--lamda", type=float, default=0.0)
    u.add_argument("--remain_reg", type=float, default=0.0, help="phi: weight of the remain-data loss")
    u.add_argument("--use_sota", action="store_true", help="Boundary Shrink (gamma = lamda = 0)")
    u.add_argument("--use_logits", action="store_true", help="soft labels: train on f0's softmax")
    u.add_argument("--unlearn_steps", type=int, default=1, help="boundary-search steps K")
    u.add_argument(
        "--results_dir", type=Path, default=Path("."), help="where NAME.csv goes (the original wrote it here)"
    )
    return p


def pick(table: dict, value: str, what: str, flag: str) -> str:
    key = value.lower().replace("-", "").replace("_", "")
    if key not in table:
        raise UserError(f"unknown {what} {value!r} for {flag}; choose one of: {', '.join(sorted(set(table)))}")
    return table[key]


def device_for(gpu_id: int) -> torch.device:
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpu_id < 0:
        return torch.device("cpu")
    if count == 0:
        if gpu_id != 0:
            warn(f"--gpu_id {gpu_id}: this machine has no CUDA GPU; running on the CPU")
        return torch.device("cpu")
    if gpu_id >= count:
        warn(f"--gpu_id {gpu_id} does not exist (GPUs 0..{count - 1} here); using --gpu_id 0")
        return torch.device("cuda:0")
    return torch.device(f"cuda:{gpu_id}")


# the toolkit's flags that `--do_unlearning` is built on, as main.py calls them (for error messages)
FLAG_NAMES = {
    "--original": "--original_model",
    "--retrain": "--retrain_model",
    "--phi": "--remain_reg",
    "--steps": "--unlearn_steps",
    "--results-dir": "--results_dir",
    "--data-dir": "--data_dir",
    "--soft-labels": "--use_logits",
    "--use-sota": "--use_sota",
    "--model": "--model_name",
    "--image-size": "--image_size",
}


def in_legacy_terms(message: str) -> str:
    """A toolkit message with main.py's flag names (``--forget class:3`` -> ``--forget_class 3``)."""
    message = re.sub(r"--forget (is )?'?class:(\d+)'?", r"--forget_class \1\2", message)
    return re.sub(r"--[a-z][a-z-]*", lambda m: FLAG_NAMES.get(m.group(0), m.group(0)), message)


def unlearn(args, dataset: str, model: str, device: torch.device) -> int:
    for flag, value in (("--name", args.name), ("--original_model", args.original_model)):
        if not value:
            raise UserError(f"--do_unlearning needs {flag}")
    if args.sgld and args.use_sota:
        raise UserError(
            "--sgld and --use_sota conflict: --use_sota is Boundary Shrink (gamma = 0), --sgld runs gamma 0 and 1e-4; pass one of them"
        )
    if args.use_sota and (args.gamma or args.lamda):
        raise UserError("--use_sota means gamma = lamda = 0; drop --gamma/--lamda")
    trained_on = read_meta(args.original_model).dataset
    if trained_on != dataset:
        raise UserError(f"--original_model was trained on {trained_on}, not {dataset}; pass --data_name {trained_on}")
    argv = [
        "--original",
        args.original_model,
        "--forget",
        f"class:{args.forget_class}",
        "--name",
        args.name,
        "--preset",
        "paper",
        "--phi",
        str(args.remain_reg),
        "--steps",
        str(args.unlearn_steps),
        "--seed",
        str(args.seed),
        "--device",
        str(device),
        "--results-dir",
        str(args.results_dir),
        "--runs-dir",
        "runs",
    ]
    argv += ["--retrain", args.retrain_model] if args.retrain_model else []
    argv += ["--data-dir", str(args.data_dir)] if args.data_dir else []
    argv += ["--soft-labels"] if args.use_logits else []
    argv += ["--no-progress"] if args.no_progress else []
    argv += ["--overwrite"]  # the original script replaced its runs of the same name; its users rely on that
    if args.use_sota:
        argv += ["--use-sota"]
    else:
        argv += ["--lamda", str(args.lamda)] + (
            ["--gamma", str(args.gamma)] if args.gamma is not None else ["--sgld"] if args.sgld else []
        )
    from . import build_parser as build_main_parser
    from . import unlearn as unlearn_cmd

    ns = build_main_parser().parse_args(["unlearn", *argv])
    ns.expect_model = model
    try:
        return unlearn_cmd.run(ns)
    except UserError as e:
        raise UserError(in_legacy_terms(str(e))) from None


def run(args) -> int:
    dataset = pick(DATASETS, args.data_name, "dataset", "--data_name")
    model = pick(MODELS, args.model_name, "model", "--model_name")
    if args.do_unlearning and (args.train or args.retrain):
        raise UserError(
            "--do_unlearning cannot be combined with --train or --retrain; train first, then unlearn in a second call"
        )
    if args.do_unlearning:
        return unlearn(args, dataset, model, device_for(args.gpu_id))
    if not (args.train or args.retrain):
        raise UserError("nothing to do: pass --train (original + retrained), --retrain or --do_unlearning")
    device = device_for(args.gpu_id)
    options = DataOptions(
        data_dir=args.data_dir, image_size=args.image_size or DEFAULT_SIZE.get(dataset), seed=args.seed
    )
    cfg = TrainConfig(
        epochs=args.epoch, lr=args.lr, batch_size=args.batch_size, precision=resolve_precision(None, device)
    )
    forget = f"class:{args.forget_class}"
    prepare_dir(Path(args.save_dir), "--save_dir")
    base = Path(args.save_dir) / f"{dataset}_{model}"
    jobs = ([("original", False)] if args.train else []) + [("retrain", True)]
    rows = []
    for kind, exclude in jobs:
        out = Path(f"{base}_{kind}" + (f"_forget{args.forget_class}" if exclude else ""))
        _, meta, _ = train_run(
            dataset=dataset,
            model=model,
            cfg=cfg,
            out=out,
            width=args.width,
            forget=forget,
            exclude_forget=exclude,
            seed=args.seed,
            device=device,
            options=options,
            progress=not args.no_progress,
        )
        rows.append({"model": kind, **meta.accuracy, "seconds": meta.train_seconds, "saved to": str(out)})
    print(text_table(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    except SystemExit as e:  # --help, or a usage error already printed as one line
        return e.code if isinstance(e.code, int) else 2
    return run_guarded(run, args, parser=parser)
