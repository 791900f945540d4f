"""Per-example epsilon of the NeurIPS 2023 unlearning challenge, estimated from N unlearned and N retrained models.

For one forget example, each model gives one number, its logit-scaled confidence on the true label
``s = log p_y - log(1 - p_y)``. An attacker sees one such number and guesses "unlearned" or "retrained".
Every threshold rule has a false positive rate (retrained models called unlearned) and a false negative rate
(unlearned models called retrained), and by the definition of (epsilon, delta)-unlearning

    epsilon >= max( log((1 - delta - FPR) / FNR),  log((1 - delta - FNR) / FPR) ).

The estimate for the example is the largest such bound over all rules of two families:

* single threshold: "unlearned iff s >= t" and "unlearned iff s < t", for every cut t between the pooled 2N values;
* double threshold: "unlearned iff t1 <= s < t2" and its complement, for every pair of cuts (a superset of the above).

With N models per side the rates are multiples of 1/N. A term whose denominator is an empirical zero rate would
be infinite from a finite sample; it is skipped (the neighbouring cut, one model into the other side, gives a
finite bound instead). A rule with *both* rates zero separates the 2N outputs perfectly: epsilon = ``cap``.
Estimates are clipped to [0, cap].

The challenge then turns each epsilon into a score: bins of width 0.5 (``[0, 0.5)`` is bin 1, ``[0.5, 1)`` bin 2,
...), an example in bin n scores ``H = 2 / 2**n`` (1, 1/2, 1/4, ...), and the forgetting quality F is the mean of H
over the forget set. See docs/audit.md for sources and caveats.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

DELTA = 1e-5
EPS_CAP = 10.0
BIN_WIDTH = 0.5


def _bounds(tp: np.ndarray, fp: np.ndarray, n_pos: int, n_neg: int, delta: float, cap: float) -> np.ndarray:
    """Epsilon bound of each rule given its true/false positive counts (arrays of the same shape); -inf = no bound."""
    fpr, fnr = fp / n_neg, (n_pos - tp) / n_pos
    fp_zero, fn_zero = fp == 0, tp == n_pos
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(
            ~fn_zero & (1 - delta - fpr > 0),
            np.log(np.maximum(1 - delta - fpr, 1e-300)) - np.log(np.where(fn_zero, 1.0, fnr)),
            -np.inf,
        )
        b = np.where(
            ~fp_zero & (1 - delta - fnr > 0),
            np.log(np.maximum(1 - delta - fnr, 1e-300)) - np.log(np.where(fp_zero, 1.0, fpr)),
            -np.inf,
        )
    out = np.maximum(a, b)
    return np.where(fp_zero & fn_zero, cap, out)


def per_example_epsilon(
    unlearned: np.ndarray,
    retrained: np.ndarray,
    *,
    delta: float = DELTA,
    cap: float = EPS_CAP,
    estimator: str = "crossfit",
    chunk: int = 256,
) -> dict[str, np.ndarray]:
    """Epsilon per example (rows) from ``unlearned`` (E, Nu) and ``retrained`` (E, Nr) confidences.

    ``estimator="plugin"``: the largest bound over all rules, rates measured on the same models that chose the
    rule (the formula applied literally; biased upward: with identical distributions it still finds ratios of
    small counts in the tails). ``"crossfit"`` (default): models are split into two folds per side (even and odd
    columns); the best rule of each family is chosen on one fold and its rates measured on the other, both ways,
    and the two held-out bounds averaged. Identical distributions then give about 0 and separated ones ``cap``.

    Returns ``{"single": (E,), "double": (E,), "epsilon": (E,)}``; ``epsilon`` is the max over both rule families.
    """
    u, r = np.asarray(unlearned, dtype=np.float64), np.asarray(retrained, dtype=np.float64)
    if u.ndim != 2 or r.ndim != 2 or len(u) != len(r):
        raise ValueError(f"expected (E, Nu) and (E, Nr) arrays with the same E, got {u.shape} and {r.shape}")
    if estimator not in ("crossfit", "plugin"):
        raise ValueError(f"unknown estimator {estimator!r}; use crossfit or plugin")
    need = 2 if estimator == "crossfit" else 1
    if u.shape[1] < need or r.shape[1] < need:
        raise ValueError(
            f"the {estimator} estimator needs at least {need} models per side, got {u.shape[1]} and {r.shape[1]}"
        )
    single, double = np.empty(len(u)), np.empty(len(u))
    for start in range(0, len(u), chunk):
        sl = slice(start, start + chunk)
        if estimator == "plugin":
            best = _best_rules(u[sl], r[sl], delta, cap)
            single[sl], double[sl] = best["single"][0], best["double"][0]
        else:
            folds = [(u[sl, k::2], r[sl, k::2]) for k in (0, 1)]
            held = [_crossfit(*folds[k], *folds[1 - k], delta, cap) for k in (0, 1)]
            single[sl] = (held[0]["single"] + held[1]["single"]) / 2
            double[sl] = (held[0]["double"] + held[1]["double"]) / 2
    return {"single": single, "double": double, "epsilon": np.maximum(single, double)}


def _best_rules(u: np.ndarray, r: np.ndarray, delta: float, cap: float) -> dict[str, tuple]:
    """Per example and rule family: (best bound clipped to [0, cap], lower threshold, upper threshold, inside?).

    A rule calls a model "unlearned" iff ``lo <= s < hi`` (inside) or iff not (outside); the thresholds are the
    midpoints between neighbouring pooled values (or -inf / inf at the ends).
    """
    e, nu, nr = len(u), u.shape[1], r.shape[1]
    m = nu + nr
    values = np.concatenate([u, r], 1)
    order = np.argsort(values, axis=1, kind="stable")
    sv = np.take_along_axis(values, order, 1)
    is_u = np.take_along_axis(np.broadcast_to(np.r_[np.ones(nu), np.zeros(nr)], (e, m)), order, 1)
    cu = np.concatenate([np.zeros((e, 1)), np.cumsum(is_u, 1)], 1)  # unlearned among the k smallest, k = 0..M
    cr = np.arange(m + 1)[None] - cu
    cut = np.ones(
        (e, m + 1), dtype=bool
    )  # a cut at k lies between the (k-1)-th and k-th value: only between distinct values
    cut[:, 1:m] = sv[:, 1:] > sv[:, :-1]
    thresholds = np.concatenate([np.full((e, 1), -np.inf), (sv[:, 1:] + sv[:, :-1]) / 2, np.full((e, 1), np.inf)], 1)
    in_u = cu[:, None, :] - cu[:, :, None]  # (E, i, j): counts inside [i, j)
    in_r = cr[:, None, :] - cr[:, :, None]
    valid = cut[:, :, None] & cut[:, None, :] & np.triu(np.ones((m + 1, m + 1), dtype=bool), 1)[None]
    inside = np.where(valid, _bounds(in_u, in_r, nu, nr, delta, cap), -np.inf)
    outside = np.where(valid, _bounds(nu - in_u, nr - in_r, nu, nr, delta, cap), -np.inf)
    anchored = np.zeros((m + 1, m + 1), dtype=bool)
    anchored[0, :] = anchored[:, m] = True  # intervals touching an end: exactly the single-threshold rules
    out = {}
    for family, mask in (("single", anchored), ("double", np.ones_like(anchored))):
        both = np.stack([np.where(mask, inside, -np.inf), np.where(mask, outside, -np.inf)], 1).reshape(e, -1)
        k = both.argmax(1)
        side, ij = np.divmod(k, (m + 1) ** 2)
        i, j = np.divmod(ij, m + 1)
        rows = np.arange(e)
        out[family] = (np.clip(both[rows, k], 0, cap), thresholds[rows, i], thresholds[rows, j], side == 0)
    return out


def _crossfit(
    u_fit: np.ndarray, r_fit: np.ndarray, u_test: np.ndarray, r_test: np.ndarray, delta: float, cap: float
) -> dict[str, np.ndarray]:
    """Choose each family's best rule on the fit models; return its bound measured on the test models."""
    out = {}
    for family, (_, lo, hi, inside) in _best_rules(u_fit, r_fit, delta, cap).items():

        def positive(x):
            hit = (x >= lo[:, None]) & (x < hi[:, None])
            return np.where(inside[:, None], hit, ~hit)

        tp, fp = positive(u_test).sum(1), positive(r_test).sum(1)
        out[family] = np.clip(_bounds(tp, fp, u_test.shape[1], r_test.shape[1], delta, cap), 0, cap)
    return out


def bucket_score(epsilon: np.ndarray, width: float = BIN_WIDTH) -> np.ndarray:
    """The challenge's per-example score: bin n = floor(eps / width) + 1 scores 2 / 2**n (1, 1/2, 1/4, ...)."""
    n = np.floor(np.asarray(epsilon, dtype=np.float64) / width) + 1
    return 2.0 / np.power(2.0, n)


def forgetting_quality(epsilon: np.ndarray, width: float = BIN_WIDTH) -> float:
    """F: the mean bucketed score over the examples (1 = every example indistinguishable, toward 0 = all exposed)."""
    eps = np.asarray(epsilon)
    return float(bucket_score(eps, width).mean()) if eps.size else float("nan")


def final_score(
    f: float, remain_acc: float, retrain_remain_acc: float, test_acc: float, retrain_test_acc: float
) -> float:
    """The challenge's final score: F x (remain accuracy / retrained's) x (test accuracy / retrained's)."""
    return f * (remain_acc / retrain_remain_acc) * (test_acc / retrain_test_acc)


def as_numpy(t: Tensor | np.ndarray) -> np.ndarray:
    return t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float64)
