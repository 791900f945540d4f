"""`langevin-unlearn datasets`: every dataset, whether it is on this machine, and where."""

from __future__ import annotations

from .common import add_data_flags, data_options

HELP = "list datasets, whether each is available here, and where it was found"


def add_parser(p) -> None:
    add_data_flags(p, dataset_default=None)
    p.add_argument("--seed", type=int, default=0, help="split seed (folder datasets)")
    p.add_argument("--medmnist-flag", default="pathmnist", help="which MedMNIST flag to look for (default pathmnist)")


def run(args) -> int:
    from ..data import DATASETS
    from ..report.tables import text_table

    options = data_options(args)
    rows = []
    for name in DATASETS.names():
        entry = DATASETS.get(name)
        arg = args.medmnist_flag if name == "medmnist" else None
        label = f"{name}:{entry.argument}" if entry.argument else name
        if name == "folder":
            rows.append(
                {
                    "dataset": label,
                    "available": "-",
                    "where": "any folder with one sub-folder per class",
                    "about": entry.summary,
                }
            )
            continue
        where = entry.locate(arg, options)
        rows.append(
            {
                "dataset": label,
                "available": "yes" if where else "no",
                "where": where or "(not found; see --data-dir)",
                "about": entry.summary,
            }
        )
    print(text_table(rows))
    return 0
