"""`langevin-unlearn`: one sub-command per module; errors become one line and exit status 2.

Parsing and ``--help`` load no torch: each command module imports its heavy parts inside ``run``.
"""

from __future__ import annotations

import argparse

from ..core import threads
from . import (
    audit,
    bank,
    compare,
    compose,
    datasets,
    demo,
    embed,
    evaluate,
    inspect,
    report,
    study,
    sweep,
    sweep_plot,
    train,
    unlearn,
)
from .guard import OneLineParser, guarded

COMMANDS = {
    "train": train,
    "unlearn": unlearn,
    "compare": compare,
    "sweep": sweep,
    "study": study,
    "sweep-plot": sweep_plot,
    "bank": bank,
    "audit": audit,
    "compose": compose,
    "evaluate": evaluate,
    "inspect": inspect,
    "datasets": datasets,
    "demo": demo,
    "embed": embed,
    "report": report,
}


def thread_count(text: str) -> int:
    """--threads N: a whole number of at least 1 (argparse turns the error into one line, exit status 2)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="langevin-unlearn", description="Make a trained image classifier forget chosen training data."
    )
    parser.add_argument(
        "--threads",
        type=thread_count,
        default=None,
        metavar="N",
        help="CPU threads for torch (default: one for tiny models, else the cores other processes leave idle)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.commands = {}
    for name, module in COMMANDS.items():
        parser.commands[name] = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_parser(parser.commands[name])
    return parser


def run_guarded(fn, *args, parser: argparse.ArgumentParser | None = None) -> int:
    """Call fn(*args); bad input and known failures print one line (set LANGEVIN_DEBUG=1 for tracebacks).
    With ``parser``, every parsed number is first checked against validation.CLI_RULES, named as its flag."""
    return guarded(fn, *args, parser=parser)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2, already printed as one line)
        return e.code if isinstance(e.code, int) else 2
    threads.passive_wait()  # before torch loads: waiting OpenMP threads must not keep a core busy
    with threads.automatic(args.threads):  # the count is chosen once the data and model are known
        return run_guarded(COMMANDS[args.command].run, args, parser=parser.commands[args.command])
