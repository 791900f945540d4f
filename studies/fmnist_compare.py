"""All unlearning methods on real Fashion-MNIST, one table, the retrained model as target.

Reuses the original/retrained models of studies/recipe.py (same flags, same cache folder),
then runs `compare` on them. Goal: Langevin has the smallest `gap` among the methods that take less
than half the retraining time; the script says whether it does.

    python -m studies.fmnist_compare                    # CPU-sized (AllCNN width 0.25, 28x28, 3 epochs)
    python -m studies.fmnist_compare --paper            # published configuration, for a GPU
"""

from __future__ import annotations

import argparse
from pathlib import Path

from langevin_unlearning.experiments.compare import compare, method_names
from langevin_unlearning.report.compare import people_rows
from langevin_unlearning.report.tables import markdown_table, text_table
from langevin_unlearning.store.atomic import write_text
from studies.recipe import add_model_flags, describe, prepare


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_flags(p)
    p.add_argument("--methods", default="all")
    p.add_argument(
        "--full-budgets",
        action="store_true",
        help="every method at its default budget (on CPU the remain-set methods then take an hour)",
    )
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--md", type=Path, default=Path("results/fmnist_compare.md"))
    args = p.parse_args()
    setup, _ = prepare(args)
    names = method_names(args.methods)
    settings = {
        "retrain": {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size}
    }  # the reference's own recipe
    if not (args.full_budgets or args.paper):
        # CPU-sized: one pass over the remain set for the methods whose default is 10 passes
        settings.update({name: {"epochs": 1} for name in ("finetune", "l1-sparse", "cf-k", "eu-k", "salun")})

    def finished(rows: list[dict]) -> None:  # each method's line as it finishes; the table follows at the end
        r = rows[-1]
        print(
            f"  {r['method']}: " + (r["error"] or f"Avg. Gap {r['avg_gap']:.2f} pp, {r['unlearn_seconds']:.1f} s"),
            flush=True,
        )

    rows = compare(
        setup,
        names,
        list(range(args.seed, args.seed + args.seeds)),
        progress=True,
        settings=settings,
        on_row=finished,
    )
    shown = people_rows(rows)
    budgets = "; budgets changed from the defaults: " + ", ".join(f"{k} {v}" for k, v in settings.items())
    title = f"{describe(args, setup)}, seeds {args.seeds}{budgets}"
    print(title)
    print(text_table(shown, list(shown[0])))
    fast = [r for r in rows[2:] if not r["error"] and r["speedup"] >= 2]
    best = min(fast, key=lambda r: r["gap"]) if fast else None
    lang = next((r for r in rows if r["method"] == "langevin"), None)
    if best and lang:
        verdict = (
            "Langevin has the smallest gap"
            if best is lang
            else f"Langevin does NOT have the smallest gap: {best['method']} ({100 * best['gap']:.2f} vs {100 * lang['gap']:.2f} pp)"
        )
        verdict += " among methods at least 2x faster than retraining" + (
            "" if lang in fast else " (and Langevin itself is not 2x faster)"
        )
        print(verdict)
    else:
        verdict = "no method ran at least 2x faster than retraining" if not fast else ""
    write_text(args.md, f"{title}\n\n{markdown_table(shown, list(shown[0]))}\n\n{verdict}\n")
    print(f"wrote {args.md}")


if __name__ == "__main__":
    main()
