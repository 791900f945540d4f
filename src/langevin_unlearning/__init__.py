"""langevin-unlearning: make a trained image classifier forget chosen training data."""

__version__ = "0.1.0"
