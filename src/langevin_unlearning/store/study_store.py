"""The study store: one SQLite file (``STUDY_DIR/study.sqlite``), one row per finished cell.

A cell (method x forget set x seed) is committed in its own transaction the moment it finishes, so a study
killed mid-run loses only the cells in flight and a rerun runs exactly the cells that are missing. The key
of a cell is the hash of everything that made it (the recipe of its models, the method's full settings, the
forget spec, the seed), so a study whose file changes a setting runs the changed cells again and never
mixes their old rows into a table. The process that runs the study is the only writer.

    store = StudyStore.open(Path("results/fmnist"))
    if not store.has(key): store.add(key, cell_fields, metrics)
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from ..core.errors import UserError
from .sweep_store import canonical, connect, plain_json

FILENAME = "study.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY,          -- sha256 of (recipe, forget kind, spec, seed, method, full settings)
    kind TEXT NOT NULL,            -- the forget kind's title, e.g. "class-wise"
    spec TEXT NOT NULL,            -- the canonical forget spec
    seed INTEGER NOT NULL,
    method TEXT NOT NULL,
    settings TEXT NOT NULL,        -- JSON: every setting of the method
    metrics TEXT NOT NULL,         -- JSON: the raw evaluation row, seconds, machine, threads
    error TEXT,                    -- NULL, or why the cell failed (retried by the next run)
    finished_at REAL NOT NULL
);
"""
COLUMNS = {
    "meta": ["name", "value"],
    "cells": ["key", "kind", "spec", "seed", "method", "settings", "metrics", "error", "finished_at"],
}


class StudyStore:
    def __init__(self, folder: Path, conn: sqlite3.Connection):
        self.folder, self.conn = folder, conn

    @property
    def path(self) -> Path:
        return self.folder / FILENAME

    @classmethod
    def open(cls, folder: str | Path, *, create: bool = True) -> StudyStore:
        folder = Path(folder)
        if not create and not (folder / FILENAME).is_file():
            raise UserError(f"no study store at {folder / FILENAME}; run `langevin-unlearn study NAME` first")
        fix = "move it away or give another --results-dir"
        return cls(folder, connect(folder / FILENAME, SCHEMA, COLUMNS, "a study store", fix))

    def set_meta(self, name: str, value) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, canonical(plain_json(value))))

    def meta(self, name: str, default=None):
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else default

    def finished_keys(self) -> set[str]:
        return {k for (k,) in self.conn.execute("SELECT key FROM cells WHERE error IS NULL")}

    def add(self, key: str, kind: str, spec: str, seed: int, method: str, settings: dict, metrics: dict) -> None:
        """Commit one finished cell (all of the row or none of it); a failed cell's row is replaced by its retry."""
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    kind,
                    spec,
                    int(seed),
                    method,
                    canonical(plain_json(settings)),
                    json.dumps(plain_json(metrics), sort_keys=True),
                    metrics.get("error"),
                    time.time(),
                ),
            )

    def rows(self) -> list[dict]:
        cur = self.conn.execute(
            "SELECT key, kind, spec, seed, method, settings, metrics, error FROM cells ORDER BY kind, spec, seed, method"
        )
        return [
            {
                "key": key,
                "kind": kind,
                "spec": spec,
                "seed": seed,
                "method": method,
                "settings": json.loads(settings),
                "metrics": json.loads(metrics),
                "error": error,
            }
            for key, kind, spec, seed, method, settings, metrics, error in cur
        ]

    def close(self) -> None:
        self.conn.close()
