"""Per-example audit statistics from two sets of models' confidences: pure numpy, no models, no files.

Inputs are (E, N) arrays: one row per audited example, one column per model; ``unlearned`` are N runs of an
unlearning method, ``retrained`` N models trained without the forget set. See docs/audit.md.

* ``lira``: a per-example Gaussian likelihood-ratio attack (U-LiRA style, Hayes et al. 2024). Each model's output
  is scored by log N(s; mu_u, sd_u) - log N(s; mu_r, sd_r), the Gaussians fitted per example on the *other*
  models (leave-one-out), so no model scores itself. Per example: the AUC of those scores (0.5 = the attack cannot
  tell the two sets apart) and the TPR at 1% FPR; pooled over examples: one AUC and one TPR at 1% FPR.
* ``audit_scores``: epsilon, bucketed score, LiRA per example, and their distribution (mean, median, worst decile).
* ``bootstrap``: intervals over models (columns resampled within each cross-fitting fold), centred on the estimate.
* ``t_interval`` / ``within_noise``: seed-level intervals for ordinary metrics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .epsilon import DELTA, EPS_CAP, bucket_score, forgetting_quality, per_example_epsilon

VAR_FLOOR = (
    1e-4  # smallest per-example variance in the Gaussian fits (logit units squared): N identical outputs stay finite
)
FPR_TARGET = 0.01


def _loo_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out mean and variance for each column of x (E, N): stats of the other N-1 columns."""
    n = x.shape[1]
    s, ss = x.sum(1, keepdims=True), (x * x).sum(1, keepdims=True)
    mean = (s - x) / (n - 1)
    var = (ss - x * x) / (n - 1) - mean**2
    return mean, np.maximum(var * (n - 1) / max(n - 2, 1), VAR_FLOOR)


def _log_normal(x, mean, var):
    return -0.5 * (np.log(2 * np.pi * var) + (x - mean) ** 2 / var)


def lira_scores(unlearned: np.ndarray, retrained: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out log likelihood ratios (unlearned vs retrained) for every model's output; larger = 'unlearned'."""
    u, r = np.asarray(unlearned, float), np.asarray(retrained, float)
    if u.shape[1] < 2 or r.shape[1] < 2:
        raise ValueError("the likelihood-ratio attack needs at least 2 models per side")
    mu_u, var_u = (
        u.mean(1, keepdims=True),
        np.maximum(u.var(1, ddof=1, keepdims=True) if u.shape[1] > 1 else 0, VAR_FLOOR),
    )
    mu_r, var_r = (
        r.mean(1, keepdims=True),
        np.maximum(r.var(1, ddof=1, keepdims=True) if r.shape[1] > 1 else 0, VAR_FLOOR),
    )
    lu_mean, lu_var = _loo_stats(u)
    lr_mean, lr_var = _loo_stats(r)
    score_u = _log_normal(u, lu_mean, lu_var) - _log_normal(u, mu_r, var_r)
    score_r = _log_normal(r, mu_u, var_u) - _log_normal(r, lr_mean, lr_var)
    return score_u, score_r


def auc_rows(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Per row: P(pos > neg) + P(pos = neg) / 2 (the ROC AUC)."""
    diff = pos[:, :, None] - neg[:, None, :]
    return (diff > 0).mean((1, 2)) + 0.5 * (diff == 0).mean((1, 2))


def tpr_at_fpr(pos: np.ndarray, neg: np.ndarray, fpr: float = FPR_TARGET) -> float:
    """Largest share of ``pos`` above a threshold that at most ``fpr`` of ``neg`` exceed (1-D arrays)."""
    pos, neg = np.sort(np.ravel(pos)), np.sort(np.ravel(neg))
    k = int(math.floor(fpr * len(neg)))  # negatives allowed at or above the threshold
    threshold = neg[len(neg) - k - 1] if k < len(neg) else -np.inf  # strictly above the (k+1)-th largest negative
    return float((pos > threshold).mean())


def lira(unlearned: np.ndarray, retrained: np.ndarray, fpr: float = FPR_TARGET) -> dict:
    su, sr = lira_scores(unlearned, retrained)
    per_tpr = np.array([tpr_at_fpr(a, b, fpr) for a, b in zip(su, sr)])
    return {
        "auc": auc_rows(su, sr),
        "tpr_at_fpr": per_tpr,
        "pooled_auc": float(auc_rows(su.reshape(1, -1), sr.reshape(1, -1))[0]),
        "pooled_tpr_at_fpr": tpr_at_fpr(su, sr, fpr),
    }


def distribution(values: np.ndarray, worst: str = "high") -> dict:
    """Mean, median, 90th/10th percentile and the mean of the worst decile (highest, or lowest with worst='low')."""
    v = np.sort(np.asarray(values, float))
    if v.size == 0:
        return {"mean": math.nan, "median": math.nan, "p90": math.nan, "worst_decile_mean": math.nan}
    k = max(1, int(math.ceil(0.1 * v.size)))
    tail = v[-k:] if worst == "high" else v[:k]
    return {
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "p10": float(np.quantile(v, 0.1)),
        "p90": float(np.quantile(v, 0.9)),
        "worst_decile_mean": float(tail.mean()),
    }


def audit_scores(
    unlearned: np.ndarray,
    retrained: np.ndarray,
    *,
    delta: float = DELTA,
    cap: float = EPS_CAP,
    estimator: str = "crossfit",
) -> dict:
    """Every per-example statistic (arrays under 'per_example') and their summaries."""
    eps = per_example_epsilon(unlearned, retrained, delta=delta, cap=cap, estimator=estimator)
    plugin = (
        eps
        if estimator == "plugin"
        else per_example_epsilon(unlearned, retrained, delta=delta, cap=cap, estimator="plugin")
    )
    h = bucket_score(eps["epsilon"])
    attack = lira(unlearned, retrained)
    worst = np.argsort(-eps["epsilon"], kind="stable")[: max(1, int(math.ceil(0.1 * len(h))))]
    return {
        "examples": int(len(h)),
        "F": forgetting_quality(eps["epsilon"]),
        "F_worst_decile": float(h[worst].mean()),
        "epsilon": distribution(eps["epsilon"]),
        "epsilon_single": distribution(eps["single"]),
        "epsilon_double": distribution(eps["double"]),
        "epsilon_plugin": distribution(plugin["epsilon"]),
        "share_capped": float((eps["epsilon"] >= cap).mean()),
        "lira_auc": distribution(attack["auc"]),
        "lira_tpr_at_1fpr": distribution(attack["tpr_at_fpr"]),
        "lira_pooled_auc": attack["pooled_auc"],
        "lira_pooled_tpr_at_1fpr": attack["pooled_tpr_at_fpr"],
        "per_example": {
            "epsilon": eps["epsilon"],
            "epsilon_single": eps["single"],
            "epsilon_double": eps["double"],
            "epsilon_plugin": plugin["epsilon"],
            "score": h,
            "lira_auc": attack["auc"],
            "lira_tpr_at_1fpr": attack["tpr_at_fpr"],
        },
    }


def fold_resample(n: int, rng: np.random.Generator) -> np.ndarray:
    """Column indices resampled with replacement within the even and the odd columns (the cross-fitting folds),
    interleaved again so that column k % 2 still names the fold."""
    folds = [np.arange(k, n, 2) for k in (0, 1)]
    draws = [rng.choice(f, size=len(f), replace=True) for f in folds]
    out = np.empty(n, dtype=int)
    out[0::2], out[1::2] = draws[0], draws[1]
    return out


def bootstrap(
    statistic: Callable[[np.ndarray, np.ndarray], dict],
    n_unlearned: int,
    n_retrained: int,
    *,
    rounds: int = 100,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """A 95% interval of each number ``statistic(u_columns, r_columns)`` returns, models resampled per fold.

    A resample repeats models, and a repeated model looks like less spread, so the per-example epsilons (and F) of
    a resample are biased: the percentiles alone can sit beside the estimate from all models (F at the upper end
    of its own interval). The interval therefore takes its width from the resamples and its centre from the
    estimate: the percentiles shifted by (estimate - median of the resamples). A statistic whose values are all
    shares in [0, 1] keeps its interval there."""
    rng = np.random.default_rng(seed)
    point = statistic(np.arange(n_unlearned), np.arange(n_retrained))
    draws: dict[str, list[float]] = {}
    for _ in range(rounds):
        for k, v in statistic(fold_resample(n_unlearned, rng), fold_resample(n_retrained, rng)).items():
            draws.setdefault(k, []).append(v)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    out = {}
    for k, v in draws.items():
        v = np.asarray(v, float)
        shift = point[k] - np.nanmedian(v)
        a, b = float(np.nanquantile(v, lo) + shift), float(np.nanquantile(v, hi) + shift)
        if np.nanmin([*v, point[k]]) >= 0 and np.nanmax([*v, point[k]]) <= 1:
            a, b = max(a, 0.0), min(b, 1.0)
        out[k] = [a, b]
    return out


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval for the mean of ``values`` (NaN bounds with one value)."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], float)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size < 2:
        return mean, math.nan, math.nan
    from scipy.stats import t

    half = float(t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, mean - half, mean + half


def difference_interval(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Welch interval for mean(a) - mean(b); with one value in b, the t-interval of a shifted by it."""
    a = np.asarray([x for x in a if not math.isnan(x)], float)
    b = np.asarray([x for x in b if not math.isnan(x)], float)
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan, math.nan
    if b.size == 1:
        mean, lo, hi = t_interval(a, level)
        return mean - b[0], lo - b[0], hi - b[0]
    if a.size == 1:
        mean, lo, hi = t_interval(b, level)
        return a[0] - mean, a[0] - hi, a[0] - lo
    from scipy.stats import t

    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = float(a.mean() - b.mean())
    if va + vb == 0:
        return diff, diff, diff
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(t.ppf(0.5 + level / 2, dof) * math.sqrt(va + vb))
    return diff, diff - half, diff + half


def within_noise(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> bool | None:
    """Whether the 95% interval of mean(a) - mean(b) contains 0 (None: too few values to tell)."""
    diff, lo, hi = difference_interval(a, b, level)
    if math.isnan(lo):
        return None
    return bool(lo <= 0 <= hi)
