"""Unlearning methods behind one interface (``UnlearningMethod``), registered by name."""

from . import langevin  # noqa: F401  (registers methods)
from .base import METHODS, UnlearningMethod, create_method, register_method

__all__ = ["METHODS", "UnlearningMethod", "create_method", "register_method"]
