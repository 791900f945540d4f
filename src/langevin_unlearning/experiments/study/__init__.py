"""Studies: a declared grid of forget sets x methods x seeds, run into one store and reported with the field's columns."""

from .run import ORIGINAL, StudyReport, all_cells, cell_key, current_rows, run_study
from .spec import Cell, Study, load_study, parse_study, shipped

__all__ = [
    "ORIGINAL",
    "Cell",
    "Study",
    "StudyReport",
    "all_cells",
    "cell_key",
    "current_rows",
    "load_study",
    "parse_study",
    "run_study",
    "shipped",
]
