"""Unlearning methods behind one interface (``UnlearningMethod``), registered by name."""

# importing a module registers its methods; the order here is the order of `compare --methods all`
from . import langevin  # noqa: F401  (langevin, boundary-shrink)
from . import finetune  # noqa: F401  (retrain, finetune, l1-sparse, cf-k, eu-k)
from . import neggrad, random_label  # noqa: F401  (neggrad, neggrad+, random-label)
from . import boundary_expanding, salun, scrub  # noqa: F401
from .base import METHODS, UnlearningMethod, create_method, register_method

__all__ = ["METHODS", "UnlearningMethod", "create_method", "register_method"]
