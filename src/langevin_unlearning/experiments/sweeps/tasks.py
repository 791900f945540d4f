"""A task: a top-level function and plain keyword arguments, so it runs in this process or on a Ray worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Task:
    key: str  # unique within one run of an executor; what a store records as done
    fn: Callable[..., dict]  # a module-level function (picklable), returning a JSON-able dict
    kwargs: dict[str, Any] = field(default_factory=dict)


OnResult = Callable[[Task, dict], None]
