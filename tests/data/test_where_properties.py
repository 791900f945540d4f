"""Property-based tests of where: specs: random expressions built from the grammar over random CSVs select
exactly the rows a plain-Python evaluation of the same tree selects, or fail with a UserError; arbitrary
text as an expression or as a CSV is a UserError or a result, never another exception."""

from __future__ import annotations

import csv
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langevin_unlearning.core.errors import UserError
from langevin_unlearning.data import parse_forget
from langevin_unlearning.data.where import parse_condition

# fast and deterministic: the same examples on every run and in CI
FUZZ = settings(
    max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)

COLUMNS = {"a": "a", "b": "b", "my col": "`my col`"}  # header name -> how an expression names it
OPS = ["==", "!=", "<", "<=", ">", ">="]
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)  # any unicode but lone surrogates

# ---------------------------------------------------------------- generated CSVs


@dataclass(frozen=True)
class Table:
    kinds: dict[str, str]  # column -> "num" / "str", as generated
    cells: list[dict[str, str]]  # the raw text written into each cell
    values: list[dict[str, object]]  # what each cell means: a number, a string, or None (missing)


def _num_cell():
    numbers = st.one_of(st.integers(-5, 5), st.sampled_from([2.5, -0.5, 0.001, 1e-05, 3.0, 1e3]))
    return st.tuples(numbers, st.sampled_from(["", " "]), st.sampled_from(["", " "])).map(
        lambda t: (f"{t[1]}{t[0]!r}{t[2]}", t[0])
    )


def _str_cell():
    # a letter first (after optional spaces) keeps the column a string column; the rest is any unicode:
    # quotes, commas, newlines and other things the CSV writer must quote
    return st.tuples(st.sampled_from(["", " ", "\t"]), st.sampled_from("sxSé"), TEXT).map(
        lambda t: (t[0] + t[1] + t[2], (t[1] + t[2]).strip())
    )


@st.composite
def tables(draw) -> Table:
    kinds = {c: draw(st.sampled_from(["num", "str"])) for c in COLUMNS}
    n = draw(st.integers(1, 8))
    cells, values = [], []
    for _ in range(n):
        row_cells, row_values = {}, {}
        for c, kind in kinds.items():
            if draw(st.integers(0, 4)) == 0:
                text, value = draw(st.sampled_from(["", " "])), None  # an empty cell is missing
            else:
                text, value = draw(_num_cell() if kind == "num" else _str_cell())
            row_cells[c], row_values[c] = text, value
        cells.append(row_cells)
        values.append(row_values)
    return Table(kinds, cells, values)


def effective_types(table: Table) -> dict[str, str]:
    """A column is numeric when it was generated numeric and has at least one filled cell."""
    return {
        c: "num" if kind == "num" and any(v[c] is not None for v in table.values) else "str"
        for c, kind in table.kinds.items()
    }


# ---------------------------------------------------------------- generated expressions


@dataclass(frozen=True)
class Lit:
    value: object


@dataclass(frozen=True)
class Cmp:
    column: str
    op: str
    literal: Lit
    literal_first: bool


@dataclass(frozen=True)
class InList:
    column: str
    literals: tuple
    negated: bool


@dataclass(frozen=True)
class Bool:
    op: str
    items: tuple


@dataclass(frozen=True)
class Neg:
    item: object


def _literal(table: Table, column: str):
    kind = table.kinds[column]
    seen = [v[column] for v in table.values if v[column] is not None]
    own = st.sampled_from(seen) if seen else st.nothing()
    if kind == "num":
        fresh = st.one_of(st.integers(-6, 6), st.sampled_from([2.5, -0.5, 0.001, 1e-05, 4.0]))
    else:
        fresh = TEXT.filter(lambda s: not ('"' in s and "'" in s))
    wrong = st.sampled_from(["x", 1])  # sometimes the other type: a type mismatch
    return (
        st.one_of(own, own, fresh, wrong).filter(lambda v: not (isinstance(v, str) and '"' in v and "'" in v)).map(Lit)
    )


def expressions(table: Table):
    columns = st.sampled_from(list(COLUMNS))
    cmp = columns.flatmap(lambda c: st.builds(Cmp, st.just(c), st.sampled_from(OPS), _literal(table, c), st.booleans()))
    inl = columns.flatmap(
        lambda c: st.builds(
            InList, st.just(c), st.lists(_literal(table, c), min_size=1, max_size=3).map(tuple), st.booleans()
        )
    )
    leaves = st.one_of(cmp, inl)
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(Bool, st.sampled_from(["and", "or"]), st.lists(inner, min_size=2, max_size=3).map(tuple)),
            st.builds(Neg, inner),
        ),
        max_leaves=8,
    )


def render_literal(lit: Lit) -> str:
    v = lit.value
    if isinstance(v, str):
        return f'"{v}"' if '"' not in v else f"'{v}'"
    return repr(v)


def render(node) -> str:
    """The expression text, with parentheses only where the grammar's precedence needs them (or > and > not)."""
    if isinstance(node, Cmp):
        col, lit = COLUMNS[node.column], render_literal(node.literal)
        return f"{lit} {node.op} {col}" if node.literal_first else f"{col} {node.op} {lit}"
    if isinstance(node, InList):
        items = ", ".join(render_literal(x) for x in node.literals)
        return f"{COLUMNS[node.column]} {'not in' if node.negated else 'in'} ({items})"
    if isinstance(node, Neg):
        inner = render(node.item)
        return f"not ({inner})" if isinstance(node.item, Bool) else f"not {inner}"
    parts = []
    for item in node.items:
        text = render(item)
        # an 'or' inside an 'and' needs parentheses; an 'and' inside an 'or' or a same-op child does not
        needs = isinstance(item, Bool) and (item.op == "or" and node.op == "and")
        parts.append(f"({text})" if needs else text)
    return f" {node.op} ".join(parts)


# ---------------------------------------------------------------- the reference


def well_typed(node, types: dict[str, str]) -> bool:
    def kind(v) -> str:
        return "str" if isinstance(v, str) else "num"

    if isinstance(node, Cmp):
        return kind(node.literal.value) == types[node.column]
    if isinstance(node, InList):
        return all(kind(x.value) == types[node.column] for x in node.literals)
    if isinstance(node, Neg):
        return well_typed(node.item, types)
    return all(well_typed(x, types) for x in node.items)


def reference(node, row: dict[str, object]) -> bool:
    """The same tree evaluated directly: a missing cell makes every comparison false but != and not in."""
    if isinstance(node, Bool):
        results = [reference(x, row) for x in node.items]
        return all(results) if node.op == "and" else any(results)
    if isinstance(node, Neg):
        return not reference(node.item, row)
    cell = row[node.column]
    if isinstance(node, InList):
        if cell is None:
            return node.negated
        return (cell in [x.value for x in node.literals]) != node.negated
    if cell is None:
        return node.op == "!="
    a, b = (node.literal.value, cell) if node.literal_first else (cell, node.literal.value)
    return {
        "==": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[node.op]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("where_properties")


def write(path, table: Table) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["index", *COLUMNS])
        for i, row in enumerate(table.cells):
            w.writerow([i, *(row[c] for c in COLUMNS)])


@FUZZ
@given(data=st.data())
def test_generated_expressions_select_what_the_reference_selects(digits, folder, data):
    table = data.draw(tables(), label="table")
    tree = data.draw(expressions(table), label="tree")
    text = render(tree)
    path = folder / "meta.csv"
    write(path, table)
    typed = well_typed(tree, effective_types(table))
    expected = [i for i, row in enumerate(table.values) if reference(tree, row)] if typed else None
    try:
        split = parse_forget(f"where:{path}:{text}", digits)
    except UserError as e:
        assert "\n" not in str(e)
        if typed:
            assert not expected and "no training images" in str(e), (text, str(e))
        else:
            assert "type mismatch" in str(e), (text, str(e))
        return
    assert typed, text
    assert split.train_forget.tolist() == expected, text
    assert len(split.test_forget) == 0


def condition_or_user_error(text: str) -> None:
    types = {"a": "num", "s": "str", "my col": "str"}
    rows = [
        {"a": 1, "s": "x", "my col": None},
        {"a": None, "s": None, "my col": "y"},
        {"a": 2.5, "s": "", "my col": ""},
    ]
    try:
        condition = parse_condition(text, types)
    except UserError as e:
        assert "\n" not in str(e)
        return
    assert all(isinstance(condition(row), bool) for row in rows)


@FUZZ
@given(text=st.text(max_size=80))
def test_any_text_as_an_expression_is_a_condition_or_a_user_error(text):
    condition_or_user_error(text)


# text built from the grammar's own pieces reaches deeper into the parser than uniform random text
PIECES = st.lists(
    st.sampled_from(
        [
            "a",
            "s",
            "`my col`",
            "and",
            "or",
            "not",
            "in",
            "(",
            ")",
            ",",
            "==",
            "!=",
            "<",
            ">=",
            "1",
            "-2.5",
            "'x'",
            '"y"',
            " ",
            "1e3",
            "-",
        ]
    ),
    max_size=20,
).map(" ".join)


@FUZZ
@given(text=PIECES)
def test_grammar_pieces_in_any_order_are_a_condition_or_a_user_error(text):
    condition_or_user_error(text)


@FUZZ
@given(content=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200), header=st.booleans())
def test_any_csv_text_is_a_split_or_a_user_error(digits, folder, content, header):
    path = folder / "fuzz.csv"
    path.write_text(("index,site\n" if header else "") + content, encoding="utf-8")
    try:
        split = parse_forget(f"where:{path}:site != 'zz' or index >= 0", digits)
    except UserError as e:
        assert "\n" not in str(e)
        return
    assert len(split.train_forget) > 0
