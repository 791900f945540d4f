"""Reading the toolkit's own JSON files without trusting them: one line naming the file and the fix.

Every JSON file the toolkit reads back (sidecars, bank.json, progress files) goes through
``read_json_object``: not UTF-8, not JSON, not an object, a key missing or of the wrong type all become
a ``UserError`` that names the file, what it is, and what to do, instead of a traceback further on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.errors import UserError

# how JSON calls the Python types json.loads returns (messages speak JSON, the format of the file)
_JSON_NAMES = {dict: "object", list: "list", str: "string", int: "integer", float: "number", bool: "boolean"}


def json_kind(value: Any) -> str:
    return "null" if value is None else _JSON_NAMES.get(type(value), type(value).__name__)


def is_json(value: Any, kind: type | tuple[type, ...]) -> bool:
    """``isinstance`` for JSON values: a boolean is not an integer, an integer is a number."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    if float in kinds and isinstance(value, int):
        return True
    return isinstance(value, kinds)


def read_json(path: str | Path, what: str, fix: str) -> Any:
    """The parsed JSON of ``path``; UserError ``<path> (<what>) is not ...; <fix>`` when it cannot be."""
    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path} ({what}) is not UTF-8 text; {fix}") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path} ({what}) is not valid JSON ({e.msg}, line {e.lineno}); {fix}") from None
    except RecursionError:
        raise UserError(f"{path} ({what}) is nested too deeply to be one; {fix}") from None


def object_problem(obj: Any, required: Mapping[str, type | tuple[type, ...]], where: str = "") -> str | None:
    """What makes ``obj`` not an object with ``required`` keys of those types (None when it is one);
    ``where`` prefixes the key names of a nested object (``recipe.``)."""
    if not isinstance(obj, dict):
        return f"holds a JSON {json_kind(obj)}, not an object"
    for key, kind in required.items():
        if obj.get(key) is None:
            return f"lacks {where}{key}"
        if not is_json(obj[key], kind):
            want = " or ".join(json_kind(k()) for k in (kind if isinstance(kind, tuple) else (kind,)))
            return f"has a {json_kind(obj[key])} for {where}{key}, not a {want}"
    return None


def read_json_object(
    path: str | Path, what: str, required: Mapping[str, type | tuple[type, ...]] | None = None, *, fix: str
) -> dict:
    """A JSON object with ``required`` keys of the given types, or UserError naming the file and ``fix``."""
    obj = read_json(path, what, fix)
    problem = object_problem(obj, required or {})
    if problem:
        raise UserError(f"{path} ({what}) {problem}; {fix}")
    return obj
