"""The comparison table for people: results/NAME.md, with what every column means, and its provenance file."""

from __future__ import annotations

from pathlib import Path

from ..experiments.compare import HEADERS, display_rows, table_columns
from ..store.atomic import write_json, write_text
from ..store.provenance import provenance
from .tables import markdown_table

LEGEND = (
    "Test-set accuracies on the forget class (`forget`) and the other classes (`remain`); `MIA`: loss-based membership attack "
    "accuracy on the deleted images (0.5 = can't tell); `agree`/`JS`: agreement with and Jensen-Shannon divergence to the retrained "
    "model, the target; `gap` = |Δforget| + |Δremain| + |ΔMIA| to it (lower is better); `speedup` = retraining time / unlearning time; "
    "`MIA-eff`: share of deleted images an SVC on true-class confidence calls non-members (the retrained model's value is the target). "
    "With several seeds: mean ± half-width of the 95% t-interval over seeds, `*` = the retrained model's value lies inside it (within seed noise).\n"
)
SELECTIVE = (
    "`--selective`: `forget`/`remain` are accuracies on the training forget/remain images, not the test split.\n"
)
ANALYSES = (
    "`relearn`: SGD steps on a small forget sample until forget accuracy is back to half the original's (fewer than retrain = "
    "hidden, not removed); `probe`: accuracy of a linear head on the frozen features, fitted on remain images plus that small "
    "forget sample, on held-out forget images (docs/analyses.md).\n"
)


def shown_columns(rows: list[dict]) -> list[str]:
    return ["method", *(HEADERS[c] for c in table_columns(rows))] + (["error"] if any(r["error"] for r in rows) else [])


def compare_markdown(
    name: str, rows: list[dict], setup, seeds: list[int], *, selective: bool = False, analyses: bool = False
) -> str:
    meta = setup.original_meta
    return (
        f"# {name}\n\n{setup.split.summary()}; dataset {meta.dataset}, model {meta.model['name']} "
        f"(width {meta.model.get('width', 1)}), device {setup.device}, seeds {seeds}.\n"
        + LEGEND
        + (SELECTIVE if selective else "")
        + (ANALYSES if analyses else "")
        + "\n"
        + markdown_table(display_rows(rows), shown_columns(rows))
        + "\n"
    )


def write_compare(
    results_dir: Path,
    name: str,
    rows: list[dict],
    setup,
    seeds: list[int],
    *,
    command: str,
    paths: dict,
    methods: list[str],
    selective: bool = False,
    analyses: bool = False,
) -> list[Path]:
    """results/NAME.md and NAME.provenance.json beside the CSV ``run_compare`` keeps (what ``report NAME`` reads)."""
    md = write_text(
        results_dir / f"{name}.md", compare_markdown(name, rows, setup, seeds, selective=selective, analyses=analyses)
    )
    prov = write_json(
        results_dir / f"{name}.provenance.json",
        provenance(setup, seeds, command=command, paths=paths, extra={"methods": methods}),
    )
    return [md, prov]
