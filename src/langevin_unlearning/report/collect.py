"""Find and read what a results folder holds for one NAME; every part may be absent.

results/NAME.csv, NAME.md          compare (or unlearn / demo) table
results/NAME.provenance.json       versions, seeds, model and forget-set hashes (compare)
results/NAME.png, NAME.*.png       figures next to the table (demo)
results/NAME/sweep.sqlite          sweep store; results/NAME/plots/*.png its heatmaps and Pareto front
results/NAME/audit.json            per-example audit summary; audit_examples.csv one row per example
results/NAME/**/*.png              any other figure
"""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import UserError
from ..core.validation import warn
from ..store.paths import check_name

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
MAX_IMAGE_BYTES = 20 << 20  # a bigger file is listed, not embedded
SWEEP_ROWS = 15  # rows shown per sweep table


@dataclass
class SqliteTable:
    name: str
    columns: list[str]
    count: int
    rows: list[tuple]
    order: str  # how the shown rows were chosen


@dataclass
class Results:
    name: str
    results_dir: Path
    table: list[dict] | None = None  # NAME.csv rows (strings, as read)
    notes: str = ""  # the prose of NAME.md (the lines that are not the table)
    provenance: dict | None = None
    audit: dict | None = None
    audit_examples: list[dict] | None = None
    sweep: list[SqliteTable] | None = None
    per_class: list[tuple[str, list[float]]] = field(default_factory=list)  # (model, accuracy per class)
    classes: list[str] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # files present but unreadable, one line each

    @property
    def folder(self) -> Path:
        return self.results_dir / self.name

    def relative(self, path: Path) -> str:
        return path.relative_to(self.results_dir).as_posix()


def known_names(results_dir: Path) -> list[str]:
    if not results_dir.is_dir():
        return []
    names = {p.name for p in results_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}
    names |= {p.name.split(".")[0] for p in results_dir.glob("*.csv")}
    return sorted(names)


def check_results_name(name: str, results_dir: Path) -> None:
    """A plain name (store.paths.check_name) that names something in ``results_dir``."""
    check_name(name, "NAME")
    if not results_dir.is_dir():
        raise UserError(f"results folder {results_dir} does not exist; pass --results-dir DIR")
    if not any(
        (results_dir / f"{name}{suffix}").exists() for suffix in ("", ".csv", ".md", ".provenance.json", ".png")
    ):
        known = known_names(results_dir)
        hint = f"known: {', '.join(known)}" if known else "it holds no results yet"
        raise UserError(
            f"no results named {name!r} in {results_dir} ({hint}); run `langevin-unlearn compare --name {name}` first"
        )


def collect(name: str, results_dir: str | Path) -> Results:
    results_dir = Path(results_dir)
    check_results_name(name, results_dir)
    r = Results(name, results_dir)
    base = results_dir / name
    r.table = _read(r, results_dir / f"{name}.csv", _read_csv)
    r.notes = _read(r, results_dir / f"{name}.md", _markdown_prose) or ""
    r.provenance = _read(r, results_dir / f"{name}.provenance.json", _read_json_object)
    r.audit = _read(r, base / "audit.json", _read_json_object)
    r.audit_examples = _read(r, base / "audit_examples.csv", _read_csv)
    r.sweep = _read(r, base / "sweep.sqlite", _read_sqlite)
    r.images = _images(results_dir, name)
    _per_class(r)
    return r


def _read(r: Results, path: Path, reader):
    if not path.is_file():
        return None
    try:
        return reader(path)
    except (OSError, ValueError, UnicodeDecodeError, csv.Error, sqlite3.Error) as e:
        _problem(r, f"could not read {r.relative(path)}: {type(e).__name__}: {e}")
        return None


def _problem(r: Results, message: str) -> None:
    """An input that is there but unreadable: listed in the report, and a ``warning:`` line on the command
    line too, since a report that renders fine would otherwise hide that part of the results is missing."""
    line = message.splitlines()[0] if message else message
    r.problems.append(line)
    warn(f"{line}; the report leaves it out")


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return [dict(row) for row in csv.DictReader(f)]


def _read_json_object(path: Path) -> dict:
    obj = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    return obj


def _markdown_prose(path: Path) -> str:
    """NAME.md without its title and table: the sentence that says what was compared, and the column notes."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.lstrip().startswith(("|", "# "))]
    return "\n".join(lines).strip()


def _read_sqlite(path: Path) -> list[SqliteTable]:
    """Each table of a SQLite file: a sweep's runs expanded (see ``_expand_runs``), any other table's first rows."""
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = [
            n
            for (n,) in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        tables = []
        for t in names:
            q = '"' + t.replace('"', '""') + '"'
            columns = [c[1] for c in con.execute(f"PRAGMA table_info({q})")]
            count = con.execute(f"SELECT COUNT(*) FROM {q}").fetchone()[0]
            expanded = (
                _expand_runs(t, con.execute(f"SELECT * FROM {q}"), columns, count)
                if {"settings", "metrics"} <= set(columns)
                else None
            )
            if expanded is not None:
                tables.append(expanded)
            elif "gap" in columns:  # the rows closest to retraining first
                tables.append(
                    SqliteTable(
                        t,
                        columns,
                        count,
                        con.execute(f"SELECT * FROM {q} ORDER BY gap IS NULL, gap LIMIT {SWEEP_ROWS}").fetchall(),
                        "lowest gap first",
                    )
                )
            else:
                tables.append(
                    SqliteTable(
                        t, columns, count, con.execute(f"SELECT * FROM {q} LIMIT {SWEEP_ROWS}").fetchall(), "first rows"
                    )
                )
        return tables
    finally:
        con.close()


SWEEP_METRICS = (
    "forget_acc",
    "remain_acc",
    "test_acc",
    "mia",
    "mia_efficacy",
    "avg_gap",
    "distance",
    "gap",
    "unlearn_seconds",
    "speedup",
)


def _expand_runs(name: str, cursor, columns: list[str], count: int) -> SqliteTable | None:
    """A sweep's runs table (JSON ``settings`` and ``metrics`` per row) as one column per varying setting and per metric."""
    runs = []
    for values in cursor:
        row = dict(zip(columns, values))
        try:
            settings, metrics = json.loads(row["settings"] or "{}"), json.loads(row["metrics"] or "{}")
        except (TypeError, ValueError):
            return None
        if not isinstance(settings, dict) or not isinstance(metrics, dict):
            return None
        runs.append((row, settings, metrics))
    keys = list(dict.fromkeys(k for _, s, _ in runs for k in s))
    varying = [k for k in keys if len({json.dumps(s.get(k), sort_keys=True) for _, s, _ in runs}) > 1]
    shown = [m for m in SWEEP_METRICS if any(isinstance(x.get(m), (int, float)) for _, _, x in runs)]
    rank = next((m for m in ("avg_gap", "distance", "gap") if m in shown), None)

    def key(run):
        row, _, metrics = run
        v = metrics.get(rank) if rank else None
        return (
            bool(row.get("error")),
            not isinstance(v, (int, float)) or math.isnan(v),
            v if isinstance(v, (int, float)) else 0,
        )

    runs.sort(key=key)
    extra = [c for c in ("method", "seed") if c in columns]
    errors = any(row.get("error") for row, _, _ in runs)
    header = [*extra[:1], *varying, *extra[1:], *shown, *(["error"] if errors else [])]
    rows = [
        tuple(
            [
                *(row[c] for c in extra[:1]),
                *(s.get(k) for k in varying),
                *(row[c] for c in extra[1:]),
                *(m.get(k) for k in shown),
                *([row.get("error") or ""] if errors else []),
            ]
        )
        for row, s, m in runs[:SWEEP_ROWS]
    ]
    return SqliteTable(name, header, count, rows, f"lowest {rank} first" if rank else "in stored order")


def _images(results_dir: Path, name: str) -> list[Path]:
    beside = [
        p
        for p in sorted(results_dir.glob(f"{name}.*"))
        if p.suffix.lower() in IMAGE_TYPES and p.stem.split(".")[0] == name
    ]
    inside = (
        sorted(p for p in (results_dir / name).rglob("*") if p.suffix.lower() in IMAGE_TYPES and p.is_file())
        if (results_dir / name).is_dir()
        else []
    )
    return [p for p in beside + inside if p.is_file()]


def floats(text) -> list[float]:
    """'0.98 1 nan' -> [0.98, 1.0, nan]; anything unreadable -> []."""
    try:
        return [float(v) for v in str(text).split()]
    except ValueError:
        return []


def number(text) -> float | None:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def label_column(rows: list[dict]) -> str:
    keys = list(rows[0]) if rows else []
    return next((k for k in ("method", "model") if k in keys), keys[0] if keys else "method")


def row_labels(rows: list[dict]) -> list[str]:
    """Each row's model / method name, made unique where several rows share one (by run folder, seed or row number)."""
    column = label_column(rows)
    labels = [str(row.get(column) or "?") for row in rows]
    for label in {x for x in labels if labels.count(x) > 1}:
        same = [i for i, x in enumerate(labels) if x == label]
        for key in ("run", "seed"):
            values = [str(rows[i].get(key) or "") for i in same]
            if all(values) and len(set(values)) == len(values):
                for i, v in zip(same, values):
                    labels[i] = f"{label} · {Path(v).name if key == 'run' else f'seed {v}'}"
                break
        else:
            for k, i in enumerate(same, 1):
                labels[i] = f"{label} #{k}"
    return labels


def _per_class(r: Results) -> None:
    """Per-class accuracy from the table's ``per_class_acc`` column, or the metrics.json of the runs it lists."""
    if r.provenance and isinstance(r.provenance.get("classes"), list):
        r.classes = [str(c) for c in r.provenance["classes"]]
    if not r.table:
        return
    for label, row in zip(row_labels(r.table), r.table):
        values = floats(row.get("per_class_acc", ""))
        if not values and row.get("run"):
            values = _run_per_class(r, Path(row["run"]))
        if values:
            r.per_class.append((label, values))
    n = max((len(v) for _, v in r.per_class), default=0)
    r.per_class = [(m, v) for m, v in r.per_class if len(v) == n]
    if len(r.classes) != n:
        r.classes = [str(i) for i in range(n)]


def _run_per_class(r: Results, run: Path) -> list[float]:
    for candidate in (run, r.results_dir.parent / run):
        metrics = candidate / "metrics.json"
        if metrics.is_file():
            try:
                data = _read_json_object(metrics)
            except (OSError, ValueError) as e:
                _problem(r, f"could not read {metrics}: {e}")
                return []
            values = data.get("per_class_acc") or []
            if not r.classes:
                r.classes = _run_classes(candidate)
            return [float(v) if v is not None else math.nan for v in values]
    return []


def _run_classes(run: Path) -> list[str]:
    try:
        meta = _read_json_object(run / "model.json")
    except (OSError, ValueError):
        return []
    return [str(c) for c in meta.get("classes", [])]
