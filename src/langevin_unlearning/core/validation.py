"""The rules every number must meet where it enters: CLI flags, training configs and method settings.

A ``Rule`` says what makes one value valid and how to say so in one line ("lr must be a positive
number, got 0"). Rules are built by small constructors (``positive()``, ``at_least(1)``,
``in_range(0, 1)``, ``one_of(choices, kind)``, ``optional(rule)``, ...).

Every settings dataclass (training config, each method's settings) derives from ``Validated``: it
declares one table ``RULES`` (field name -> Rule) and, where fields must agree, a list ``CHECKS`` of
cross-field checks (``requires``) and warnings (``warns_if``); ``validate`` runs them all when the
dataclass is built, so a bad value never gets past construction. On top of the tables, every float
anywhere must be finite: NaN and infinity are refused for all settings, whatever their name.

The rules shared by name live in ``RULES`` below: settings tables take theirs from it (``named``), and
the CLI checks every parsed flag whose dest has a rule in ``CLI_RULES`` (the same rule objects, plus
flag-only names) before any work, naming the flag as typed (e.g. ``--batch_size`` for main.py).
Questionable but usable values warn (``warn``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .errors import UserError

SEED_LIMIT = 2**32  # numpy's seeds are 32-bit; torch's and python's accept these too
MIN_IMAGE_SIZE = 8  # below this the models' pooling stages leave nothing
MAX_CLASSES = 100_000  # labels beyond this are taken as corrupt data, before anything is sized by them


class InputWarning(UserWarning):
    """Questionable input that still runs (printed as one ``warning:`` line by the CLI)."""


def warn(message: str) -> None:
    warnings.warn(InputWarning(message), stacklevel=2)


def _int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


# ---------------------------------------------------------------- one value


@dataclass(frozen=True)
class Rule:
    """What makes one value valid (``ok``) and the one-line message when it is not (``explain(label, value)``)."""

    ok: Callable[[Any], bool]
    explain: Callable[[str, Any], str]
    label: str | None = None  # how messages name the setting, where not by its field name (e.g. a CLI flag)

    def problem(self, name: str, value: Any) -> str | None:
        """The message for ``value`` of the setting ``name``, or None when it is fine."""
        label = self.label or name
        if isinstance(value, float) and not math.isfinite(value):
            return _not_finite(label, value)
        try:
            good = bool(self.ok(value))
        except TypeError:  # e.g. a string where a number belongs
            good = False
        return None if good else self.explain(label, value)

    def named(self, label: str) -> Rule:
        """The same rule, its messages naming ``label`` (e.g. the flag a setting comes from)."""
        return dataclasses.replace(self, label=label)


def _not_finite(label: str, value: Any) -> str:
    return f"{label} must be a finite number, got {value}"


def rule(ok: Callable[[Any], bool], must: str) -> Rule:
    """A rule whose message reads "NAME <must>, got VALUE" (``must`` e.g. "must be at least 1")."""
    return Rule(ok, lambda label, value: f"{label} {must}, got {value}")


def finite() -> Rule:
    """Any finite number (what every float must be anyway; declares a setting with no other bound)."""
    return rule(lambda v: isinstance(v, numbers.Real) and math.isfinite(v), "must be a finite number")


def positive() -> Rule:
    return rule(lambda v: v > 0, "must be a positive number")


def non_negative() -> Rule:
    return rule(lambda v: v >= 0, "must be a number >= 0")


def at_least(n: int) -> Rule:
    # counts: "at least 0" reads oddly, so zero is said as ">= 0"
    return rule(lambda v: v >= n, f"must be at least {n}" if n else "must be >= 0")


def in_range(lo: float, hi: float, *, closed: str = "left") -> Rule:
    """``lo .. hi``; ``closed`` says which ends belong: "left" ([lo, hi)), "right", "both" or "neither"."""
    left, right = closed in ("left", "both"), closed in ("right", "both")

    def ok(v) -> bool:
        return (lo <= v if left else lo < v) and (v <= hi if right else v < hi)

    return rule(ok, f"must be in {'[' if left else '('}{lo:g}, {hi:g}{']' if right else ')'}")


def one_of(choices: Collection[str], kind: str) -> Rule:
    """One of ``choices`` (a tuple, or a registry, read when checking so later registrations count)."""

    def names() -> list[str]:
        return list(choices.names()) if hasattr(choices, "names") else list(choices)

    return Rule(lambda v: v in names(), lambda label, v: f"unknown {kind} {v!r}; use one of {', '.join(names())}")


def optional(inner: Rule) -> Rule:
    """``inner``, or None ("not given": a default is worked out later)."""
    return dataclasses.replace(inner, ok=lambda v: v is None or inner.ok(v))


# ---------------------------------------------------------------- the rules shared by name

RULES: dict[str, Rule] = {
    "lr": positive(),
    "momentum": in_range(0, 1, closed="left"),
    "weight_decay": non_negative(),
    "epochs": at_least(1),
    "min_steps": at_least(0),
    "batch_size": at_least(1),
    "width": positive(),
    "image_size": rule(lambda v: _int(v) and v >= MIN_IMAGE_SIZE, f"must be an integer >= {MIN_IMAGE_SIZE}"),
    "seed": rule(
        lambda v: _int(v) and 0 <= v < SEED_LIMIT, f"must be an integer in [0, 2**32) (0 .. {SEED_LIMIT - 1})"
    ),
    "gamma": non_negative(),
    "lamda": non_negative(),
    "phi": non_negative(),
    "eps": positive(),
    "steps": at_least(1),
    "alpha": positive(),  # the boundary search's step size
    "top_k": at_least(1),
}

# every flag checked by dest name: the shared rules, and names that only the command line has
CLI_RULES: dict[str, Rule] = {
    **RULES,
    "seeds": rule(lambda v: 1 <= v <= 10_000, "must be between 1 and 10000"),
    "remain_reg": RULES["phi"],  # main.py's name for phi
    "epoch": RULES["epochs"],  # main.py
    "unlearn_steps": RULES["steps"],  # main.py
    "forget_class": at_least(0),  # main.py
    "search_batch": RULES["batch_size"],
}


def named(*names: str) -> dict[str, Rule]:
    """The shared rules for ``names``, for a settings table: ``RULES = {**named("lr", "momentum"), ...}``."""
    return {name: RULES[name] for name in names}


# ---------------------------------------------------------------- whole settings


@dataclass(frozen=True)
class Check:
    """A condition on several fields of a settings object; ``message`` is formatted with its fields."""

    ok: Callable[[Any], bool]
    message: str
    warning: bool = False  # questionable but usable: warn instead of refusing


def requires(ok: Callable[[Any], bool], message: str) -> Check:
    """Refuse the settings unless ``ok(settings)``; e.g. ``requires(lambda s: s.a <= s.b, "a must be <= b={b}, got {a}")``."""
    return Check(ok, message)


def warns_if(questionable: Callable[[Any], bool], message: str) -> Check:
    """Warn (``InputWarning``) when ``questionable(settings)``; the settings still run."""
    return Check(lambda s: not questionable(s), message, warning=True)


class Validated:
    """Base of every settings dataclass: its ``RULES`` and ``CHECKS`` are checked when it is built."""

    RULES: ClassVar[Mapping[str, Rule]] = {}
    CHECKS: ClassVar[Sequence[Check]] = ()

    def __post_init__(self) -> None:
        validate(self)


def validate(settings: Any) -> None:
    """Raise a one-line ``UserError`` for the first field that breaks its rule (or is a NaN/inf float), then
    for the first failed cross-field check; warn for every questionable combination once all is valid."""
    rules = type(settings).RULES
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        rule_ = rules.get(f.name)
        if rule_ is not None:
            message = rule_.problem(f.name, value)
        else:
            message = _not_finite(f.name, value) if isinstance(value, float) and not math.isfinite(value) else None
        if message is not None:
            raise UserError(message)
    fields = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    for c in type(settings).CHECKS:
        if not c.warning and not c.ok(settings):
            raise UserError(c.message.format_map(fields))
    for c in type(settings).CHECKS:
        if c.warning and not c.ok(settings):
            warn(c.message.format_map(fields))


# ---------------------------------------------------------------- single values and CLI flags


def problem(name: str, value: Any, rules: Mapping[str, Rule] = RULES, *, label: str | None = None) -> str | None:
    """The one-line message when ``value`` breaks the rule for ``name``, or None when it is fine.

    None ("not given"), strings and booleans are never checked here: flags that are not numbers have their
    own checks (argparse choices, the settings tables)."""
    if value is None or isinstance(value, (str, bool)):
        return None
    label = label or name
    rule_ = rules.get(name)
    if rule_ is None:
        return _not_finite(label, value) if isinstance(value, float) and not math.isfinite(value) else None
    return rule_.named(label).problem(name, value)


def check(name: str, value: Any, *, label: str | None = None, rules: Mapping[str, Rule] = RULES) -> None:
    """Raise ``UserError("<label> must be ..., got <value>")`` when ``value`` breaks the rule for ``name``."""
    message = problem(name, value, rules, label=label)
    if message is not None:
        raise UserError(message)


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
            warn(
                f"{flags.get(dest, dest)} {value} is outside (0, 1]: images are in [0, 1], so the search is not limited at all"
            )


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
