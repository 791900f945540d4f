"""Workflows built from the layers below: train runs, unlearn-and-evaluate, compare, sweeps, compose, bank, audit."""

from .recipes import Recipe, cached_run, train_cached
from .setup import Setup, load_setup, reference_rows, unlearn_and_evaluate
from .training import train_run

__all__ = [
    "Recipe",
    "cached_run",
    "Setup",
    "load_setup",
    "reference_rows",
    "train_cached",
    "train_run",
    "unlearn_and_evaluate",
]
