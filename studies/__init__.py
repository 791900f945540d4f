"""Reproducible studies on Fashion-MNIST: each one a command (`python -m studies.NAME --help`) that trains or reuses
its models (cached by recipe, experiments/recipes.py), runs its experiments and writes its tables and figures.

Performance benchmarks (step rates, GPU checks) live in benchmarks/.
"""
