"""Resumable comparisons: each finished method's row is kept on disk, so an interrupted `compare`
(kill -9, power loss) loses only the method in flight, and a rerun with the same --name skips the rest.

The progress file ``.NAME.compare.json`` (next to NAME.csv) records what identifies the comparison
(original and retrained weights, forget spec, seeds) and each finished row with the method's settings.
A rerun whose inputs differ is refused rather than mixed in. The file is removed when the run completes.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..core.errors import UserError
from .atomic import write_json
from .files import object_problem, read_json_object

FORMAT = 1


def progress_path(results_dir: Path, name: str) -> Path:
    return Path(results_dir) / f".{name}.compare.json"


def compare_identity(setup, forget: str, seeds: list[int]) -> dict:
    return {
        "format": FORMAT,
        "original_weights_sha256": setup.original_meta.weights_sha256,
        "retrain_weights_sha256": setup.retrain_meta.weights_sha256 if setup.retrain_meta else None,
        "forget": forget,
        "forget_seed": setup.split_seed,
        "seeds": list(seeds),
    }


def _restore(row: dict) -> dict:
    """JSON null back to NaN for numbers (write_json wrote NaN as null)."""
    return {k: (math.nan if v is None and k not in ("error",) else v) for k, v in row.items()}


def load_done(path: Path, ident: dict, settings: dict[str, dict]) -> dict[str, dict]:
    """Finished rows of an interrupted run of the same comparison (by method), or {} when there is none."""
    if not path.is_file():
        return {}
    fix = "delete it to start over"
    data = read_json_object(path, "an interrupted comparison's progress", {"identity": dict, "rows": list}, fix=fix)
    recorded, rows = data["identity"], data["rows"]
    for i, r in enumerate(rows):
        problem = object_problem(r, {"settings": dict, "row": dict})
        if problem is None and not isinstance(r["row"].get("method"), str):
            problem = "lacks row.method"
        if problem:
            raise UserError(f"{path} (an interrupted comparison's progress): row {i + 1} {problem}; {fix}")
    if recorded != ident:
        differs = ", ".join(k for k in ident if recorded.get(k) != ident[k])
        raise UserError(
            f"an interrupted comparison with this --name used other inputs ({differs} differ); use another --name, or delete {path} to start over"
        )
    return {r["row"]["method"]: _restore(r["row"]) for r in rows if r["settings"] == settings.get(r["row"]["method"])}


def save_progress(path: Path, ident: dict, rows: list[dict], settings: dict[str, dict]) -> None:
    """Keep the finished method rows (not the reference rows, which are recomputed) on disk, atomically."""
    kept = [{"settings": settings[r["method"]], "row": r} for r in rows if r["method"] in settings]
    write_json(path, {"identity": ident, "rows": kept})


def finish(path: Path) -> None:
    path.unlink(missing_ok=True)
