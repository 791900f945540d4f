"""The architecture as a rule: the package's layers, bottom to top, and a checker that finds upward imports.

Each top-level subpackage of ``langevin_unlearning`` sits on one floor; a module may import from its own
subpackage and from floors below it, never from a floor above or from a sibling on the same floor. Imports
are read from the source (``ast``), so imports inside functions count too.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

# bottom to top; names on one floor are siblings that must not import each other
FLOORS = [
    ["core"],
    ["data", "models"],
    ["engine"],
    ["methods", "evaluation"],
    ["store"],
    ["experiments"],
    ["report"],
    ["cli"],
]
FACE = "__init__"  # the package's own __init__: the public face, above everything


@dataclass(frozen=True)
class Arrow:
    source: str  # file, relative to the package root
    line: int
    target: str  # the imported module, dotted, relative to the package

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def floor_of(room: str, floors=FLOORS) -> int | None:
    for level, names in enumerate(floors):
        if room in names:
            return level
    return None


def imports(path: Path, package_root: Path, package: str) -> list[tuple[int, str]]:
    """(line, dotted module relative to the package) for every import of the package in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(package_root).with_suffix("").parts
    here = list(rel[:-1])  # the module's package (for relative imports)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                mod = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and (node.module == package or node.module.startswith(package + ".")):
                mod = node.module.split(".")[1:]
            else:
                continue
            if not mod:  # from . import x / from package import x: x names the room
                mod = [node.names[0].name] if node.names else []
            out.append((node.lineno, ".".join(mod)))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(package + "."):
                    out.append((node.lineno, ".".join(alias.name.split(".")[1:])))
    return out


def upward_arrows(package_root: Path, floors=FLOORS) -> list[Arrow]:
    """Every import in the package that points to a higher floor or to a sibling on the same floor."""
    package = package_root.name
    bad = []
    for path in sorted(package_root.rglob("*.py")):
        rel = path.relative_to(package_root)
        room = rel.parts[0].removesuffix(".py")
        if room == FACE:
            continue
        level = floor_of(room, floors)
        if level is None:
            bad.append(Arrow(str(rel), 0, f"(no floor: add {room!r} to FLOORS or move it into a layer)"))
            continue
        for line, target in imports(path, package_root, package):
            target_room = target.split(".")[0]
            if target_room == room:
                continue
            target_level = floor_of(target_room, floors)
            if target_room == FACE or target_level is None or target_level >= level:
                bad.append(Arrow(str(rel), line, target))
    return bad
