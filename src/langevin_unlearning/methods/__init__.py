"""Unlearning methods behind one interface (``UnlearningMethod``), registered by name."""

# importing a module registers its methods; the order here is the order of `compare --methods all`
from . import (  # noqa: F401  (neggrad, neggrad+, random-label)  # noqa: F401
    boundary_expanding,
    finetune,  # noqa: F401  (retrain, finetune, l1-sparse, cf-k, eu-k)
    langevin,  # noqa: F401  (langevin, boundary-shrink)
    neggrad,
    random_label,
    salun,
    scrub,
)
from .base import METHODS, UnlearningMethod, create_method, identity_settings, register_method

__all__ = ["METHODS", "UnlearningMethod", "create_method", "identity_settings", "register_method"]
