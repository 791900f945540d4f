"""The sweep store: one SQLite file (``results/NAME/sweep.sqlite``), one row per finished (settings, seed) run.

A sweep with the audit objective (experiments/sweeps/run.py) keeps one row per finished grid point in its own
table, ``audits``: the audit's N runs are one result (their statistics need all N), so it is one row, and the
per-seed rows, which every older reader expects, are left exactly as they are.

A row is committed in its own transaction when its run finishes, so a rerun skips it, ``kill -9`` loses
only the runs in flight, and a reader never sees half a row (SQLite's journal guarantees it). The driver
is the only writer. The store also records the sweep's *identity* (method, original and retrained runs,
their weights' sha256, forget spec) and refuses runs of another identity under the same name.

    store = SweepStore.open(Path("results/NAME"), identity)
    if not store.has(key): store.add(key, settings, seed, metrics)
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..core.errors import UserError

FILENAME = "sweep.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,          -- sha256 of the canonical JSON of (method, settings, seed)
    method TEXT NOT NULL,
    settings TEXT NOT NULL,        -- JSON: every setting of the method, defaults included
    seed INTEGER NOT NULL,
    metrics TEXT NOT NULL,         -- JSON: the evaluation row (accuracies, MIA, timings, gaps to retrain)
    error TEXT,                    -- NULL, or why the run failed (such a row is retried by the next call)
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS reference (model TEXT NOT NULL, seed INTEGER NOT NULL, metrics TEXT NOT NULL, PRIMARY KEY (model, seed));
CREATE TABLE IF NOT EXISTS audits (
    key TEXT PRIMARY KEY,          -- sha256 of the canonical JSON of (method, settings, audit options, bank models)
    method TEXT NOT NULL,
    settings TEXT NOT NULL,        -- JSON: every setting of the method, defaults included
    n INTEGER NOT NULL,            -- runs of the method (seeds 0..n-1) and retrained models of the bank
    metrics TEXT NOT NULL,         -- JSON: F, LiRA AUC, remain F, and the runs' mean metrics and gaps
    error TEXT,
    finished_at REAL NOT NULL
);
"""
# what must match for two runs to belong to one sweep (paths are recorded but a moved run folder is fine)
IDENTITY_KEYS = ("method", "original_weights_sha256", "retrain_weights_sha256", "forget", "dataset")


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def run_key(method: str, settings: dict, seed: int) -> str:
    """Deterministic key of one run: same method, settings and seed -> same key, on any machine."""
    return hashlib.sha256(canonical({"method": method, "settings": settings, "seed": seed}).encode()).hexdigest()[:32]


def audit_key(method: str, settings: dict, audit: dict) -> str:
    """Key of one audited grid point: its method and settings and everything the audit depends on (``audit``:
    N, the bank's models, the audit's options), so another bank or another N is another row."""
    return hashlib.sha256(canonical({"method": method, "settings": settings, "audit": audit}).encode()).hexdigest()[:32]


class SweepStore:
    def __init__(self, folder: Path, conn: sqlite3.Connection):
        self.folder, self.conn = folder, conn

    @property
    def path(self) -> Path:
        return self.folder / FILENAME

    @classmethod
    def open(cls, folder: str | Path, identity: dict | None = None) -> SweepStore:
        """Open (creating if needed) the store in ``folder``; with ``identity``, check or record it."""
        folder = Path(folder)
        if identity is None and not (folder / FILENAME).is_file():
            raise UserError(
                f"no sweep store at {folder / FILENAME}; run `langevin-unlearn sweep --name {folder.name} ...` first"
            )
        conn = connect(folder / FILENAME, SCHEMA, COLUMNS, "a sweep store", "move it away or pick another --name")
        store = cls(folder, conn)
        if identity is not None:
            store._claim(identity)
        return store

    def _claim(self, identity: dict) -> None:
        old = self.identity()
        if old is None:
            with self.conn:
                self.conn.execute("INSERT INTO meta VALUES ('identity', ?)", (canonical(identity),))
            return
        diff = [k for k in IDENTITY_KEYS if old.get(k) != identity.get(k)]
        if diff:
            k = diff[0]
            raise UserError(
                f"sweep {self.folder.name!r} holds runs of {k} {_short(old.get(k))}, not {_short(identity.get(k))}; "
                "use another --name for a different method, model pair or forget set"
            )

    def identity(self) -> dict | None:
        row = self.conn.execute("SELECT value FROM meta WHERE name = 'identity'").fetchone()
        if not row:
            return None
        try:
            identity = json.loads(row[0])
        except (TypeError, ValueError):
            identity = None
        if not isinstance(identity, dict):
            raise UserError(
                f"{self.path} records an unreadable identity (not a JSON object); move it away or pick another --name"
            )
        return identity

    def has(self, key: str) -> bool:
        return self.conn.execute("SELECT 1 FROM runs WHERE key = ?", (key,)).fetchone() is not None

    def finished_keys(self) -> set[str]:
        """Keys of the runs that finished without an error (a rerun skips exactly these)."""
        return {k for (k,) in self.conn.execute("SELECT key FROM runs WHERE error IS NULL")}

    def add(self, key: str, method: str, settings: dict, seed: int, metrics: dict) -> None:
        """Commit one finished run (its own transaction: all of the row or none of it). A failed run's row
        is replaced when its retry finishes; a key is never stored twice."""
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    method,
                    canonical(settings),
                    int(seed),
                    json.dumps(plain_json(metrics), sort_keys=True),
                    metrics.get("error"),
                    time.time(),
                ),
            )

    def finished_audit_keys(self) -> set[str]:
        """Keys of the audited grid points that finished without an error."""
        return {k for (k,) in self.conn.execute("SELECT key FROM audits WHERE error IS NULL")}

    def add_audit(self, key: str, method: str, settings: dict, n: int, metrics: dict) -> None:
        """Commit one audited grid point in its own transaction (a failed one is replaced by its retry)."""
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO audits VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    method,
                    canonical(settings),
                    int(n),
                    json.dumps(plain_json(metrics), sort_keys=True),
                    metrics.get("error"),
                    time.time(),
                ),
            )

    def audit_rows(self) -> list[dict]:
        """Every audited grid point as {key, method, settings, n, metrics, error, finished_at}, oldest first."""
        cur = self.conn.execute(
            "SELECT key, method, settings, n, metrics, error, finished_at FROM audits ORDER BY finished_at, key"
        )
        return [
            {
                "key": key,
                "method": method,
                "settings": json.loads(settings),
                "n": n,
                "metrics": json.loads(metrics),
                "error": error,
                "finished_at": finished,
            }
            for key, method, settings, n, metrics, error, finished in cur
        ]

    def set_reference(self, model: str, seed: int, metrics: dict) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO reference VALUES (?, ?, ?)",
                (model, int(seed), json.dumps(plain_json(metrics), sort_keys=True)),
            )

    def reference(self, model: str = "retrain") -> dict[int, dict]:
        """seed -> metrics of the reference ``model`` ("retrain" or "original")."""
        return {
            seed: json.loads(m)
            for seed, m in self.conn.execute("SELECT seed, metrics FROM reference WHERE model = ?", (model,))
        }

    def rows(self) -> list[dict]:
        """Every stored run as {key, method, seed, settings, metrics, error, finished_at}, oldest first."""
        return list(self._rows())

    def _rows(self) -> Iterator[dict]:
        cur = self.conn.execute(
            "SELECT key, method, settings, seed, metrics, error, finished_at FROM runs ORDER BY finished_at, key"
        )
        for key, method, settings, seed, metrics, error, finished in cur:
            yield {
                "key": key,
                "method": method,
                "settings": json.loads(settings),
                "seed": seed,
                "metrics": json.loads(metrics),
                "error": error,
                "finished_at": finished,
            }

    def __len__(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def close(self) -> None:
        self.conn.close()


# the tables and columns SCHEMA makes: a file with other tables, or ours with other columns, is not a store
COLUMNS = {
    "meta": ["name", "value"],
    "runs": ["key", "method", "settings", "seed", "metrics", "error", "finished_at"],
    "reference": ["model", "seed", "metrics"],
    "audits": ["key", "method", "settings", "n", "metrics", "error", "finished_at"],
}


def connect(path: Path, schema: str, expected: dict[str, list[str]], what: str, fix: str) -> sqlite3.Connection:
    """Open (creating if needed) the SQLite store at ``path`` with ``schema``; a file that is not ``what`` (other
    tables or columns, not SQLite at all) is refused with ``fix`` and never changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=30)
        problem = schema_problem(conn, expected)  # before the schema is written: a foreign file is never changed
        if problem is None:
            conn.executescript(schema)
    except sqlite3.DatabaseError as e:
        raise UserError(f"{path} is not a readable {what.removeprefix('a ')} ({e}); {fix}") from None
    if problem:
        conn.close()
        raise UserError(f"{path} is not {what} ({problem}); {fix}")
    return conn


def schema_problem(conn: sqlite3.Connection, expected: dict[str, list[str]] = COLUMNS) -> str | None:
    """Why the SQLite file behind ``conn`` is not a store with the ``expected`` tables and columns (None for
    one, or for an empty file). Shared by the sweep and study stores."""
    tables = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    other = sorted(t for t in tables if t not in expected and not t.startswith("sqlite_"))
    if other:
        return f"it holds other tables: {', '.join(other[:3])}"
    for table in tables:
        if table in expected:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            if columns != expected[table]:
                return f"its {table} table has the columns {', '.join(columns)}, not {', '.join(expected[table])}"
    return None


def _short(v: Any) -> str:
    s = str(v)
    return repr(s[:12] + "…") if len(s) > 16 else repr(s)


def plain_json(obj: Any) -> Any:
    """JSON-able: NaN/inf become None (standard JSON), tensors/numpy scalars become numbers."""
    if isinstance(obj, dict):
        return {str(k): plain_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain_json(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
