"""where:FILE.csv:EXPR forget specs: metadata rows select train and test images; the expression is parsed, never evaluated as Python."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import langevin_unlearning.data.forget as forget_mod
import langevin_unlearning.data.where as where_mod
from langevin_unlearning.cli import main
from langevin_unlearning.core.errors import UserError
from langevin_unlearning.data import DataOptions, load_dataset, parse_forget
from langevin_unlearning.data.where import parse_condition, typed_rows

# one row per image: (split, class, id, device, year, eye); the id is written into the image's green channel
META = [
    ("train", "cat", 1, "Cirrus 800 FA", 2015, "OS"),
    ("train", "cat", 2, "Cirrus 800 FA", 2019, "OD"),
    ("train", "cat", 3, "Topcon", 2014, "OS"),
    ("train", "dog", 4, "Cirrus 800 FA", 2016, "OD"),
    ("train", "dog", 5, "Topcon", 2016, "OU"),
    ("train", "dog", 6, "Cirrus 800 FA", 2016, "OU"),
    ("test", "cat", 7, "Cirrus 800 FA", 2013, "OS"),
    ("test", "cat", 8, "Topcon", 2013, "OS"),
    ("test", "dog", 9, "Cirrus 800 FA", 2018, "OD"),
    ("test", "dog", 10, "Cirrus 800 FA", 2012, "OD"),
]


def write_folder(root: Path, flat: bool = False) -> list[dict]:
    """Images under root/[split/]class/, and the metadata rows (with their path relative to root)."""
    rows = []
    for split, cls, ident, device, year, eye in META:
        rel = Path(cls) / f"img{ident:02d}.png" if flat else Path(split) / cls / f"img{ident:02d}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        arr = np.zeros((8, 8, 3), np.uint8)
        arr[..., 1] = ident
        Image.fromarray(arr, "RGB").save(root / rel)
        rows.append({"path": rel.as_posix(), "device": device, "year": year, "eye": eye, "split": split})
    return rows


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def ids(images) -> set[int]:
    return {int(v) for v in images[:, 1, 0, 0]}


EXPR = 'device == "Cirrus 800 FA" and year < 2017 and eye in ("OS", "OD")'


def expected_ids(split: str) -> set[int]:
    return {i for s, _, i, d, y, e in META if s == split and d == "Cirrus 800 FA" and y < 2017 and e in ("OS", "OD")}


def test_where_on_a_folder_selects_exactly_the_matching_train_and_test_images(tmp_path):
    root = tmp_path / "eyes"
    rows = write_folder(root)
    csv_file = write_csv(tmp_path / "meta.csv", rows, ["path", "device", "year", "eye"])
    ds = load_dataset(f"folder:{root}", DataOptions(download=False))
    s = parse_forget(f"where:{csv_file}:{EXPR}", ds)
    assert expected_ids("train") == {1, 4} and expected_ids("test") == {7, 10}  # the fixture is what we think
    assert ids(ds.train.images[s.train_forget]) == {1, 4}
    assert ids(ds.test.images[s.test_forget]) == {7, 10}
    assert ids(ds.train.images[s.train_remain]) == {2, 3, 5, 6}
    assert ids(ds.test.images[s.test_remain]) == {8, 9}
    assert "forget 2 train / 2 test images" in s.summary()
    # not, or, parentheses and a backquoted column name
    write_csv(
        tmp_path / "meta2.csv", [{**r, "device name": r["device"]} for r in rows], ["path", "device name", "year"]
    )
    s = parse_forget(f"where:{tmp_path / 'meta2.csv'}:not (`device name` == 'Topcon' or year >= 2016)", ds)
    assert ids(ds.train.images[s.train_forget]) == {1} and ids(ds.test.images[s.test_forget]) == {7, 10}


def test_where_on_a_flat_folder_follows_the_seeded_split(tmp_path):
    root = tmp_path / "flat"
    rows = write_folder(root, flat=True)
    ds = load_dataset(f"folder:{root}", DataOptions(download=False))
    csv_file = write_csv(
        tmp_path / "meta.csv", rows, ["path", "device", "year", "eye"]
    )  # no split column: the dataset decides
    s = parse_forget(f"where:{csv_file}:{EXPR}", ds)
    chosen = ids(ds.train.images[s.train_forget]) | ids(ds.test.images[s.test_forget])
    assert chosen == expected_ids("train") | expected_ids("test")
    assert ids(ds.train.images[s.train_forget]) == chosen & ids(ds.train.images)


def test_index_csv_on_digits(digits, tmp_path):
    f = write_csv(
        tmp_path / "idx.csv", [{"index": i, "site": "A" if i % 2 else "B"} for i in range(10)], ["index", "site"]
    )
    s = parse_forget(f"where:{f}:site == 'B'", digits)
    assert s.train_forget.tolist() == [0, 2, 4, 6, 8] and len(s.test_forget) == 0
    assert len(s.train_remain) == len(digits.train) - 5 and s.forget_class is None
    rows = [
        {"index": i, "split": sp, "age": age}
        for i, sp, age in [(3, "train", 70), (7, "train", 40), (3, "test", 81), (5, "test", 65), (9, "test", 12)]
    ]
    f = write_csv(tmp_path / "idx2.csv", rows, ["index", "split", "age"])
    s = parse_forget(f"where:{f}:age >= 65", digits)
    assert s.train_forget.tolist() == [3] and s.test_forget.tolist() == [3, 5]
    assert len(s.test_remain) == len(digits.test) - 2 and 5 not in s.test_remain.tolist()


def test_unsafe_expressions_are_rejected_not_evaluated(digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # columns named like functions and modules: they may be compared, never called or looked into
    f = write_csv(
        tmp_path / "m.csv",
        [{"index": i, "open": "x", "os": "y", "touch": i} for i in range(4)],
        ["index", "open", "os", "touch"],
    )
    cases = {
        'open("pwned") == "x"': "calls",
        'os.system("touch pwned") == 0': "attribute access",
        '__import__("os").system("touch pwned") == 0': "dunder",
        'touch.__class__ == "x"': "attribute access",
        'open[0] == "x"': "subscripts",
        "lambda: 1": "lambda",
        "touch + 1 == 2": "no arithmetic",
        "touch = 1": "use ==",
    }
    called = []  # any eval/exec/compile/open/__import__ from the spec's modules would land here
    for module in (where_mod, forget_mod):
        for name in ("eval", "exec", "compile", "__import__"):
            monkeypatch.setattr(module, name, lambda *a, _n=name, **k: called.append(_n), raising=False)
    for expr, message in cases.items():
        with pytest.raises(UserError, match=re.escape(message)) as e:
            parse_forget(f"where:{f}:{expr}", digits)
        assert "\n" not in str(e.value)
    assert parse_forget(f"where:{f}:open == 'x' and touch < 2", digits).train_forget.tolist() == [0, 1]
    assert called == [] and not (tmp_path / "pwned").exists()


def test_missing_cells_and_typing():
    rows, types = typed_rows([{"a": "1", "b": "x", "c": ""}, {"a": "2.5", "b": "3", "c": ""}], ["a", "b", "c"])
    assert (
        types == {"a": "num", "b": "str", "c": "str"}
        and rows[0]["a"] == 1
        and rows[1]["a"] == 2.5
        and rows[1]["b"] == "3"
    )
    assert [parse_condition("c != 'y'", types)(r) for r in rows] == [
        True,
        True,
    ]  # a missing cell: only != and not in hold
    assert [parse_condition("c == 'y' or a > 1", types)(r) for r in rows] == [False, True]


@pytest.mark.parametrize(
    "content, expr, message",
    [
        ("index,site\n0,A\n1,B\n", "region == 'A'", "unknown column 'region'"),
        ("index,year\n0,2015\n1,2016\n", "year < '2017'", "type mismatch"),
        ("index,site\n0,A\n1,B\n", "site == 'C'", "no training images"),
        ("index,site\n0,A\n99999,B\n", "site == 'A'", "absent from digits"),
        ("index,site,split\n0,A,val\n", "site == 'A'", "use train or test"),
        ("site\nA\n", "site == 'A'", "exactly one of the columns index"),
        ("path,site\na.png,A\n", "site == 'A'", "not a folder: dataset"),
        ("index,site\n0,A\n0,B\n", "site == 'A'", "names the same image"),
        ("index,site\n0,A\n", "site", "not a condition"),
        ("index,site\n0,A\n", "(" * 5000 + "site == 'A'" + ")" * 5000, "more than 10,000; simplify it"),
        ("index,site\n0,A\n", "(" * 101 + "site == 'A'" + ")" * 101, "more than 100 levels deep"),
        ("index,site\n0,A\n", "not " * 101 + "site == 'A'", "more than 100 levels deep"),
        ("index,site\n0,A\n", "site == " + "1" * 5000, "more than 4000 digits"),
        ("index,site\n0,A\n1,B,C\n", "site == 'A'", "meta.csv:3: more cells than header columns"),
        ("index,site\n" + "0,A\n" * 10**5, "site == 'A'", "rows, but the dataset has 1797 images"),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path, capsys, content, expr, message):
    f = tmp_path / "meta.csv"
    f.write_text(content)
    # the spec is checked before anything is trained or written
    code = main(
        [
            "train",
            "--forget",
            f"where:{f}:{expr}",
            "--epochs",
            "1",
            "--width",
            "0.1",
            "--out",
            str(tmp_path / "x"),
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.strip().count("\n") == 0, err
    assert not (tmp_path / "x").exists()


def test_absent_path_on_a_folder(tmp_path):
    root = tmp_path / "eyes"
    rows = write_folder(root)
    f = write_csv(
        tmp_path / "meta.csv",
        [*rows, {"path": "train/cat/gone.png", "device": "x", "year": 1, "eye": "OS", "split": "train"}],
        ["path", "device", "year", "eye", "split"],
    )
    ds = load_dataset(f"folder:{root}", DataOptions(download=False))
    with pytest.raises(UserError, match="'train/cat/gone.png' names an image absent"):
        parse_forget(f"where:{f}:year > 0", ds)
    f = write_csv(tmp_path / "wrong.csv", [{**rows[0], "split": "test"}], ["path", "split", "year"])
    with pytest.raises(UserError, match="is in the train split"):
        parse_forget(f"where:{f}:year > 0", ds)


def test_nesting_up_to_the_limit_parses_and_evaluates():
    types = {"a": "num"}
    deep = "(" * where_mod.MAX_DEPTH + "a == 1" + ")" * where_mod.MAX_DEPTH
    assert parse_condition(deep, types)({"a": 1})
    nots = "not " * where_mod.MAX_DEPTH + "a == 1"  # an even number of nots: the condition itself
    assert parse_condition(nots, types)({"a": 1}) is (where_mod.MAX_DEPTH % 2 == 0)


def test_tokenizing_is_linear_in_the_length(monkeypatch):
    """Tokenizing 4x the text takes about 4x the time, not 16x (timed with the length limit lifted)."""
    import time

    monkeypatch.setattr(where_mod, "MAX_LENGTH", 10**8)

    def seconds(n: int) -> float:
        text = " or ".join(["a == 1", "s in ('x', 'y')", "`b c` != -2.5e3"] * n)
        start = time.perf_counter()
        where_mod.tokenize(text)
        return time.perf_counter() - start

    small, large = min(seconds(2000) for _ in range(3)), min(seconds(8000) for _ in range(3))
    assert large < 10 * small + 0.05, (small, large)


def test_long_number_cells_type_in_linear_time():
    import time

    start = time.perf_counter()
    rows, types = typed_rows([{"a": "1" * 100_000 + "x"}], ["a"])
    assert types == {"a": "str"} and time.perf_counter() - start < 1
    with pytest.raises(UserError, match="longer than 4000 digits"):
        typed_rows([{"a": "1" * 5000}], ["a"])


def test_non_ascii_digits_are_not_numbers():
    with pytest.raises(UserError, match="unexpected character"):
        parse_condition("a == \u0663", {"a": "num"})


def test_error_messages_quote_long_expressions_clipped():
    with pytest.raises(UserError) as e:
        parse_condition("a == 1 and " * 800 + "b", {"a": "num"})
    assert len(str(e.value)) < 300 and "\n" not in str(e.value)


def test_csv_is_streamed_a_long_csv_stops_at_the_first_row_too_many(digits, tmp_path, monkeypatch):
    f = tmp_path / "big.csv"
    f.write_text("index,site\n" + "".join(f"{i % 1797},A\n" for i in range(10**5)) + "1,B,C\n")
    read = []
    real = forget_mod._utf8_lines

    def counted(file, handle):
        for line in real(file, handle):
            read.append(line)
            yield line

    monkeypatch.setattr(forget_mod, "_utf8_lines", counted)
    limit = 2 * (len(digits.train) + len(digits.test)) + 100
    with pytest.raises(UserError, match=f"big.csv:{limit + 2}: more than {limit} rows"):
        parse_forget(f"where:{f}:site == 'A'", digits)
    assert len(read) < limit + 10  # the rest of the file was never read


def test_csv_bytes_that_are_not_utf8_name_their_line(digits, tmp_path):
    f = tmp_path / "latin.csv"
    f.write_bytes(b"index,site\n0,A\n1,B\n2,\xe9\n")
    with pytest.raises(UserError, match="latin.csv:4: not UTF-8 text"):
        parse_forget(f"where:{f}:site == 'A'", digits)
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffindex,site\n0,A\n1,B\n".encode())
    assert parse_forget(f"where:{bom}:site == 'A'", digits).train_forget.tolist() == [0]


def test_csv_too_many_bytes_is_refused_before_reading(digits, tmp_path, monkeypatch):
    f = tmp_path / "m.csv"
    f.write_text("index,site\n0,A\n1,B\n")
    monkeypatch.setattr(forget_mod, "MAX_CSV_BYTES", 10)
    with pytest.raises(UserError, match="too large for a metadata CSV"):
        parse_forget(f"where:{f}:site == 'A'", digits)
