"""Grids over any settings of any registered method, typed by the method's Settings dataclass.

    grid = parse_grid("langevin", ["gamma=0,1e-4,1e-2", "lamda=0,1e-3"], fixed=["steps=5"])
    grid.points()   # [{"steps": 5, "gamma": 0.0, "lamda": 0.0}, {"steps": 5, "gamma": 0.0, "lamda": 0.001}, ...]

Every value is converted with the type its dataclass field declares (float, int, bool, str, or an
``X | None`` of those; ``none`` gives None) and every combination is validated by building the method,
so a typo or an impossible combination is one line naming the fix before anything runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...core.errors import UserError
from ...methods import METHODS, create_method

_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


@dataclass(frozen=True)
class Grid:
    method: str
    axes: dict[str, list]  # setting -> values, in the order given (the grid's varying settings)
    fixed: dict[str, Any]  # settings held at one value (from --set, or a grid with one value)

    def points(self) -> list[dict]:
        """One settings dict per combination, the last axis varying fastest."""
        names = list(self.axes)
        return [{**self.fixed, **dict(zip(names, values))} for values in itertools.product(*self.axes.values())]

    def describe(self) -> str:
        parts = [f"{k}={','.join(map(fmt_value, v))}" for k, v in self.axes.items()] + [
            f"{k}={fmt_value(v)}" for k, v in self.fixed.items()
        ]
        return f"{self.method} " + " ".join(parts)


def fmt_value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def setting_types(method: str) -> dict[str, Any]:
    """Setting name -> declared type (resolved from the dataclass's annotations) for a registered method."""
    cls = METHODS.get(method).Settings
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def convert(method: str, name: str, text: str, kind: Any) -> Any:
    """``text`` as a value of type ``kind`` (float, int, bool, str or Optional of one of them)."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if text.strip().lower() in ("none", "null"):
            return None
        if len(inner) != 1:
            raise UserError(f"{method} setting {name} has type {kind} which a grid cannot set")
        kind = inner[0]
    s = text.strip()
    wrong = UserError(f"{name}={text!r}: {method}'s {name} takes {_example(kind)}")
    if kind is bool:
        if s.lower() in _TRUE:
            return True
        if s.lower() in _FALSE:
            return False
        raise wrong
    if kind is int:
        try:
            return int(s)
        except ValueError:
            try:
                f = float(s)
            except ValueError:
                raise wrong from None
            if not f.is_integer():
                raise wrong from None
            return int(f)
    if kind is float:
        try:
            value = float(s)
        except ValueError:
            raise wrong from None
        if math.isnan(value):
            raise wrong
        return value
    if kind is str:
        if not s:
            raise wrong
        return s
    raise UserError(f"{method} setting {name} has type {kind} which a grid cannot set")


def _example(kind: Any) -> str:
    return {
        bool: "a bool (true or false)",
        int: "an int (a whole number such as 5)",
        float: "a float (a number such as 1e-4)",
        str: "a str (a word)",
    }.get(kind, "a value")


def _split_assignment(text: str, flag: str) -> tuple[str, str]:
    name, eq, values = text.partition("=")
    name = name.strip().replace("-", "_")
    if not eq or not name:
        example = "gamma=0,1e-4,1e-2" if flag == "--grid" else "gamma=1e-4"
        raise UserError(
            f"{flag} {text!r} is not NAME={'VALUES' if flag == '--grid' else 'VALUE'}; write e.g. {flag} {example}"
        )
    return name, values


def parse_grid(method: str, grids: Sequence[str] = (), fixed: Sequence[str] = ()) -> Grid:
    """Parse ``--grid name=v1,v2`` and ``--set name=value`` for ``method``; validate every combination."""
    types_ = setting_types(method)
    axes: dict[str, list] = {}
    held: dict[str, Any] = {}
    for flag, items in (("--grid", grids), ("--set", fixed)):
        for text in items:
            name, raw = _split_assignment(text, flag)
            if name not in types_:
                raise UserError(f"{method} has no setting {name!r}; its settings are: {', '.join(sorted(types_))}")
            if name in axes or name in held:
                raise UserError(
                    f"setting {name} is given twice; give each setting once (one --grid {name}=v1,v2,... or one --set)"
                )
            parts = [p for p in (raw.split(",") if flag == "--grid" else [raw])]
            if not any(p.strip() for p in parts):
                raise UserError(
                    f"{flag} {name}= is empty; give at least one value, e.g. {flag} {name}={_default_text(method, name)}"
                )
            values = [convert(method, name, p, types_[name]) for p in parts]
            if len(set(map(repr, values))) != len(values):
                raise UserError(f"--grid {name} repeats a value ({raw}); list each value once")
            if flag == "--grid" and len(values) > 1:
                axes[name] = values
            else:
                held[name] = values[0]
    grid = Grid(method, axes, held)
    for point in grid.points():
        create_method(method, **point)  # an invalid combination -> its one-line error, before anything runs
    return grid


def _default_text(method: str, name: str) -> str:
    default = next(f.default for f in dataclasses.fields(METHODS.get(method).Settings) if f.name == name)
    return fmt_value(default)
