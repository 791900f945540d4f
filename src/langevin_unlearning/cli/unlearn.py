"""`langevin-unlearn unlearn`: unlearn a forget set from a saved model, compare with the retrained one."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

from ..core.errors import UserError
from .common import add_graphs_flags, add_pair_flags, add_runtime_flags, add_write_flags

HELP = "unlearn a forget set from a trained model (Langevin or Boundary Shrink) and evaluate it"
TABLE = [
    "model",
    "forget_acc",
    "remain_acc",
    "test_acc",
    "train_forget_acc",
    "mia",
    "agreement_with_retrain",
    "js_to_retrain_forget",
    "unlearn_seconds",
    "speedup",
    "crossed_share",
    "noise_flip_share",
]
# The names `--help` shows, declared here because methods.langevin (which owns them) loads torch and
# `--help` must not; tests/cli/test_lazy_cli.py checks they equal methods.langevin's.
BOUNDARY_METHODS = ("langevin", "boundary-shrink")
PRESET_NAMES = ("paper",)


def setting_flags() -> list[str]:
    """Flags mapped 1:1 onto method settings (None = not given: the method's default stands)."""
    from ..methods.langevin import LangevinSettings

    return [f.name for f in dataclasses.fields(LangevinSettings)]


def add_method_flags(p) -> None:
    g = p.add_argument_group("method settings (defaults: docs/methods.md)")
    g.add_argument(
        "--gamma", type=float, help="Langevin temperature (default 1e-2; paper 1e-4; 0 with boundary-shrink)"
    )
    g.add_argument("--lamda", type=float, help="proximity weight lamda (default 0.1; paper 0; needs --steps > 1)")
    g.add_argument("--lamda-schedule", help="none, inverse, exponential or linear")
    g.add_argument(
        "--phi",
        type=float,
        help="weight of the remain-data loss (default 1 for langevin, 0.5 for boundary-shrink; paper 0)",
    )
    g.add_argument(
        "--steps", type=int, help="boundary-search steps K (default 5 for langevin, 1 for boundary-shrink and paper)"
    )
    g.add_argument("--eps", type=float, help="L-inf radius in [0,1] pixels (default 0.1)")
    g.add_argument("--alpha", type=float, help="search step size (default eps for K=1, else 2.5*eps/K)")
    g.add_argument("--noise", help="normal, laplace, cauchy or uniform")
    g.add_argument(
        "--kept-class-targets",
        help="forget images whose class stays in the remain data (class:K:F, random:F): calibrated (default: a "
        "held-out image's confidence) or search (pushed across the boundary like a whole class)",
    )
    g.add_argument(
        "--sigma", type=float, help="weight-space Langevin: noise std added to every weight per update (default 0)"
    )
    g.add_argument("--clip", type=float, help="clip each update's gradient to this L2 norm (default: none)")
    g.add_argument(
        "--radius", type=float, help="keep the weights within this L2 distance of the original's (default: none)"
    )
    g.add_argument("--remain-steps", type=int, help="noisy updates on remain data alone at the end (default 0)")
    g.add_argument(
        "--suppress",
        type=float,
        help="whole classes: weight of a pull of the forget images' true-class confidence down to a level "
        "(--suppress-level, or by default, per image, a fresh linear head's on f0's remain features; default 0: off)",
    )
    g.add_argument(
        "--suppress-level",
        type=float,
        help="with --suppress: this logit-scaled confidence level for every image instead",
    )
    g.add_argument(
        "--suppress-head-updates",
        type=int,
        help="with --suppress: SGD updates of the fresh head that sets the levels; more lower them (default 3000)",
    )
    g.add_argument(
        "--refit-rows",
        type=int,
        help="whole classes: after unlearning, redraw the forgotten classes' head rows and fit them alone on remain "
        "features for this many SGD updates, the other rows held (default 0: off)",
    )
    g.add_argument(
        "--quantize",
        action="store_const",
        const=True,
        help="round perturbed images to the 8-bit grid (nearest multiple of 1/255 in the eps-ball)",
    )
    g.add_argument("--soft-labels", action="store_const", const=True, help="train on f0's softmax at x_K")
    g.add_argument("--top-k", type=int, help="with --soft-labels: keep the k most likely classes")
    g.add_argument("--epochs", type=int, help="passes over the forget set (default 10)")
    g.add_argument("--min-steps", type=int, help="at least this many updates (default 100; paper 0)")
    g.add_argument(
        "--lr", type=float, help="learning rate (default 1e-3 for langevin, 3e-3 for boundary-shrink; paper 1e-5)"
    )
    g.add_argument("--batch-size", type=int)
    g.add_argument(
        "--bn",
        help="BatchNorm during unlearning: train (published; boundary-shrink's default) or frozen (langevin's default)",
    )
    g.add_argument(
        "--search-batch",
        type=int,
        help="images per boundary-search batch (default: by image size on CPU, 256 at 8x8; from free memory on CUDA): speed only",
    )
    add_graphs_flags(g)
    g.add_argument(
        "--preset",
        choices=sorted(PRESET_NAMES),
        help="paper: the published loop (eps 0.1 one step, 8-bit rounding, argmax labels, SGD lr 1e-5, 10 passes, batch 64, BN train, a remain batch each step, phi 0); flags given explicitly still win",
    )


def add_parser(p) -> None:
    add_pair_flags(p, retrain_required=False)
    p.add_argument(
        "--method",
        default="langevin",
        help=f"{' or '.join(BOUNDARY_METHODS)} (every other method: `compare` or `sweep`)",
    )
    add_method_flags(p)
    p.add_argument("--sgld", action="store_true", help="run gamma in {0, 1e-4} (as the original README)")
    p.add_argument("--use-sota", action="store_true", help="gamma = lamda = 0 (Boundary Shrink)")
    p.add_argument(
        "--selective",
        action="store_true",
        help="forget/remain accuracies on the training subsets instead of the test split",
    )
    p.add_argument("--name", required=True, help="writes runs/NAME/ and results/NAME.csv")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--data-dir", type=Path, default=None)
    add_runtime_flags(p)
    add_write_flags(p, overwrite=True)


def settings_from_args(args, method: str = "langevin") -> dict:
    """The preset's settings for ``method``, then every flag given (a flag always wins over the preset)."""
    from ..methods.langevin import preset_settings

    settings = preset_settings(args.preset, method)
    for name in setting_flags():
        value = getattr(args, name, None)
        if value is not None:
            settings[name] = value
    return settings


def configurations(args) -> list[tuple[str, str, dict]]:
    """(label, method, settings) for each run the flags ask for."""
    from ..methods.langevin import LANGEVIN_ONLY

    base, shrink = settings_from_args(args), settings_from_args(args, "boundary-shrink")
    if args.method not in BOUNDARY_METHODS:
        raise UserError(
            f"unlearn runs {' and '.join(BOUNDARY_METHODS)}; for {args.method!r} use `langevin-unlearn compare --methods {args.method}` "
            f"or `sweep --method {args.method}`"
        )
    if args.use_sota:
        if getattr(args, "gamma", None) or getattr(args, "lamda", None):
            raise UserError("--use-sota means gamma = lamda = 0; drop --gamma/--lamda")
        return [("boundary-shrink", "boundary-shrink", shrink)]
    if args.sgld:
        return [(f"langevin gamma={g:g}", "langevin", {**base, "gamma": g}) for g in (0.0, 1e-4)]
    if args.method == "boundary-shrink":
        typed = [k for k in LANGEVIN_ONLY if getattr(args, k, None) is not None]  # flags given, not a preset's values
        if typed:
            raise UserError(
                f"boundary-shrink has no {typed[0]}: it is langevin with gamma = lamda = 0; use --method langevin"
            )
        return [(args.method, args.method, shrink)]
    return [(args.method, args.method, base)]


def run_folder(args, label: str, count: int) -> Path:
    return args.runs_dir / args.name if count == 1 else args.runs_dir / args.name / label.replace(" ", "_")


def check_outputs(args, run_dirs: list[Path]) -> None:
    """Every output path, before any work: writable folders, our own results table, no input model overwritten."""
    from ..store.paths import check_not_input, check_run_target, prepare_dir
    from ..store.tables import check_table

    prepare_dir(args.runs_dir, "--runs-dir")
    prepare_dir(args.results_dir, "--results-dir")
    check_table(args.results_dir / f"{args.name}.csv", "name")
    check_not_input(args.runs_dir / args.name, [args.original, args.retrain], "--name")
    for run_dir in run_dirs:
        check_run_target(run_dir, "--name", overwrite=getattr(args, "overwrite", True))


def run(args) -> int:
    from ..core.device import resolve_device
    from ..experiments.setup import load_setup
    from ..methods import create_method
    from ..store.locks import all_of, exclusive
    from ..store.paths import check_name

    check_name(args.name)
    device = resolve_device(args.device)
    configs = configurations(args)
    methods = [(label, create_method(name, **settings)) for label, name, settings in configs]  # validate all first
    run_dirs = [run_folder(args, label, len(methods)) for label, _ in methods]
    check_outputs(args, run_dirs)
    if args.retrain is None:
        warnings.warn(
            "no --retrain: agreement_with_retrain, js_to_retrain_forget and speedup stay empty; pass --retrain RUN to fill them",
            stacklevel=2,
        )
    setup = load_setup(
        args.original,
        args.forget,
        retrain=args.retrain,
        data_dir=args.data_dir,
        device=device,
        expect_model=getattr(args, "expect_model", None),
        selective=getattr(args, "selective", False),
    )
    # taken once the inputs are known good (a refused command leaves no file); runs/NAME (shared with
    # train --out and compose) before results/NAME (shared with compare): one order, no deadlock with --wait
    what, wait = f"unlearn --name {args.name}", getattr(args, "wait", False)
    with all_of(
        [
            exclusive(args.runs_dir / args.name, what, wait=wait),
            exclusive(args.results_dir / args.name, what, wait=wait),
        ]
    ):
        check_outputs(args, run_dirs)  # again under the lock: another writer may have finished meanwhile
        return _run(args, setup, methods)


def _run(args, setup, methods) -> int:
    from ..experiments.setup import append_csv, reference_rows, save_unlearned, unlearn_and_evaluate
    from ..report.tables import text_table

    print(setup.split.summary())
    rows = reference_rows(setup, args.seed)
    csv_rows = []
    for label, method in methods:
        model, metrics = unlearn_and_evaluate(setup, method, seed=args.seed, progress=not args.no_progress)
        run_dir = run_folder(args, label, len(methods))
        save_unlearned(run_dir, model, setup, method, metrics, args.seed)
        rows.append({"model": label, **metrics})
        csv_rows.append(
            {
                "name": args.name,
                "run": str(run_dir),
                "seed": args.seed,
                "forget": args.forget,
                **method.describe(),
                **{k: v for k, v in metrics.items() if k != "per_class_acc"},
            }
        )
    csv_path = append_csv(args.results_dir / f"{args.name}.csv", csv_rows, replacing=[r["run"] for r in csv_rows])
    print(text_table(rows, TABLE))
    print(
        f"saved {len(methods)} model(s) under {args.runs_dir / args.name}; appended {len(csv_rows)} row(s) to {csv_path}"
    )
    return 0
