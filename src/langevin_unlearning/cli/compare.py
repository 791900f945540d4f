"""`langevin-unlearn compare`: every method from the same original model, one table, retrain as target."""

from __future__ import annotations

import json
from pathlib import Path

from ..experiments.compare import HEADERS, compare, display_rows, method_names, model_runs, table_columns
from ..core.device import resolve_device
from ..evaluation.analyses import analysis_names
from ..report.tables import markdown_table, text_table
from ..core.errors import UserError
from ..experiments.setup import load_setup, write_csv
from ..store.atomic import json_text, write_json, write_text
from ..methods import create_method
from ..store.paths import check_name, prepare_dir
from ..store.provenance import provenance
from ..store.tables import check_table
from ..store.resume import finish, identity, load_done, progress_path, save_progress
from ..core.validation import check_seed_range
from .common import add_pair_flags

HELP = "run many unlearning methods from one original model and compare them with the retrained model"


def add_parser(p) -> None:
    add_pair_flags(p)
    p.add_argument("--methods", default="all", help="all, none, or a comma-separated list (e.g. langevin,boundary-shrink,finetune)")
    p.add_argument("--models", default=None, metavar="NAME=RUN,...", help="extra rows: already-made models (e.g. compositions) scored the same way")
    p.add_argument("--name", required=True, help="writes results/NAME.csv and results/NAME.md")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--seeds", type=int, default=1, help="run each method with this many seeds; cells show mean ± the 95%% t-interval half-width; * = the retrained value lies inside it")
    p.add_argument("--analyses", default="", help="also relearn,probe (or all): relearning steps and linear-probe accuracy per row (slow)")
    p.add_argument("--selective", action="store_true", help="forget/remain accuracies on the training subsets instead of the test split")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    check_name(args.name)
    names = method_names(args.methods)
    if args.seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {args.seeds}")
    check_seed_range(args.seed, args.seeds, "--seed")
    prepare_dir(args.results_dir, "--results-dir")
    check_table(args.results_dir / f"{args.name}.csv", "name")
    seeds = list(range(args.seed, args.seed + args.seeds))
    analyses = analysis_names(args.analyses)
    setup = load_setup(args.original, args.forget, retrain=args.retrain, data_dir=args.data_dir, device=resolve_device(args.device), selective=args.selective)
    print(setup.split.summary())
    models = model_runs(args.models)
    if not names and not models:
        raise UserError("nothing to compare: --methods none needs --models NAME=RUN,...")
    # each finished method's row goes to disk at once; a rerun of an interrupted comparison skips those
    progress_file, ident = progress_path(args.results_dir, args.name), identity(setup, args.forget, seeds)
    settings = json.loads(json_text({n: create_method(n).describe() for n in names}))
    done = load_done(progress_file, ident, settings)
    if done:
        print(f"resuming {args.name}: {', '.join(n for n in names if n in done)} already done")

    def keep(rows_so_far: list[dict]) -> None:
        save_progress(progress_file, ident, rows_so_far, settings)
        write_csv(args.results_dir / f"{args.name}.csv", [{"name": args.name, "forget": args.forget, "seeds": " ".join(map(str, seeds)), **r} for r in rows_so_far])

    rows = compare(setup, names, seeds, progress=not args.no_progress, models=models, analyses=analyses, done=done, on_row=keep)
    shown = display_rows(rows)
    columns = ["method", *(HEADERS[c] for c in table_columns(rows))] + (["error"] if any(r["error"] for r in rows) else [])
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
        "With several seeds: mean ± half-width of the 95% t-interval over seeds, `*` = the retrained model's value lies inside it (within seed noise).\n"
        + ("`--selective`: `forget`/`remain` are accuracies on the training forget/remain images, not the test split.\n" if args.selective else "")
        + ("`relearn`: SGD steps on a small forget sample until forget accuracy is back to half the original's (fewer than retrain = "
           "hidden, not removed); `probe`: accuracy of a linear head on the frozen features, fitted on remain images plus that small "
           "forget sample, on held-out forget images (docs/readme/analyses.md).\n" if analyses else "")
        + "\n"
        + markdown_table(shown, columns) + "\n"
    )
    write_text(args.results_dir / f"{args.name}.md", md)
    prov = write_json(args.results_dir / f"{args.name}.provenance.json", provenance(setup, seeds, command="compare", paths={"original": args.original, "retrain": args.retrain}, extra={"methods": names}))
    finish(progress_file)
    print(f"wrote {csv_path}, {args.results_dir / f'{args.name}.md'} and {prov}")
    return 0
