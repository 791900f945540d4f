"""Boolean expressions over the columns of a metadata CSV, for ``where:FILE.csv:EXPR`` forget specs.

A small tokenizer, a recursive-descent parser and a tree-walking evaluator of our own: the expression is
never handed to Python (no eval, compile or ast). The grammar, from loosest to tightest binding::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := operand [("==" | "!=" | "<" | "<=" | ">" | ">=") operand]
                | operand ["not"] "in" "(" literal ("," literal)* [","] ")"
    operand    := "(" expr ")" | column | literal
    column     := identifier | `any text in backquotes`
    literal    := "string" | 'string' | number (optionally negative: -3, 2.5, 1e-3)

Column types are decided per column: a column whose non-empty cells all look like numbers is numeric,
any other column holds strings. Types are checked once, before any row is evaluated: comparing a
string with a number, ``and`` over a non-boolean, or an expression that is not a condition are errors.
An empty cell is missing: every comparison with it is false except ``!=`` and ``not in``.
Anything outside the grammar (attribute access, calls, subscripts, dunder names, arithmetic, lambdas)
is a one-line ``UserError`` naming what was found.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import UserError

KEYWORDS = {"and", "or", "not", "in"}
COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}
# Python keywords that have no place in a condition: named in the error instead of "unknown column"
FORBIDDEN_WORDS = {
    "lambda",
    "if",
    "else",
    "for",
    "import",
    "from",
    "def",
    "class",
    "return",
    "yield",
    "is",
    "await",
    "async",
    "with",
    "global",
    "del",
    "exec",
    "eval",
}

MAX_LENGTH = 10_000  # characters: far beyond any hand-written condition, and cheap to scan
MAX_DEPTH = 100  # nested parentheses and nots: the parser recurses once per level
MAX_DIGITS = 4000  # digits in one number (Python's int() refuses more than 4300)

# Digits are ASCII only ([0-9], not \d): '٣' is not a number here, as in indices: files. The number
# pattern has one way to split its digits, so a failed match backtracks linearly, never quadratically.
_NUM = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
# One scanner for the whole expression: each token is one match at the current position, so tokenizing
# is a single left-to-right pass.
_SCANNER = re.compile(
    rf"""(?P<ws>\s+)
    |(?P<str>"[^"]*"|'[^']*')
    |(?P<col>`[^`]+`)
    |(?P<num>-?{_NUM})
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>==|!=|<=|>=|[<>(),])""",
    re.VERBOSE,
)
_CELL_NUMBER = re.compile(rf"[-+]?{_NUM}")


def clip(text: str, n: int = 60) -> str:
    """``text`` quoted for an error message, cut to ``n`` characters so the message stays one short line."""
    return repr(text if len(text) <= n else text[:n] + "...")


@dataclass(frozen=True)
class Token:
    kind: str  # "name", "str", "num", "op", "kw", "end"
    value: Any
    pos: int


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise UserError(
            f"where: the expression is {len(text):,} characters, more than {MAX_LENGTH:,}; "
            "simplify it, e.g. add a column to the CSV that marks the rows to forget and test that column"
        )
    tokens: list[Token] = []
    i, n = 0, len(text)
    scan = _SCANNER.match
    while i < n:
        m = scan(text, i)
        kind = m.lastgroup if m else None
        c = text[i]
        if kind == "ws":
            pass
        elif kind == "str":
            tokens.append(Token("str", m.group()[1:-1], i))
        elif kind == "col":
            tokens.append(Token("name", m.group()[1:-1], i))
        elif kind == "num" and (c != "-" or _negative_allowed(tokens)):
            tokens.append(Token("num", _number(text, i, m.end()), i))
        elif kind == "name":
            word = m.group()
            if word.startswith("__"):
                raise UserError(
                    f"where: dunder names such as {clip(word)} are not allowed; use column names and literals only"
                )
            if word in FORBIDDEN_WORDS:
                raise UserError(f"where: {word!r} is not allowed; use comparisons, in, and, or, not and parentheses")
            tokens.append(Token("kw" if word in KEYWORDS else "name", word, i))
        elif kind == "op":
            tokens.append(Token("op", m.group(), i))
        elif c in "\"'":
            raise UserError(f"where: unterminated string starting at column {i + 1} of {clip(text)}")
        elif c == "`":
            raise UserError(f"where: unterminated or empty `column name` at column {i + 1} of {clip(text)}")
        else:
            raise UserError(f"where: {_forbidden_char(c)} at column {i + 1} of {clip(text)}")
        i = m.end() if m else i + 1
    tokens.append(Token("end", None, n))
    return tokens


def _number(text: str, start: int, end: int) -> int | float:
    word = text[start:end]
    if end < len(text) and (text[end].isalpha() or text[end] in "_."):
        raise UserError(
            f"where: bad number {clip(text[start : end + 1])} at column {start + 1}; write numbers like 3, 2.5 or 1e-3"
        )
    if len(word) > MAX_DIGITS:
        raise UserError(f"where: the number at column {start + 1} has more than {MAX_DIGITS} digits; shorten it")
    return float(word) if any(ch in word for ch in ".eE") else int(word)


def _negative_allowed(tokens: list[Token]) -> bool:
    """A '-' starts a negative number only where an operand may begin (not after a column or literal)."""
    return not tokens or tokens[-1].kind in ("op", "kw") and tokens[-1].value != ")"


def _forbidden_char(c: str) -> str:
    known = {
        ".": "attribute access ('.') is not allowed",
        "[": "subscripts ('[') are not allowed",
        "]": "subscripts (']') are not allowed",
        "=": "a single '=' is not a comparison; use ==",
        "!": "'!' alone is not allowed; use != or not",
        "&": "'&' is not allowed; use and",
        "|": "'|' is not allowed; use or",
        ":": "':' is not allowed (no lambdas or slices)",
        ";": "';' is not allowed",
    }
    return known.get(c, f"unexpected character {c!r} (no arithmetic, calls or other Python)")


# ---------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Column:
    name: str


@dataclass(frozen=True)
class Literal:
    value: str | int | float


@dataclass(frozen=True)
class Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class In:
    operand: Any
    values: tuple
    negated: bool


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" / "or"
    items: tuple


@dataclass(frozen=True)
class Not:
    operand: Any


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def at(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        return tok.kind == kind and (value is None or tok.value == value)

    def expect(self, kind: str, value: Any, what: str) -> Token:
        if not self.at(kind, value):
            self.fail(f"expected {what}")
        return self.take()

    def fail(self, message: str):
        tok = self.peek()
        found = "the end" if tok.kind == "end" else clip(str(tok.value), 40)
        raise UserError(f"where: {message} at column {tok.pos + 1} (found {found}) in {clip(self.text)}")

    def enter(self) -> None:
        """One more level of parentheses or not; refused past MAX_DEPTH, before Python's own recursion limit."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise UserError(
                f"where: the expression nests parentheses or not more than {MAX_DEPTH} levels deep "
                f"(at column {self.peek().pos + 1}); simplify it, e.g. remove redundant parentheses or write x in (...)"
            )

    def parse(self):
        if self.at("end"):
            raise UserError('where: the expression is empty; write a condition such as site == "B"')
        node = self.expr()
        if not self.at("end"):
            if self.at("op", "("):
                self.fail("calls are not allowed")
            self.fail("expected and, or or the end of the expression")
        return node

    def expr(self):
        items = [self.and_expr()]
        while self.at("kw", "or"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self):
        items = [self.not_expr()]
        while self.at("kw", "and"):
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_expr(self):
        if self.at("kw", "not"):
            self.take()
            self.enter()
            node = Not(self.not_expr())
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self):
        left = self.operand()
        if self.at("op") and self.peek().value in COMPARISONS:
            op = self.take().value
            node = Compare(op, left, self.operand())
            if self.at("op") and self.peek().value in COMPARISONS:
                self.fail("chained comparisons are not allowed; join them with and")
            return node
        negated = self.at("kw", "not") and self.peek(1).kind == "kw" and self.peek(1).value == "in"
        if negated:
            self.take()
        if self.at("kw", "in"):
            self.take()
            return In(left, self.literal_list(), negated)
        return left

    def literal_list(self) -> tuple:
        self.expect("op", "(", "'(' after in")
        values = [self.literal()]
        while self.at("op", ","):
            self.take()
            if self.at("op", ")"):
                break
            values.append(self.literal())
        self.expect("op", ")", "')' to close the list")
        return tuple(values)

    def literal(self) -> Literal:
        if self.at("str") or self.at("num"):
            return Literal(self.take().value)
        self.fail("expected a string or number literal")

    def operand(self):
        tok = self.peek()
        if tok.kind == "op" and tok.value == "(":
            self.take()
            self.enter()
            node = self.expr()
            self.expect("op", ")", "')'")
            self.depth -= 1
            return node
        if tok.kind == "name":
            self.take()
            if self.at("op", "("):
                self.fail(f"calls such as {tok.value}(...) are not allowed")
            return Column(tok.value)
        if tok.kind in ("str", "num"):
            return Literal(self.take().value)
        self.fail("expected a column name, a literal or '('")


# ---------------------------------------------------------------- types and evaluation


def _literal_type(value) -> str:
    return "str" if isinstance(value, str) else "num"


def typed_rows(
    raw: Sequence[dict[str, str]], columns: Sequence[str], strings: Sequence[str] = ()
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """CSV cells -> typed rows and column types: a column whose non-empty cells all look like numbers is
    'num' (its cells become int/float), any other (and those in ``strings``) is 'str'; empty cells are None."""
    types = {}
    for c in columns:
        if c in strings:
            types[c] = "str"
            continue
        cells = [(r.get(c) or "").strip() for r in raw]
        filled = [x for x in cells if x]
        numeric = filled and all(_CELL_NUMBER.fullmatch(x) for x in filled)
        if numeric and any(len(x) > MAX_DIGITS for x in filled):
            raise UserError(f"column {clip(c)} holds a number longer than {MAX_DIGITS} digits; shorten it or quote it")
        types[c] = "num" if numeric else "str"
    rows = []
    for r in raw:
        row: dict[str, Any] = {}
        for c in columns:
            cell = (r.get(c) or "").strip()
            if not cell:
                row[c] = None
            elif types[c] == "num":
                row[c] = float(cell) if any(ch in cell for ch in ".eE") else int(cell)
            else:
                row[c] = cell
        rows.append(row)
    return rows, types


def _check(node, types: dict[str, str], text: str) -> str:
    """The type of ``node`` ('bool', 'num', 'str'); a one-line error for unknown columns and mismatches."""
    if isinstance(node, Column):
        if node.name not in types:
            raise UserError(f"where: unknown column {clip(node.name)}; the CSV has {', '.join(types)}")
        return types[node.name]
    if isinstance(node, Literal):
        return _literal_type(node.value)
    if isinstance(node, Compare):
        a, b = _check(node.left, types, text), _check(node.right, types, text)
        if "bool" in (a, b) or a != b:
            raise UserError(
                f"where: type mismatch in {_show(node)}: cannot compare {_describe(node.left, a)} with {_describe(node.right, b)}"
            )
        return "bool"
    if isinstance(node, In):
        a = _check(node.operand, types, text)
        for v in node.values:
            if _literal_type(v.value) != a:
                raise UserError(
                    f"where: type mismatch: {_describe(node.operand, a)} tested against {v.value!r} in its in (...) list"
                )
        return "bool"
    for child in node.items if isinstance(node, BoolOp) else (node.operand,):
        t = _check(child, types, text)
        if t != "bool":
            raise UserError(f"where: {_describe(child, t)} is not a condition; compare it, e.g. {_show(child)} == ...")
    return "bool"


def _describe(node, t: str) -> str:
    kind = {"num": "number", "str": "string", "bool": "condition"}[t]
    if isinstance(node, Column):
        return f"the {kind} column {node.name!r}"
    if isinstance(node, Literal):
        return f"the {kind} {node.value!r}"
    return f"a {kind}"


def _show(node) -> str:
    if isinstance(node, Column):
        return node.name
    if isinstance(node, Literal):
        return repr(node.value)
    if isinstance(node, Compare):
        return f"{_show(node.left)} {node.op} {_show(node.right)}"
    return "(...)"


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _value(node, row: dict[str, Any]):
    return (
        row[node.name] if isinstance(node, Column) else node.value if isinstance(node, Literal) else evaluate(node, row)
    )


def evaluate(node, row: dict[str, Any]):
    """Walk the tree over one row of typed values."""
    if isinstance(node, BoolOp):
        return (
            all(evaluate(x, row) for x in node.items) if node.op == "and" else any(evaluate(x, row) for x in node.items)
        )
    if isinstance(node, Not):
        return not evaluate(node.operand, row)
    if isinstance(node, Compare):
        a, b = _value(node.left, row), _value(node.right, row)
        if _missing(a) or _missing(b):
            return node.op == "!="
        return _OPS[node.op](a, b)
    if isinstance(node, In):
        a = _value(node.operand, row)
        if _missing(a):
            return node.negated
        return (a in {v.value for v in node.values}) != node.negated
    return _value(node, row)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


@dataclass(frozen=True)
class Condition:
    """A parsed, type-checked expression: ``condition(row)`` is True for the rows it selects."""

    text: str
    tree: Any

    def __call__(self, row: dict[str, Any]) -> bool:
        return bool(evaluate(self.tree, row))


def parse_condition(text: str, types: dict[str, str]) -> Condition:
    """Parse ``text`` and check it against the column ``types``; a one-line UserError for anything else."""
    tree = _Parser(text).parse()
    if _check(tree, types, text) != "bool":
        raise UserError(f"where: {clip(text)} is not a condition; compare a column, e.g. {_show(tree)} == ...")
    return Condition(text, tree)
