"""Evaluation: accuracies, membership inference, per-example audit statistics, closeness to the retrained model."""

from .metrics import METRIC_COLUMNS, evaluate, js_divergence
from .mia import attack_accuracy, balanced_members

__all__ = ["METRIC_COLUMNS", "attack_accuracy", "balanced_members", "evaluate", "js_divergence"]
