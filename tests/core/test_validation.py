"""One validation path: every settings dataclass declares its rules in one table and is checked when built."""

from __future__ import annotations

import dataclasses
import math
import types
import typing

import pytest

from langevin_unlearning.core.errors import UserError
from langevin_unlearning.core.validation import (
    CLI_RULES,
    RULES,
    InputWarning,
    Validated,
    at_least,
    in_range,
    one_of,
    optional,
)
from langevin_unlearning.engine.train import TrainConfig
from langevin_unlearning.experiments.compose import FinetuneSettings as ComposeSettings
from langevin_unlearning.methods import METHODS

SETTINGS = [*(METHODS.get(name).Settings for name in METHODS.names()), TrainConfig, ComposeSettings]


def numeric(hint) -> bool:
    """int or float, or an optional one (``int | None``); bool is not a number here."""
    args = (
        typing.get_args(hint)
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
        else (hint,)
    )
    return any(a in (int, float) for a in args)


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda c: c.__qualname__)
def test_every_numeric_field_has_a_rule_and_every_rule_a_field(cls):
    assert issubclass(cls, Validated)
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    missing = sorted(name for name in fields if numeric(hints[name]) and name not in cls.RULES)
    assert missing == [], f"{cls.__qualname__} has no rule for {missing}"
    assert set(cls.RULES) <= fields, (
        f"{cls.__qualname__} has rules for fields it lacks: {sorted(set(cls.RULES) - fields)}"
    )
    cls()  # the defaults are valid


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda c: c.__qualname__)
def test_a_bad_number_is_refused_when_built_in_one_line(cls):
    name = next(f.name for f in dataclasses.fields(cls) if isinstance(f.default, float))
    with pytest.raises(UserError) as e:
        cls(**{name: math.nan})
    message = str(e.value)
    assert "\n" not in message and "must be a finite number, got nan" in message


def test_replace_checks_again():
    with pytest.raises(UserError, match="^batch_size must be at least 1, got 0$"):
        dataclasses.replace(TrainConfig(), batch_size=0)


def test_cross_field_checks_and_warnings():
    scrub = METHODS.get("scrub").Settings
    with pytest.raises(UserError, match=r"^max_epochs must be in \[0, epochs=2\], got 3$"):
        scrub(epochs=2, max_epochs=3)
    langevin = METHODS.get("langevin").Settings
    with pytest.raises(UserError, match="quantize needs eps >= 1/255"):
        langevin(quantize=True, eps=1e-3)
    with pytest.warns(InputWarning, match="lamda has no effect with steps=1"):
        langevin(steps=1, lamda=0.5)
    with pytest.raises(UserError, match="^eps must be a positive number"):  # refused values never warn first
        langevin(eps=-2.0)


def test_rule_constructors_say_what_they_check():
    assert in_range(0, 1).problem("m", 1.0) == "m must be in [0, 1), got 1.0"
    assert in_range(0, 1, closed="both").problem("m", 1.0) is None
    assert at_least(0).problem("n", -1) == "n must be >= 0, got -1"
    assert at_least(2).named("--n").problem("n", 1) == "--n must be at least 2, got 1"
    assert optional(at_least(1)).problem("k", None) is None and at_least(1).problem("k", None) is not None
    assert one_of(("a", "b"), "mode").problem("m", "c") == "unknown mode 'c'; use one of a, b"


def test_cli_flags_share_the_settings_rule_objects():
    assert all(CLI_RULES[name] is rule for name, rule in RULES.items())
    assert CLI_RULES["remain_reg"] is RULES["phi"] and CLI_RULES["unlearn_steps"] is RULES["steps"]
    langevin = METHODS.get("langevin").Settings
    assert langevin.RULES["lr"] is RULES["lr"] and langevin.RULES["gamma"] is RULES["gamma"]
