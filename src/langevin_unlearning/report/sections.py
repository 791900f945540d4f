"""One function per part of the report; each returns its <section> or None when the folder lacks its data."""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path

from . import figures, units
from .collect import IMAGE_TYPES, MAX_IMAGE_BYTES, Results, label_column, number, row_labels
from .compare import ORIGINAL, ROLE_LEGEND, TARGET, nothing_beats_original, roles
from .markup import esc, figure, fmt_number, fmt_value, json_html, section, table

# the metric columns a table may hold, in the order shown: (short header, format, what it means)
METRICS = {
    "forget_acc": (
        "forget",
        "acc",
        "test accuracy on the forget set's images (for class forgetting: the forgotten class); the target is the retrained model's, not 0",
    ),
    "remain_acc": ("remain", "acc", "test accuracy on all other images: unlearning should keep it"),
    "test_acc": ("test", "acc", "accuracy on the whole test set"),
    "train_forget_acc": ("train forget", "acc", "accuracy on the deleted training images themselves"),
    "train_remain_acc": ("train remain", "acc", "accuracy on (a sample of) the kept training images"),
    "mia": (
        "MIA",
        "acc",
        "loss-based membership attack accuracy on the deleted images: 0.5 = the attack cannot tell them from unseen images",
    ),
    "mia_efficacy": (
        "MIA-eff",
        "acc",
        "share of deleted images a confidence-based SVC attack calls non-members (as in the SalUn and l1-sparse papers); the target is the retrained model's value",
    ),
    "agreement_with_retrain": (
        "agree",
        "acc",
        "share of test images on which the model predicts the same class as the retrained model (1 = identical)",
    ),
    "js_to_retrain_forget": (
        "JS forget",
        "sig",
        "Jensen-Shannon divergence of the output distributions to the retrained model's on forget images (0 = identical)",
    ),
    "js_to_retrain_remain": ("JS remain", "sig", "the same on the other test images"),
    "unlearn_seconds": ("seconds", "sec", "wall-clock time of the unlearning (for the target: of retraining)"),
    "speedup": ("speedup", "x", "retraining time / unlearning time"),
    "avg_gap": (
        "Avg. Gap",
        "sig",
        "SalUn's Avg. Gap: the mean of |ΔUA|, |ΔRA|, |ΔTA|, |ΔMIA-Efficacy| to the retrained model, in percentage points (docs/study.md); lower is better",
    ),
    "gap": (
        "gap",
        "acc",
        "|Δforget| + |Δremain| + |ΔMIA| to the retrained model: 0 = indistinguishable from retraining on these three; lower is better",
    ),
}
HIDDEN = {"per_class_acc"}  # drawn in its own section


def _is_reference(label: str) -> bool:
    return label in (TARGET, ORIGINAL)


def compare_section(r: Results) -> str | None:
    rows = r.table
    if not rows:
        return None
    label = label_column(rows)
    columns = list(rows[0])
    metrics = [c for c in METRICS if c in columns]
    errors = any((row.get("error") or "").strip() for row in rows)
    best = _best_gap_row(rows, label)
    rank = "avg_gap" if "avg_gap" in metrics else "gap"  # the column the best row is marked in
    header = (
        [esc(label), "role"]
        + [f'<span title="{esc(c)}">{esc(units.header(c, METRICS[c][0]))}</span>' for c in metrics]
        + (["error"] if errors else [])
    )
    body, classes = [], []
    for i, (name, row, role) in enumerate(zip(row_labels(rows), rows, roles(rows, label))):
        failed = bool((row.get("error") or "").strip())
        cells = [(esc(name), "label"), (esc("failed" if failed else role), "role")]
        for c in metrics:
            cells.append((_cell(row, c), "num best" if (c == rank and i == best) else "num"))
        if errors:
            cells.append((esc(row.get("error") or ""), "error"))
        body.append(cells)
        raw = row.get(label) or ""
        classes.append("target" if raw == TARGET else "failed" if failed else "original" if raw == ORIGINAL else "")
    has_target = "target" in classes
    legend = (
        '<p><span class="key target">highlighted row</span> the retrained model: the target every other row is measured against. '
        if has_target
        else "<p>"
    )
    legend += '<span class="key best">green gap</span> the method closest to it. ' if best is not None else ""
    legend += (
        '<span class="key failed">red row</span> the method failed; its error is in the last column.</p>'
        if errors
        else "</p>"
    )
    sentence = nothing_beats_original(rows, label)
    legend += f'<p class="roles">{esc(ROLE_LEGEND)}</p>' + (
        f"<p><strong>{esc(sentence)}</strong></p>" if sentence else ""
    )
    seeds = _seed_note(rows)
    notes = (
        f'<details><summary>How this table was made (from {esc(r.name)}.md)</summary><pre class="notes">{esc(r.notes)}</pre></details>'
        if r.notes
        else ""
    )
    glossary = "".join(f"<dt>{esc(METRICS[c][0])}</dt><dd>{esc(METRICS[c][2])}</dd>" for c in metrics)
    raw_cols = [c for c in columns if c not in HIDDEN]
    raw = table(
        [esc(c) for c in raw_cols],
        ([fmt_value(row.get(c)) for c in raw_cols] for row in rows),
        row_classes=[c if c == "target" else "" for c in classes],
    )
    body_html = (
        table(header, body, row_classes=classes, cls="compare")
        + legend
        + seeds
        + notes
        + f'<h3>What the columns mean</h3><dl class="columns"><dt>{esc(label)}</dt><dd>the model: the original (before unlearning), the retrained target, or an unlearning method started from the original</dd>{glossary}</dl>'
        + f"<details><summary>Every column of {esc(r.name)}.csv ({len(raw_cols)} columns, {len(rows)} rows)</summary>{raw}</details>"
    )
    explain = (
        "Every model evaluated the same way. The best unlearning method is not the one with the lowest forget accuracy but the one "
        "whose numbers are closest to the retrained model's (highlighted): retraining without the forget data is what unlearning imitates."
    )
    if not has_target:
        explain += f" This table has no retrained-model row: compare the methods with the target from <code>langevin-unlearn compare --name {esc(r.name)}</code>."
    return section(
        "compare", "Comparison with the retrained model" if has_target else "Results table", explain, body_html
    )


def _fmt(column: str, value, kind: str) -> str:
    """A number in its column's unit (units.py) where the column has one, else by its display kind."""
    return units.fmt(column, value) if units.unit_of(column) and value is not None else fmt_number(value, kind)


def _cell(row: dict, column: str) -> str:
    """'mean', with several seeds 'mean ± half-width of the 95% interval' (or ± std), and ≈ where the target lies inside it."""
    kind = METRICS[column][1]
    mean = number(row.get(column))
    text = esc(_fmt(column, mean, kind))
    if mean is None or math.isnan(mean):
        return text
    if (number(row.get("seeds")) or 0) > 1:
        low, high, std = (number(row.get(f"{column}{s}")) for s in ("_ci95_low", "_ci95_high", "_seed_std"))
        if low is not None and high is not None and not math.isnan(low) and not math.isnan(high):
            text += f' <span class="std" title="95% interval over seeds: {esc(_fmt(column, low, kind))} to {esc(_fmt(column, high, kind))}">± {esc(_fmt(column, (high - low) / 2, kind))}</span>'
        elif std is not None and not math.isnan(std):
            text += f' <span class="std" title="standard deviation over seeds">± {esc(_fmt(column, std, kind))}</span>'
    if column in str(row.get("within_noise") or "").split():
        text += ' <span class="noise" title="the retrained model\'s value lies inside this 95% interval over seeds">≈</span>'
    return text


def _best_gap_row(rows: list[dict], label: str) -> int | None:
    gaps = [
        (number(row.get("avg_gap", row.get("gap"))), i)
        for i, row in enumerate(rows)
        if not _is_reference(row.get(label) or "") and not (row.get("error") or "").strip()
    ]
    gaps = [(g, i) for g, i in gaps if g is not None and not math.isnan(g)]
    return min(gaps)[1] if len(gaps) > 1 else None


def _seed_note(rows: list[dict]) -> str:
    counts = {number(row.get("seeds")) for row in rows} - {None}
    if not counts or max(counts) <= 1:
        return ""
    intervals = any(k.endswith("_ci95_low") for k in rows[0])
    spread = "the half-width of the 95% t-interval over seeds" if intervals else "the standard deviation across seeds"
    noise = (
        ' <span class="noise">≈</span> marks a value whose interval holds the retrained model\'s: that difference is within seed noise.'
        if any(row.get("within_noise") for row in rows)
        else ""
    )
    return f'<p>Method rows are means over {esc(fmt_number(max(counts), "int"))} seeds; <span class="std">± x</span> is {spread}.{noise}</p>'


def forget_class(r: Results) -> int | None:
    spec = ((r.provenance or {}).get("forget") or {}).get("spec") or next(
        (row.get("forget") for row in r.table or [] if row.get("forget")), None
    )
    m = re.fullmatch(r"class:(\d+)(:.*)?", str(spec or ""))
    return int(m.group(1)) if m else None


def per_class_section(r: Results) -> str | None:
    if not r.per_class:
        return None
    k = forget_class(r)
    dataset = (r.provenance or {}).get("dataset")
    target = "; target: the retrained model" if any(m == TARGET for m, _ in r.per_class) else ""
    title = (
        "per-class test accuracy"
        + (f" on {dataset}" if dataset else "")
        + (f" after forgetting class {r.classes[k]}" if k is not None and 0 <= k < len(r.classes) else "")
        + target
    )
    png = figures.per_class_figure(r.per_class, r.classes, k, title=title)
    header = ["model \\ class (%)"] + [esc(c) for c in r.classes]
    rows = [[(esc(m), "label")] + [(esc(units.fmt("test_acc", v)), "num") for v in acc] for m, acc in r.per_class]
    heads = [""] + ["forget-class" if i == k else "" for i in range(len(r.classes))]
    explain = (
        "Test accuracy on each class, per model. After forgetting a class, a good method matches the retrained model on that class "
        "(outlined / shaded) and keeps the other classes where the original had them."
        if k is not None
        else "Test accuracy on each class, per model: unlearning should change the forget set's classes the way retraining does and leave the others alone."
    )
    return section(
        "per-class",
        "Per-class accuracy",
        explain,
        figure(png, "image/png", "per-class test accuracy (drawn from the table)")
        + table(
            header,
            rows,
            row_classes=["target" if m.split(" · ")[0] == TARGET else "" for m, _ in r.per_class],
            header_classes=heads,
        ),
    )


def sweep_section(r: Results) -> str | None:
    plots = sweep_images(r)
    if not r.sweep and not plots:
        return None
    parts = []
    for t in r.sweep or []:
        parts.append(
            f"<h3>table <code>{esc(t.name)}</code>: {esc(fmt_number(t.count, 'int'))} rows ({esc(t.order)}, {len(t.rows)} shown)</h3>"
        )
        parts.append(table([esc(c) for c in t.columns], ([fmt_value(v) for v in row] for row in t.rows)))
        if t.count > len(t.rows):
            parts.append(f'<p class="muted">{esc(fmt_number(t.count - len(t.rows), "int"))} more rows in the file.</p>')
    parts.append(_figures(r, plots))
    explain = (
        f"Settings tried by a sweep (<code>{esc(r.name)}/sweep.sqlite</code>) and its plots: heatmaps of a metric over pairs of settings "
        "and the Pareto front of forgetting quality against cost. Points on the front are the settings no other setting beats on both."
    )
    return section("sweep", "Sweep", explain, "".join(parts))


def audit_section(r: Results) -> str | None:
    pictures = audit_images(r)
    if r.audit is None and r.audit_examples is None and not pictures:
        return None
    parts = []
    if r.audit_examples:
        parts.append(_epsilon_parts(r))
    if r.audit is not None:
        summary = r.audit.get("table")
        if isinstance(summary, list) and summary and all(isinstance(x, dict) for x in summary):
            columns = list(dict.fromkeys(k for x in summary for k in x))
            parts.append(
                "<h3>Summary (audit.json)</h3>"
                + table([esc(c) for c in columns], ([fmt_value(x.get(c)) for c in columns] for x in summary))
            )
            parts.append(
                f"<details><summary>Everything else in audit.json</summary>{json_html({k: v for k, v in r.audit.items() if k != 'table'})}</details>"
            )
        else:
            parts.append(f"<h3>Summary (audit.json)</h3>{json_html(r.audit)}")
    parts.append(_figures(r, pictures))
    explain = (
        "Per-example forgetting quality (<code>langevin-unlearn audit</code>): for each forget example, how well its outputs from the "
        "unlearned models can be told apart from those of models retrained without it. The per-example <em>epsilon</em> is that "
        "distinguishability as a privacy loss: 0 = indistinguishable, higher = the example is still remembered. Remain examples are "
        "shown for comparison (unlearning can hurt their privacy too); look at the right tail, not only the mean."
    )
    return section("audit", "Per-example audit", explain, "".join(parts))


def _epsilon_parts(r: Results) -> str:
    rows = r.audit_examples or []
    if "epsilon" not in rows[0]:
        return '<p class="muted">audit_examples.csv has no <code>epsilon</code> column; nothing to draw.</p>'
    by = next((c for c in ("method", "model") if c in rows[0]), None)
    whole = str((r.audit or {}).get("method") or "all examples")
    groups: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        eps = number(row.get("epsilon"))
        if eps is None:
            continue
        groups.setdefault(str(row.get(by, "")) if by else whole, {}).setdefault(
            str(row.get("group") or "all"), []
        ).append(eps)
    if not groups:
        return '<p class="muted">audit_examples.csv holds no readable epsilon values.</p>'
    stats, infinite = [], False
    for panel, gs in groups.items():
        for g, vs in sorted(gs.items()):
            known = sorted(v for v in vs if not math.isnan(v))  # inf sorts last: it counts in the percentiles
            finite = [v for v in known if math.isfinite(v)]
            infinite |= len(finite) < len(known)
            p90 = known[min(len(known) - 1, math.ceil(0.9 * len(known)) - 1)] if known else math.nan
            cells = (
                statistics.fmean(finite) if finite else math.nan,
                statistics.median(known) if known else math.nan,
                p90,
                known[-1] if known else math.nan,
            )
            stats.append(
                [
                    esc(panel),
                    esc(g),
                    esc(f"{len(known)}"),
                    *(esc(fmt_number(x, "sig")) for x in cells),
                    esc(f"{len(known) - len(finite)}"),
                ]
            )
    summary = table(
        [
            "method" if by else "",
            "group",
            "examples",
            "mean ε (finite)",
            "median ε",
            "90th percentile ε",
            "max ε",
            "infinite ε",
        ],
        stats,
    )
    if infinite:
        summary += '<p class="muted">Infinite epsilons (an example the attack always separates) are drawn in the histogram\'s last bin.</p>'
    png = figures.epsilon_histogram_bytes(groups)
    return (
        "<h3>Per-example epsilon</h3>"
        + figure(png, "image/png", "per-example epsilon histogram (drawn from audit_examples.csv)")
        + summary
    )


def sweep_images(r: Results) -> list[Path]:
    return [p for p in r.images if r.folder / "plots" in p.parents]


AUDIT_WORDS = ("audit", "epsilon", "lira")  # the audit command's figures: epsilon_hist.png, lira_auc_hist.png


def audit_images(r: Results) -> list[Path]:
    return [p for p in r.images if any(w in r.relative(p).lower() for w in AUDIT_WORDS) and p not in sweep_images(r)]


def figures_section(r: Results) -> str | None:
    shown = set(sweep_images(r)) | set(audit_images(r))
    rest = [p for p in r.images if p not in shown]
    if not rest:
        return None
    return section(
        "figures",
        "Figures",
        "Every other image in the results folder, captioned with its file name.",
        _figures(r, rest),
    )


def provenance_section(r: Results) -> str | None:
    if r.provenance is None:
        return None
    explain = (
        "What produced these numbers: software versions, the machine, the seeds, and sha256 hashes of the models' weights and of the "
        "forget set's training indices. Two results with the same hashes started from the same models and forgot the same images."
    )
    return section("provenance", "Provenance", explain, json_html(r.provenance))


def absent_section(r: Results, present: set[str]) -> str | None:
    hints = {
        "compare": f"no comparison table: <code>langevin-unlearn compare --name {esc(r.name)} ...</code> writes {esc(r.name)}.csv",
        "per-class": "no per-class accuracy: the table has no <code>per_class_acc</code> column and its runs no metrics.json",
        "sweep": f"no sweep: {esc(r.name)}/sweep.sqlite and {esc(r.name)}/plots/ are absent",
        "audit": f"no per-example audit: {esc(r.name)}/audit.json and audit_examples.csv are absent (<code>langevin-unlearn audit</code>)",
        "provenance": f"no provenance: {esc(r.name)}.provenance.json is absent (<code>compare</code> writes it)",
    }
    missing = [h for k, h in hints.items() if k not in present]
    problems = "".join(f"<li>{esc(p)}</li>" for p in r.problems)
    if not missing and not problems:
        return None
    body = (f'<ul class="absent">{"".join(f"<li>{m}</li>" for m in missing)}</ul>' if missing else "") + (
        f'<ul class="problems">{problems}</ul>' if problems else ""
    )
    return section(
        "absent",
        "Not in this folder",
        "Parts a report can show that these results do not have, and files that could not be read.",
        body,
    )


def _figures(r: Results, paths: list[Path]) -> str:
    items = []
    for p in paths:
        size = p.stat().st_size
        if size > MAX_IMAGE_BYTES:
            items.append(f'<p class="muted">{esc(r.relative(p))}: {size >> 20} MiB, too large to embed</p>')
        else:
            items.append(figure(p.read_bytes(), IMAGE_TYPES[p.suffix.lower()], r.relative(p)))
    return f'<div class="figures">{"".join(items)}</div>' if items else ""
