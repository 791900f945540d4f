"""What an audit looks like on disk: audit.json, audit_examples.csv, audit.md and two histograms.

The numbers come from ``experiments.audit.Auditor``; this module only lays them out.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..experiments.audit import Auditor
from ..store.atomic import atomic_write, write_json, write_text
from ..store.tables import write_csv
from .tables import markdown_table

SUMMARY_COLUMNS = [
    "model",
    "N",
    "Avg.Gap (pp)",
    "F",
    "F_95",
    "final_score",
    "final_95",
    "eps_median",
    "eps_p90",
    "capped",
    "F_worst10",
    "lira_auc",
    "lira_auc_p90",
    "lira_tpr1",
    "remain_F",
    "remain_eps_p90",
    "remain_lira_auc",
]

# the columns the console shows, within 120 characters (audit.md keeps all of them)
CONSOLE_COLUMNS = ["model", "N", "Avg.Gap (pp)", "F", "F_95", "final_score", "final_95", "eps_median", "lira_auc"]


def summary_row(r: dict) -> dict:
    """One table row: the numbers people compare (intervals as 'low-high')."""
    f, rem, iv = r["forget"], r.get("remain", {}), r.get("intervals", {})

    def span(key):
        return f"{iv[key][0]:.3f}-{iv[key][1]:.3f}" if key in iv else "-"

    return {
        "model": r["label"],
        "N": f"{r['n_unlearned']}v{r['n_retrained']}",
        "Avg.Gap (pp)": r.get("avg_gap", math.nan),
        "F": f["F"],
        "F_95": span("F"),
        "final_score": r["final_score"],
        "final_95": span("final_score"),
        "eps_median": f["epsilon"]["median"],
        "eps_p90": f["epsilon"]["p90"],
        "capped": f["share_capped"],
        "F_worst10": f["F_worst_decile"],
        "lira_auc": f["lira_auc"]["mean"],
        "lira_auc_p90": f["lira_auc"]["p90"],
        "lira_tpr1": f["lira_pooled_tpr_at_1fpr"],
        "remain_F": rem.get("F", math.nan),
        "remain_eps_p90": rem.get("epsilon", {}).get("p90", math.nan),
        "remain_lira_auc": rem.get("lira_auc", {}).get("mean", math.nan),
        "forget_conf": r.get("forget_conf", math.nan),
    }


def metrics_rows(r: dict) -> list[dict]:
    rows = []
    for k, v in r["metrics"].items():
        mu, lo, hi = v["unlearned"]
        mr, rlo, rhi = v["retrained"]
        rows.append(
            {
                "metric": k,
                "unlearned": mu,
                "unlearned_95": f"{lo:.4f}-{hi:.4f}",
                "retrained": mr,
                "retrained_95": f"{rlo:.4f}-{rhi:.4f}",
                "difference": v["difference"][0],
                "within_noise": {True: "yes", False: "NO", None: "-"}[v["within_noise"]],
            }
        )
    return rows


def example_rows(r: dict, auditor_groups: np.ndarray, index: torch.Tensor, labels: torch.Tensor) -> list[dict]:
    per = r["per_example"]
    rows, pos = [], {"forget": 0, "remain": 0}
    for i, (group, idx) in enumerate(zip(auditor_groups, index.tolist())):
        k = pos[group]
        pos[group] += 1
        g = per[group]
        rows.append(
            {
                "group": group,
                "index": idx,
                "label": int(labels[idx]),
                "epsilon": float(g["epsilon"][k]),
                "epsilon_single": float(g["epsilon_single"][k]),
                "epsilon_double": float(g["epsilon_double"][k]),
                "epsilon_plugin": float(g["epsilon_plugin"][k]),
                "score": float(g["score"][k]),
                "lira_auc": float(g["lira_auc"][k]),
                "lira_tpr_at_1fpr": float(g["lira_tpr_at_1fpr"][k]),
                "conf_unlearned_mean": float(per["conf_unlearned_mean"][i]),
                "conf_retrained_mean": float(per["conf_retrained_mean"][i]),
                "conf_original": float(per["conf_original"][i]),
            }
        )
    return rows


def write_audit(result: dict, auditor: Auditor, out: Path, name: str) -> dict[str, Path]:
    """results/NAME/: audit.json, audit_examples.csv, audit.md, epsilon_hist.png, lira_auc_hist.png."""
    out = Path(out)
    rows = example_rows(result, auditor.groups, auditor.index, auditor.setup.data.train.labels)
    summary = {k: v for k, v in result.items() if k != "per_example"}
    table = [summary_row(result)] + [summary_row(ref) for ref in result["references"].values()]
    files = {
        "json": write_json(out / "audit.json", {"name": name, **summary, "table": table}),
        "examples": write_csv(out / "audit_examples.csv", rows),
        "epsilon_hist": epsilon_histogram(
            rows, out / "epsilon_hist.png", title=f"{name}: {result['method']}, N={auditor.n}", cap=auditor.cap
        ),
        "lira_hist": lira_histogram(rows, out / "lira_auc_hist.png", title=f"{name}: per-example U-LiRA AUC"),
    }
    files["md"] = write_text(out / "audit.md", audit_markdown(name, result, table, auditor))
    return files


def audit_markdown(name: str, result: dict, table: list[dict], auditor: Auditor) -> str:
    p = result["provenance"]
    return (
        f"# Audit {name}: {result['method']}\n\n{auditor.setup.split.summary()}; dataset {p['dataset']}, model {p['model']['name']} "
        f"(width {p['model'].get('width', 1)}); N = {auditor.n} unlearned (seeds 0..{auditor.n - 1}) vs N retrained models from {p['bank']}; "
        f"delta {auditor.delta:g}, epsilon cap {auditor.cap:g}, {auditor.estimator} estimator, {auditor.rounds} bootstrap rounds; "
        f"took {result['seconds']:.1f} s.\n\n"
        "`F`: mean bucketed per-example score (1 = no example distinguishable; bins of width 0.5, bin n scores 2/2^n); `final_score` = F x remain-acc "
        "ratio x test-acc ratio to the retrained models; `_95`: bootstrap 95% intervals over models; `eps_*`: per-example epsilon (forget set); "
        "`capped`: share of forget examples whose outputs separate perfectly; `F_worst10`: F of the 10% worst examples; `lira_*`: per-example "
        "Gaussian likelihood-ratio attack (AUC 0.5 = can't tell; `lira_tpr1`: pooled TPR at 1% FPR); `remain_*`: the same for a sample of remain examples.\n\n"
        + markdown_table(table, SUMMARY_COLUMNS, digits=3)
        + "\n\nSeed-level metrics (mean and 95% t-interval over the N models; `within_noise`: the Welch interval of the difference holds 0):\n\n"
        + markdown_table(metrics_rows(result), digits=4)
        + "\n"
    )


def _hist(series: dict[str, list[float]], path: Path, xlabel: str, title: str, bins) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    for label, values in series.items():
        if values:
            ax.hist(values, bins=bins, alpha=0.6, label=f"{label} ({len(values)})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("examples")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    out = atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return out


def epsilon_histogram(rows: list[dict], path: Path, *, title: str, cap: float) -> Path:
    series = {g: [r["epsilon"] for r in rows if r["group"] == g] for g in ("forget", "remain")}
    return _hist(series, path, f"per-example epsilon (capped at {cap:g})", title, np.linspace(0, cap, 41))


def lira_histogram(rows: list[dict], path: Path, *, title: str) -> Path:
    series = {g: [r["lira_auc"] for r in rows if r["group"] == g] for g in ("forget", "remain")}
    return _hist(
        series, path, "per-example likelihood-ratio AUC (0.5 = indistinguishable)", title, np.linspace(0, 1, 21)
    )
