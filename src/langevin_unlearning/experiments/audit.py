"""Per-example audit of an unlearning method against a bank of retrained models: the API behind `audit`.

    auditor = Auditor("runs/original-bank-class_3", n=8)        # loads the bank's first 8 models, scores them once
    result = auditor.audit("langevin", {"gamma": 1e-4})        # 8 unlearning runs (seeds 0..7), every statistic
    report.audit.write_audit(result, auditor, Path("results/my-audit"), "my-audit")   # audit.json, .csv, .md, PNGs

Audited examples: every forget image (``group=forget``) and a seeded sample of remain images (``group=remain``:
unlearning can expose them too). The statistics live in evaluation/epsilon.py and evaluation/audit.py.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core.digest import index_digest
from ..core.errors import UserError
from ..core.version import __version__
from ..engine.predict import logit_confidence, predict_logits
from ..evaluation.audit import audit_scores, bootstrap, difference_interval, t_interval, within_noise
from ..evaluation.closeness import SALUN_INPUTS, avg_gap
from ..evaluation.epsilon import (
    BIN_WIDTH,
    DELTA,
    EPS_CAP,
    final_score,
    forgetting_quality,
    per_example_epsilon,
)
from ..evaluation.metrics import evaluate
from ..methods import create_method
from ..store.checkpoint import load_checkpoint
from .bank import read_bank
from .setup import Setup, load_setup, timed_unlearn

METRICS = ("forget_acc", "remain_acc", "test_acc", "train_forget_acc", "train_remain_acc", "mia", "mia_efficacy")
EVAL_SEED = 0  # every model is evaluated on the same samples, so differences come from the models


@dataclass
class Outputs:
    """What the audit needs from a set of models: confidences on the audited examples and ordinary metrics."""

    conf: np.ndarray  # (models, examples)
    metrics: list[dict] = field(default_factory=list)  # evaluate() per model
    seeds: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def select(self, columns: np.ndarray) -> Outputs:
        return Outputs(self.conf[columns], [self.metrics[i] for i in columns], [self.seeds[i] for i in columns])

    def mean(self, key: str) -> float:
        return float(np.mean([m[key] for m in self.metrics]))


class Auditor:
    def __init__(
        self,
        bank: str | Path,
        n: int,
        *,
        device=torch.device("cpu"),
        data_dir: Path | None = None,
        remain_sample: int = 200,
        delta: float = DELTA,
        cap: float = EPS_CAP,
        estimator: str = "crossfit",
        bootstrap_rounds: int = 100,
        bootstrap_examples: int = 1000,
        seed: int = 0,
        progress: bool = True,
        n_flag: str = "--n",
    ):
        """``n_flag``: the flag that set ``n`` where the caller has its own (``sweep --audit-n``), so that a bad
        value is named as the user typed it."""
        self.info = read_bank(bank)
        if n < 4:
            raise UserError(
                f"{n_flag} must be at least 4 (models per side; the cross-fitted estimate needs 2 per fold), got {n}"
            )
        if len(self.info["seeds"]) < n:
            raise UserError(
                f"{bank} holds {len(self.info['seeds'])} retrained models but {n_flag} {n} needs {n}; run `langevin-unlearn bank --original "
                f"{self.info['original']} --forget {self.info['forget']} --n {n} --out {bank}`"
            )
        if not (0 < delta < 1) or not cap > 0 or remain_sample < 0 or bootstrap_rounds < 0:
            raise UserError("--delta must be in (0, 1), --cap positive, --remain-sample and --bootstrap at least 0")
        self.n, self.delta, self.cap, self.estimator, self.progress = n, delta, cap, estimator, progress
        self.rounds, self.boot_examples, self.seed = bootstrap_rounds, bootstrap_examples, seed
        self.setup: Setup = load_setup(
            self.info["original"],
            self.info["forget"],
            retrain=self.info["members"][0],
            data_dir=data_dir,
            device=device,
        )
        split = self.setup.split
        g = torch.Generator().manual_seed(seed)
        remain = split.train_remain[torch.randperm(len(split.train_remain), generator=g)[:remain_sample]].sort().values
        self.index = torch.cat([split.train_forget, remain])
        self.groups = np.array(["forget"] * len(split.train_forget) + ["remain"] * len(remain))
        self.retrained = self._models(
            [load_checkpoint(p, device=device)[0] for p in self.info["members"][:n]], self.info["seeds"][:n]
        )
        self.member_hashes = [load_checkpoint(p)[1].weights_sha256 for p in self.info["members"][:n]]
        extra = self.info["members"][n : 2 * n]
        self.floor = (
            self._models([load_checkpoint(p, device=device)[0] for p in extra], self.info["seeds"][n : 2 * n])
            if len(extra) == n
            else None
        )
        original = self._models([self.setup.original], [None])
        self.original = Outputs(np.repeat(original.conf, n, 0), original.metrics * n, [None] * n)
        self._refs: dict | None = None  # scored once, on first use

    def _models(self, models, seeds, seconds=None, extra=None) -> Outputs:
        confs, metrics = [], []
        data, split, device = self.setup.data, self.setup.split, self.setup.device
        for model in models:
            logits = predict_logits(model, data.train.images, self.index, device)
            confs.append(logit_confidence(logits, data.train.labels[self.index]).numpy())
            metrics.append(
                {k: v for k, v in evaluate(model, data, split, device=device, seed=EVAL_SEED).items() if k in METRICS}
                | (extra(model) if extra else {})
            )
        return Outputs(np.stack(confs), metrics, list(seeds), list(seconds or []))

    def run_method(self, method: str, settings: dict, *, extra=None) -> Outputs:
        """The method from the original model with seeds 0..n-1. ``extra(model) -> dict``: more numbers per
        unlearned model, kept in its metrics (the models themselves are dropped once scored)."""
        from tqdm.auto import tqdm

        create_method(method, **settings)  # bad settings: one line before any work
        models, seconds = [], []
        for s in tqdm(range(self.n), desc=f"{method} x{self.n}", disable=not self.progress, dynamic_ncols=True):
            model, took = timed_unlearn(self.setup, create_method(method, **settings), seed=s)
            models.append(model)
            seconds.append(took)
        return self._models(models, list(range(self.n)), seconds, extra)

    def audit(self, method: str, settings: dict | None = None) -> dict:
        settings = dict(settings or {})
        start = time.perf_counter()
        unlearned = self.run_method(method, settings)
        result = self.score(unlearned, self.retrained, label=method)
        result.update(
            method=method,
            settings=create_method(method, **settings).describe(),
            unlearn_seconds=unlearned.seconds,
            seconds=time.perf_counter() - start,
        )
        result["references"] = self.references()
        result["provenance"] = self.provenance()
        return result

    def references(self) -> dict:
        """The same statistics for no unlearning at all (the original, N times) and, when the bank holds 2N models,
        for N retrained models against the N others: the noise floor a perfect method would reach."""
        if self._refs is None:
            self._refs = {
                "original": self.score(
                    self.original, self.retrained, label="original (no unlearning)", keep_examples=False
                )
            }
            if self.floor is not None:
                self._refs["retrain_vs_retrain"] = self.score(
                    self.floor, self.retrained, label="retrained vs disjoint retrained", keep_examples=False
                )
        return self._refs

    def score(self, unlearned: Outputs, retrained: Outputs, *, label: str, keep_examples: bool = True) -> dict:
        forget = self.groups == "forget"
        out: dict = {
            "label": label,
            "n_unlearned": len(unlearned.conf),
            "n_retrained": len(retrained.conf),
            "seeds_unlearned": unlearned.seeds,
            "seeds_retrained": retrained.seeds,
        }
        groups = {}
        for group, mask in (("forget", forget), ("remain", ~forget)):
            if mask.any():
                groups[group] = audit_scores(
                    unlearned.conf[:, mask].T,
                    retrained.conf[:, mask].T,
                    delta=self.delta,
                    cap=self.cap,
                    estimator=self.estimator,
                )
        ratios = {k: unlearned.mean(k) / retrained.mean(k) for k in ("train_remain_acc", "test_acc")}
        f = groups["forget"]["F"]
        out["final_score"] = final_score(
            f,
            unlearned.mean("train_remain_acc"),
            retrained.mean("train_remain_acc"),
            unlearned.mean("test_acc"),
            retrained.mean("test_acc"),
        )
        out["remain_acc_ratio"], out["test_acc_ratio"] = ratios["train_remain_acc"], ratios["test_acc"]
        # the closeness score compare, sweep and study rank by, from the models' mean metrics
        out["avg_gap"] = avg_gap(
            {k: unlearned.mean(k) for k in SALUN_INPUTS}, {k: retrained.mean(k) for k in SALUN_INPUTS}
        )
        # the forget images' mean logit-scaled confidence in their true class, for each side: where the two sit
        out["forget_conf"] = float(unlearned.conf[:, forget].mean())
        out["forget_conf_retrained"] = float(retrained.conf[:, forget].mean())
        out["intervals"] = self._bootstrap(unlearned, retrained, forget)
        out["metrics"] = metric_intervals(unlearned.metrics, retrained.metrics)
        for group, scores in groups.items():
            per = scores.pop("per_example")
            out[group] = scores
            if keep_examples:
                out.setdefault("per_example", {})[group] = per
        if keep_examples:
            out["per_example"]["conf_unlearned_mean"] = unlearned.conf.mean(0)
            out["per_example"]["conf_retrained_mean"] = retrained.conf.mean(0)
            out["per_example"]["conf_original"] = self.original.conf[0]
        return out

    def _bootstrap(self, unlearned: Outputs, retrained: Outputs, forget: np.ndarray) -> dict:
        """95% intervals over models (resampled within the cross-fitting folds, ``evaluation.audit.bootstrap``); forget examples
        subsampled to at most ``bootstrap_examples`` to keep this cheap."""
        if self.rounds == 0:
            return {}
        rng = np.random.default_rng(self.seed)
        cols = np.flatnonzero(forget)
        cols = np.sort(rng.choice(cols, size=min(len(cols), self.boot_examples), replace=False))
        remain_cols = np.flatnonzero(~forget)

        def statistic(ui, ri):
            u, r = unlearned.select(ui), retrained.select(ri)
            eps = per_example_epsilon(
                u.conf[:, cols].T, r.conf[:, cols].T, delta=self.delta, cap=self.cap, estimator=self.estimator
            )["epsilon"]
            f = forgetting_quality(eps)
            stats = {
                "F": f,
                "median_epsilon": float(np.median(eps)),
                "share_capped": float((eps >= self.cap).mean()),
                "final_score": final_score(
                    f, u.mean("train_remain_acc"), r.mean("train_remain_acc"), u.mean("test_acc"), r.mean("test_acc")
                ),
            }
            if len(remain_cols):
                stats["remain_F"] = forgetting_quality(
                    per_example_epsilon(
                        u.conf[:, remain_cols].T,
                        r.conf[:, remain_cols].T,
                        delta=self.delta,
                        cap=self.cap,
                        estimator=self.estimator,
                    )["epsilon"]
                )
            return stats

        return bootstrap(statistic, len(unlearned.conf), len(retrained.conf), rounds=self.rounds, seed=self.seed)

    def provenance(self) -> dict:
        s = self.setup
        return {
            "bank": self.info["path"],
            "original": self.info["original"],
            "original_weights_sha256": s.original_meta.weights_sha256,
            "retrained_weights_sha256": self.member_hashes,
            "forget": s.split.spec,
            "forget_seed": s.split_seed,
            "forget_indices_sha256": index_digest(s.split.train_forget),
            "audited_indices_sha256": index_digest(self.index),
            "dataset": s.original_meta.dataset,
            "model": s.original_meta.model,
            "recipe": self.info.get("recipe"),
            "device": str(s.device),
            "versions": {
                "langevin_unlearning": __version__,
                "torch": torch.__version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
            "settings": {
                "n": self.n,
                "delta": self.delta,
                "cap": self.cap,
                "estimator": self.estimator,
                "bin_width": BIN_WIDTH,
                "bootstrap_rounds": self.rounds,
                "bootstrap_examples": self.boot_examples,
                "seed": self.seed,
                "remain_examples": int((self.groups == "remain").sum()),
                "forget_examples": int((self.groups == "forget").sum()),
                "eval_seed": EVAL_SEED,
            },
        }


def metric_intervals(unlearned: list[dict], retrained: list[dict]) -> dict:
    """Per metric: mean and 95% t-interval over the unlearned seeds and over the retrained ones, the Welch
    interval of the difference, and whether the difference lies within seed noise (the interval holds 0)."""
    out = {}
    for k in METRICS:
        a, b = [m[k] for m in unlearned], [m[k] for m in retrained]
        ua, ra, d = t_interval(a), t_interval(b), difference_interval(a, b)
        out[k] = {
            "unlearned": list(ua),
            "retrained": list(ra),
            "difference": list(d),
            "within_noise": within_noise(a, b),
        }
    return out
