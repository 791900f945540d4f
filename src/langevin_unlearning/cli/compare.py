"""`langevin-unlearn compare`: every method from the same original model, one table, retrain as target."""

from __future__ import annotations

from pathlib import Path

from ..comparison import COLUMNS, HEADERS, compare, display_rows, method_names
from ..device import resolve_device
from ..evaluation.table import markdown_table, text_table
from ..errors import UserError
from ..experiment import load_setup, write_csv
from ..io import write_text

HELP = "run many unlearning methods from one original model and compare them with the retrained model"


def add_parser(p) -> None:
    p.add_argument("--original", required=True, help="run folder of the original model")
    p.add_argument("--retrain", required=True, help="run folder of the retrained model (the target)")
    p.add_argument("--forget", required=True, help="forget spec the retrained model left out")
    p.add_argument("--methods", default="all", help="all, or a comma-separated list (e.g. langevin,boundary-shrink,finetune)")
    p.add_argument("--name", required=True, help="writes results/NAME.csv and results/NAME.md")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--seeds", type=int, default=1, help="run each method with this many seeds; cells show mean ± the 95%% t-interval half-width; * = the retrained value lies inside it")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    names = method_names(args.methods)
    if args.seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {args.seeds}")
    seeds = list(range(args.seed, args.seed + args.seeds))
    setup = load_setup(args.original, args.forget, retrain=args.retrain, data_dir=args.data_dir, device=resolve_device(args.device))
    print(setup.split.summary())
    rows = compare(setup, names, seeds, progress=not args.no_progress)
    shown = display_rows(rows)
    columns = ["method", *(HEADERS[c] for c in COLUMNS)] + (["error"] if any(r["error"] for r in rows) else [])
    table = text_table(shown, columns)
    print(table)
    # a comparison is one table: the CSV is replaced, not appended to
    csv_path = write_csv(args.results_dir / f"{args.name}.csv", [{"name": args.name, "forget": args.forget, "seeds": " ".join(map(str, seeds)), **r} for r in rows])
    md = (
        f"# {args.name}\n\n{setup.split.summary()}; dataset {setup.original_meta['dataset']}, model {setup.original_meta['model']['name']} "
        f"(width {setup.original_meta['model'].get('width', 1)}), device {setup.device}, seeds {seeds}.\n"
        "Test-set accuracies on the forget class (`forget`) and the other classes (`remain`); `MIA`: loss-based membership attack "
        "accuracy on the deleted images (0.5 = can't tell); `agree`/`JS`: agreement with and Jensen-Shannon divergence to the retrained "
        "model, the target; `gap` = |Δforget| + |Δremain| + |ΔMIA| to it (lower is better); `speedup` = retraining time / unlearning time; "
        "`MIA-eff`: share of deleted images an SVC on true-class confidence calls non-members (the retrained model's value is the target). "
        "With several seeds: mean ± half-width of the 95% t-interval over seeds, `*` = the retrained model's value lies inside it (within seed noise).\n\n"
        + markdown_table(shown, columns) + "\n"
    )
    write_text(args.results_dir / f"{args.name}.md", md)
    print(f"wrote {csv_path} and {args.results_dir / f'{args.name}.md'}")
    return 0
