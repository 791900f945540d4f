"""Forget specifications: which training images to forget, as four disjoint index sets.

class:K       all training images of class K; the test images of class K are the test forget set
class:K:F     a seeded fraction F of class K's training images; the rest stay in the remain set.
              The test forget set is still class K's test images (how well the class is recognised).
random:F      a seeded fraction F of the whole training set, the same fraction of every class (SalUn's
              "random data forgetting"). The test forget set is empty: its accuracies are measured on
              the training forget images.
indices:FILE  training indices, one per line ('#' comments allowed). The test forget set is empty.
where:FILE.csv:EXPR
              the images whose row of a metadata CSV satisfies EXPR (see data/where.py and
              docs/forget-specs.md). The CSV names each image by ``index`` (its position in the training
              split, or in the split its ``split`` column names) or by ``path`` (relative to a folder:
              dataset's root). Matching training images are the train forget set, matching test images
              the test forget set.
A then B      a sequence of requests: forget A, then B from the result. As a split it is the union (what the
              model retrained without both leaves out); ``request_splits`` gives each request's own split.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..core.errors import UserError
from .base import ImageDataset
from .index_file import read_indices
from .where import parse_condition, typed_rows


@dataclass(frozen=True)
class ForgetSplit:
    spec: str
    train_forget: Tensor
    train_remain: Tensor
    test_forget: Tensor
    test_remain: Tensor
    forget_class: int | None = None

    @classmethod
    def from_indices(
        cls, dataset: ImageDataset, train_forget, test_forget=None, *, spec: str = "indices"
    ) -> ForgetSplit:
        """A split from training indices to forget (and optionally test indices that measure them); the rest is remain."""
        forget = torch.as_tensor(train_forget, dtype=torch.int64).unique()
        test = torch.as_tensor([] if test_forget is None else test_forget, dtype=torch.int64).unique()
        if len(forget) == 0:
            raise UserError("the forget set is empty: pass at least one training index")
        for what, index, n in (("train", forget, len(dataset.train)), ("test", test, len(dataset.test))):
            if len(index) and (int(index[0]) < 0 or int(index[-1]) >= n):
                raise UserError(
                    f"{what} index {int(index[-1]) if int(index[0]) >= 0 else int(index[0])} is out of range: {dataset.name} has {n} {what} images"
                )
        return cls(spec, forget, _complement(forget, len(dataset.train)), test, _complement(test, len(dataset.test)))

    def summary(self) -> str:
        return (
            f"{self.spec}: forget {len(self.train_forget)} train / {len(self.test_forget)} test images, "
            f"remain {len(self.train_remain)} train / {len(self.test_remain)} test"
        )


def canonical_spec(spec: str) -> str:
    """The one spelling of ``spec`` that sidecars record, so two spellings of one forget set compare equal:
    surrounding whitespace dropped, ``class:03`` -> ``class:3``, ``class:3:0.50`` -> ``class:3:0.5``,
    ``class:3:1`` -> ``class:3`` (the whole class either way). A spec that does not parse is returned
    stripped, for ``parse_forget`` to refuse with its own message."""
    spec = spec.strip()
    if SEQUENCE in spec:
        return SEQUENCE.join(canonical_spec(part) for part in spec.split(SEQUENCE))
    kind, sep, rest = spec.partition(":")
    kind = kind.strip()
    if kind == "class":
        parts = [part.strip() for part in rest.split(":")]
        if len(parts) not in (1, 2) or not (parts[0].isascii() and parts[0].isdigit()):
            return spec
        k = int(parts[0])
        if len(parts) == 1:
            return f"class:{k}"
        try:
            fraction = float(parts[1])
        except ValueError:
            return spec
        if not 0 < fraction <= 1:
            return spec
        return f"class:{k}" if fraction == 1 else f"class:{k}:{fraction!r}"
    if kind == "indices":
        return f"indices:{rest.strip()}"
    if kind == "random":
        try:
            fraction = float(rest)
        except ValueError:
            return spec
        return f"random:{fraction!r}" if 0 < fraction < 1 else spec
    if kind == "where":
        cut = rest.lower().find(".csv:")  # as _split_where: the file part ends at the first .csv:
        if cut < 0:
            return f"where:{rest.strip()}"
        return f"where:{rest[: cut + 4].strip()}:{rest[cut + 5 :].strip()}"
    return spec


def parse_forget(spec: str, dataset: ImageDataset, seed: int = 0) -> ForgetSplit:
    """Turn a forget spec string into index sets over ``dataset``'s train and test splits; the split's
    ``spec`` is the canonical spelling (``canonical_spec``)."""
    spec = canonical_spec(spec)
    if SEQUENCE in spec:
        return _union(spec, request_splits(spec, dataset, seed), dataset)
    kind, _, rest = spec.partition(":")
    if kind == "random":
        return _random_split(spec, rest, dataset, seed)
    if kind == "class":
        return _class_split(spec, rest, dataset, seed)
    if kind == "indices":
        return _indices_split(spec, rest, dataset)
    if kind == "where":
        return _where_split(spec, rest, dataset)
    raise UserError(
        f"unknown forget spec {spec!r}; use class:K, class:K:FRACTION, random:FRACTION, indices:FILE, where:FILE.csv:EXPR or 'A then B'"
    )


SEQUENCE = " then "


def request_splits(spec: str, dataset: ImageDataset, seed: int = 0) -> list[ForgetSplit]:
    """The requests of ``A then B then ...``, each as the split it is served with: request i forgets its own
    images, and its remain set leaves out every image forgotten by requests 0..i (they are gone by then)."""
    parts = [part.strip() for part in canonical_spec(spec).split(SEQUENCE)]
    if len(parts) < 2 or not all(parts):
        raise UserError(f"bad sequence {spec!r}; use 'A then B', e.g. 'class:1 then class:3'")
    splits = [parse_forget(part, dataset, seed) for part in parts]
    out, gone = [], torch.zeros(len(dataset.train), dtype=torch.bool)
    for split in splits:
        gone[split.train_forget] = True
        out.append(
            ForgetSplit(
                split.spec, split.train_forget, (~gone).nonzero().flatten(), split.test_forget, split.test_remain
            )
        )
    return out


def _union(spec: str, splits: list[ForgetSplit], ds: ImageDataset) -> ForgetSplit:
    forget = torch.cat([s.train_forget for s in splits]).unique()
    test_forget = torch.cat([s.test_forget for s in splits]).unique()
    return ForgetSplit(
        spec, forget, _complement(forget, len(ds.train)), test_forget, _complement(test_forget, len(ds.test))
    )


def _random_split(spec: str, rest: str, ds: ImageDataset, seed: int) -> ForgetSplit:
    """A seeded fraction of every class (rounded per class), so the forget set has the training set's class mix."""
    try:
        fraction = float(rest)
    except ValueError:
        raise UserError(f"bad fraction in {spec!r}; use random:F with F in (0, 1), e.g. random:0.1") from None
    if not 0 < fraction < 1:
        raise UserError(f"fraction {fraction} in {spec!r} must be in (0, 1); use class:K to forget a whole class")
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(ds.num_classes):
        in_class = (ds.train.labels == c).nonzero().flatten()
        n = int(round(len(in_class) * fraction))
        chosen.append(in_class[torch.randperm(len(in_class), generator=g)[:n]])
    forget = torch.cat(chosen).sort().values
    if len(forget) == 0:
        raise UserError(f"forget spec {spec!r} selects no training images; use a larger fraction")
    empty = torch.empty(0, dtype=torch.int64)
    return ForgetSplit(spec, forget, _complement(forget, len(ds.train)), empty, torch.arange(len(ds.test)))


def _class_split(spec: str, rest: str, ds: ImageDataset, seed: int) -> ForgetSplit:
    parts = rest.split(":")
    if len(parts) not in (1, 2) or not parts[0].lstrip("-").isascii() or not parts[0].lstrip("-").isdigit():
        raise UserError(f"bad forget spec {spec!r}; use class:K or class:K:FRACTION, e.g. class:3 or class:3:0.5")
    k = int(parts[0])
    if not 0 <= k < ds.num_classes:
        raise UserError(f"class {k} is out of range: {ds.name} has classes 0..{ds.num_classes - 1}")
    fraction = 1.0
    if len(parts) == 2:
        try:
            fraction = float(parts[1])
        except ValueError:
            raise UserError(f"bad fraction in {spec!r}; use a number in (0, 1], e.g. class:{k}:0.5") from None
        if not 0 < fraction <= 1:
            raise UserError(f"fraction {fraction} in {spec!r} must be in (0, 1]")
    in_class = (ds.train.labels == k).nonzero().flatten()
    g = torch.Generator().manual_seed(seed)
    n = int(round(len(in_class) * fraction))
    forget = in_class[torch.randperm(len(in_class), generator=g)[:n]].sort().values
    if len(forget) == 0:
        raise UserError(f"forget spec {spec!r} selects no training images; use a larger fraction")
    test_forget = (ds.test.labels == k).nonzero().flatten()
    test_remain = (ds.test.labels != k).nonzero().flatten()
    return ForgetSplit(spec, forget, _complement(forget, len(ds.train)), test_forget, test_remain, forget_class=k)


def _indices_split(spec: str, path: str, ds: ImageDataset) -> ForgetSplit:
    file = Path(path)
    if not path or not file.is_file():
        raise UserError(f"forget spec {spec!r}: no such file {path!r}; write one training index per line")
    values = read_indices(file)  # index_file.py: ASCII digits only, within int64, text only, no duplicates
    if not values:
        raise UserError(f"{file} lists no indices; the forget set must not be empty")
    forget = torch.tensor(sorted(values), dtype=torch.int64)
    if forget[-1] >= len(ds.train):
        raise UserError(
            f"{file}: index {int(forget[-1])} is out of range: {ds.name} has {len(ds.train)} training images"
        )
    empty = torch.empty(0, dtype=torch.int64)
    return ForgetSplit(spec, forget, _complement(forget, len(ds.train)), empty, torch.arange(len(ds.test)))


def _where_split(spec: str, rest: str, ds: ImageDataset) -> ForgetSplit:
    file, expr = _split_where(spec, rest)
    # each image has at most one row; up to twice that many rows are read, so that a CSV slightly too long
    # gets the precise error (a repeated or absent image) and a far too long one stops early
    raw, columns = _read_csv(file, 2 * (len(ds.train) + len(ds.test)) + 100, len(ds.train) + len(ds.test))
    rows, types = typed_rows(raw, columns, strings=("path", "split"))
    condition = parse_condition(expr, types)  # unknown columns and type mismatches fail here, before any row
    located = _locate_rows(file, rows, columns, ds)
    chosen: dict[str, list[int]] = {"train": [], "test": []}
    for row, (split, position) in zip(rows, located):
        if condition(row):
            chosen[split].append(position)
    n_train, n_test = len(chosen["train"]), len(chosen["test"])
    if n_train == 0:
        raise UserError(
            f"forget spec {spec!r} matches {n_test} test and no training images of the {len(rows)} rows in {file}; "
            "the train forget set must not be empty: loosen the expression"
        )
    forget = torch.tensor(sorted(chosen["train"]), dtype=torch.int64)
    test_forget = torch.tensor(sorted(chosen["test"]), dtype=torch.int64)
    return ForgetSplit(
        spec, forget, _complement(forget, len(ds.train)), test_forget, _complement(test_forget, len(ds.test))
    )


def _split_where(spec: str, rest: str) -> tuple[Path, str]:
    """'FILE.csv:EXPR' -> (file, expr); the file part ends at the first '.csv:' (so paths may hold colons)."""
    cut = rest.lower().find(".csv:")
    file, expr = (rest[: cut + 4], rest[cut + 5 :]) if cut >= 0 else rest.partition(":")[::2]
    if not file or not expr.strip():
        raise UserError(f"bad forget spec {spec!r}; use where:FILE.csv:EXPR, e.g. where:meta.csv:'site == \"B\"'")
    if not Path(file).is_file():
        raise UserError(f"forget spec {spec!r}: no such file {file!r}; give a CSV with an index or path column")
    return Path(file), expr.strip()


MAX_CSV_BYTES = 512 * 2**20  # a metadata CSV beyond this cannot describe any dataset here row by row


def _read_csv(file: Path, max_rows: int, images: int) -> tuple[list[dict[str, str]], list[str]]:
    """The rows of a metadata CSV, read one at a time: a bad row is refused (with its line) as soon as it
    is read, and a CSV of more than ``max_rows`` rows (far more than the dataset's ``images``) is refused
    at the first row too many, not after reading the rest."""
    try:
        size = file.stat().st_size
        if size > MAX_CSV_BYTES:
            raise UserError(
                f"{file} is {size >> 20} MiB, too large for a metadata CSV (at most {MAX_CSV_BYTES >> 20} MiB); "
                "keep one row per image and only the columns the expression uses"
            )
        with open(file, "rb") as f:
            return _read_rows(file, csv.reader(_utf8_lines(file, f)), max_rows, images)
    except OSError as e:
        raise UserError(f"cannot read {file} ({e.strerror}); check the path and its permissions") from None


def _utf8_lines(file: Path, f):
    """The file's lines as text, decoded one line at a time so that bytes that are not UTF-8 are reported
    with their line (a newline byte never occurs inside a UTF-8 sequence, so splitting first is safe)."""
    for lineno, line in enumerate(f, 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise UserError(
                f"{file}:{lineno}: not UTF-8 text (byte {e.start + 1} of the line); save it as a UTF-8 CSV"
            ) from None
        yield text.removeprefix("\ufeff") if lineno == 1 else text  # a spreadsheet's BOM is not part of a name


def _read_rows(file: Path, reader, max_rows: int, images: int) -> tuple[list[dict[str, str]], list[str]]:
    try:
        header = next(reader, None)
        columns = [c.strip() for c in header or []]
        if not any(columns):
            raise UserError(f"{file} is empty; give a header row with an index or path column and metadata columns")
        if len(set(columns)) != len(columns):
            raise UserError(f"{file} repeats a column name in its header; give every column a distinct name")
        raw = []
        for cells in reader:
            if not cells:  # a blank line, as csv.DictReader skips it
                continue
            if len(cells) > len(columns):
                raise UserError(
                    f"{file}:{reader.line_num}: more cells than header columns; quote cells that contain commas"
                )
            if len(raw) == max_rows:
                raise UserError(
                    f"{file}:{reader.line_num}: more than {max_rows} rows, but the dataset has {images} images; "
                    "give each image at most one row"
                )
            raw.append(dict(zip(columns, cells)))
    except csv.Error as e:
        raise UserError(f"{file}:{reader.line_num}: not a valid CSV row ({e}); fix the quoting on that line") from None
    if not raw:
        raise UserError(f"{file} has a header but no rows")
    return raw, columns


def _locate_rows(file: Path, rows: list[dict], columns: list[str], ds: ImageDataset) -> list[tuple[str, int]]:
    """(split, position) of the image each row names; one-line errors for rows naming absent images."""
    if ("index" in columns) == ("path" in columns):
        raise UserError(
            f"{file} needs exactly one of the columns index (position in a split) or path (relative to a folder: dataset)"
        )
    has_split = "split" in columns
    for line, row in enumerate(rows, 2):
        if has_split and row["split"] not in ("train", "test"):
            raise UserError(f"{file}:{line}: split is {row['split'] or 'empty'!r}; use train or test")
    if "index" in columns:
        located = []
        for line, row in enumerate(rows, 2):
            split, i = (row["split"] if has_split else "train"), row["index"]
            if not isinstance(i, int) or i < 0:
                raise UserError(f"{file}:{line}: index {i!r} is not a non-negative integer")
            if i >= len(getattr(ds, split)):
                raise UserError(
                    f"{file}:{line}: index {i} names an image absent from {ds.name}: its {split} split has {len(getattr(ds, split))} images"
                )
            located.append((split, i))
    else:
        paths = ds.extra.get("paths")
        if not paths:
            raise UserError(f"{file} names images by path, but {ds.name} is not a folder: dataset; use an index column")
        where = {p: (s, i) for s in ("train", "test") for i, p in enumerate(paths[s])}
        located = []
        for line, row in enumerate(rows, 2):
            key = str(row["path"] or "").replace("\\", "/").removeprefix("./")
            if key not in where:
                raise UserError(
                    f"{file}:{line}: path {key!r} names an image absent from {ds.name}; paths are relative to {ds.source}"
                )
            if has_split and row["split"] != where[key][0]:
                raise UserError(
                    f"{file}:{line}: {key!r} is in the {where[key][0]} split of {ds.name}, but the CSV says {row['split']}"
                )
            located.append(where[key])
    seen: dict[tuple[str, int], int] = {}
    for line, key in enumerate(located, 2):
        if key in seen:
            raise UserError(f"{file}:{line} names the same image as line {seen[key]}; give each image one row")
        seen[key] = line
    return located


def _complement(idx: Tensor, n: int) -> Tensor:
    keep = torch.ones(n, dtype=torch.bool)
    keep[idx] = False
    return keep.nonzero().flatten()
