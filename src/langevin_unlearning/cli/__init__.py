"""`langevin-unlearn`: one sub-command per module; errors become one line and exit status 2."""

from __future__ import annotations

import argparse

from ..core.device import configure_threads
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


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="langevin-unlearn", description="Make a trained image classifier forget chosen training data."
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
    configure_threads()  # torch threads = physical cores unless OMP_NUM_THREADS says otherwise
    return run_guarded(COMMANDS[args.command].run, args, parser=parser.commands[args.command])
