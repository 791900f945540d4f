"""Sweeps and executors: many (settings, seed) runs from one original/retrained pair, stored as they finish."""
