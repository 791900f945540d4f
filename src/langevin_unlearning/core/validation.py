"""The rules every number must meet where it enters: CLI flags, training configs and method settings.

One table (``RULES``) says what makes each named setting valid. The CLI checks every parsed flag against
it before any work (the message names the flag as typed, e.g. ``--batch_size`` for main.py); the training
config and every method's settings check their fields against the same table (the message names the
setting, e.g. ``lr``). On top of the table, every float anywhere must be finite: NaN and infinity are
refused for all settings, whatever their name. Questionable but usable values warn (``warn``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from typing import Any, Callable, Iterable, Mapping

from .errors import UserError

SEED_LIMIT = 2**32  # numpy's seeds are 32-bit; torch's and python's accept these too
MIN_IMAGE_SIZE = 8  # below this the models' pooling stages leave nothing
MAX_CLASSES = 100_000  # labels beyond this are taken as corrupt data, before anything is sized by them


class InputWarning(UserWarning):
    """Questionable input that still runs (printed as one ``warning:`` line by the CLI)."""


def warn(message: str) -> None:
    warnings.warn(InputWarning(message), stacklevel=2)


def _finite(v) -> bool:
    return not isinstance(v, float) or math.isfinite(v)


def _int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


# name -> (ok(value), what it must be). A value of None means "not given" and is never checked.
Rule = tuple[Callable[[Any], bool], str]
RULES: dict[str, Rule] = {
    "lr": (lambda v: v > 0 and _finite(v), "must be a positive number"),
    "momentum": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
    "weight_decay": (lambda v: v >= 0 and _finite(v), "must be a number >= 0"),
    "epochs": (lambda v: v >= 1, "must be at least 1"),
    "min_steps": (lambda v: v >= 0, "must be >= 0"),
    "batch_size": (lambda v: v >= 1, "must be at least 1"),
    "width": (lambda v: v > 0 and _finite(v), "must be a positive number"),
    "image_size": (lambda v: _int(v) and v >= MIN_IMAGE_SIZE, f"must be an integer >= {MIN_IMAGE_SIZE}"),
    "seed": (lambda v: _int(v) and 0 <= v < SEED_LIMIT, f"must be an integer in [0, 2**32) (0 .. {SEED_LIMIT - 1})"),
    "gamma": (lambda v: v >= 0 and _finite(v), "must be a number >= 0"),
    "lamda": (lambda v: v >= 0 and _finite(v), "must be a number >= 0"),
    "phi": (lambda v: v >= 0 and _finite(v), "must be a number >= 0"),
    "eps": (lambda v: v > 0 and _finite(v), "must be a positive number"),
    "steps": (lambda v: v >= 1, "must be at least 1"),
}

# flags that only the command line has (their dest names), checked the same way
CLI_RULES: dict[str, Rule] = {
    **RULES,
    "alpha": (lambda v: v > 0 and _finite(v), "must be a positive number"),
    "top_k": (lambda v: v >= 1, "must be at least 1"),
    "seeds": (lambda v: 1 <= v <= 10_000, "must be between 1 and 10000"),
    "remain_reg": RULES["phi"],  # main.py's name for phi
    "epoch": RULES["epochs"],  # main.py
    "unlearn_steps": RULES["steps"],  # main.py
    "forget_class": (lambda v: v >= 0, "must be >= 0"),  # main.py
}


def problem(name: str, value: Any, rules: Mapping[str, Rule] = RULES) -> str | None:
    """What is wrong with ``value`` for the setting ``name`` ("must be ..."), or None when it is fine."""
    if value is None or isinstance(value, (str, bool)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    rule = rules.get(name)
    if rule is None:
        return None
    ok, must = rule
    try:
        good = bool(ok(value))
    except TypeError:
        good = False
    return None if good else must


def check(name: str, value: Any, *, label: str | None = None, rules: Mapping[str, Rule] = RULES) -> None:
    """Raise ``UserError("<label> must be ..., got <value>")`` when ``value`` breaks the rule for ``name``."""
    must = problem(name, value, rules)
    if must is not None:
        raise UserError(f"{label or name} {must}, got {value}")


def field_checks(settings: Any) -> list[tuple[bool, str]]:
    """(ok, message) for every field of a settings dataclass: finite floats, and the rules for known names."""
    out = []
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        must = problem(f.name, value)
        out.append((must is None, f"{f.name} {must}, got {value}"))
    return out


def check_fields(settings: Any) -> None:
    """Raise for the first field of a settings dataclass that breaks a rule; warn for questionable ones."""
    for ok, message in field_checks(settings):
        if not ok:
            raise UserError(message)
    eps = getattr(settings, "eps", None)
    if isinstance(eps, (int, float)) and eps > 1:
        warn(f"eps {eps} is outside (0, 1]: images are in [0, 1], so the search is not limited at all")


def check_seed_range(first: int, count: int, label: str = "seed") -> None:
    """``first .. first + count - 1`` must all be valid seeds (compare --seed S --seeds N)."""
    check("seed", first, label=label)
    if first + count - 1 >= SEED_LIMIT:
        raise UserError(f"{label} {first} plus {count} seeds goes past {SEED_LIMIT - 1}; use a smaller {label}")


def capped_batch(batch_size: int, n: int, label: str = "batch_size") -> int:
    """``batch_size`` capped to the set size ``n`` (with a warning when it was larger)."""
    if n > 0 and batch_size > n:
        warn(f"{label} {batch_size} is larger than the set ({n} images); using {n}")
        return n
    return batch_size


def check_args(args: Any, flags: Mapping[str, str]) -> None:
    """Check every parsed CLI value whose dest has a rule; ``flags`` maps dest -> the flag as typed."""
    for dest, value in sorted(vars(args).items()):
        check(dest, value, label=flags.get(dest, dest), rules=CLI_RULES)
        if dest == "eps" and isinstance(value, float) and value > 1:
            warn(f"{flags.get(dest, dest)} {value} is outside (0, 1]: images are in [0, 1], so the search is not limited at all")


def flag_names(parser) -> dict[str, str]:
    """dest -> the long option string, for every optional argument of an argparse parser (and its sub-parsers)."""
    names: dict[str, str] = {}
    for action in _actions(parser):
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs:
            names.setdefault(action.dest, longs[0])
    return names


def _actions(parser) -> Iterable:
    yield from parser._actions
