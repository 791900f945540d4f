"""The folder tree is the architecture: every import points down (tests/layering.py holds the floors)."""

from __future__ import annotations

from pathlib import Path

from layering import FLOORS, upward_arrows

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "langevin_unlearning"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "layers_bad" / "pkg"


def test_every_import_in_the_package_points_down():
    arrows = upward_arrows(PACKAGE)
    assert arrows == [], "imports that point up or sideways:\n" + "\n".join(map(str, arrows))


def test_every_subpackage_has_a_floor():
    rooms = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    placed = {name for floor in FLOORS for name in floor}
    assert rooms == placed


def test_the_checker_flags_a_lower_layer_importing_a_higher_one():
    arrows = upward_arrows(FIXTURE, floors=[["core"], ["data"]])
    found = {(a.source, a.target) for a in arrows}
    assert found == {("core/helpers.py", "data.loader"), ("core/helpers.py", "data")}, found


def test_the_checker_flags_siblings_on_one_floor():
    arrows = upward_arrows(FIXTURE, floors=[["core", "data"]])
    assert {a.source for a in arrows} == {"core/helpers.py", "data/loader.py"}
