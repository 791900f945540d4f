"""`langevin-unlearn`: one sub-command per module; errors become one line and exit status 2."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import UserError
from . import audit, bank, compare, datasets, demo, evaluate, inspect, train, unlearn

COMMANDS = {"train": train, "unlearn": unlearn, "compare": compare, "evaluate": evaluate, "inspect": inspect, "datasets": datasets, "demo": demo, "bank": bank, "audit": audit}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langevin-unlearn", description="Make a trained image classifier forget chosen training data.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_parser(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def run_guarded(fn, *args) -> int:
    """Call fn(*args); bad input and known failures print one line (set LANGEVIN_DEBUG=1 for tracebacks)."""
    try:
        return fn(*args) or 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # an unexpected failure still gets one line unless debugging
        if os.environ.get("LANGEVIN_DEBUG"):
            raise
        print(f"error: {type(e).__name__}: {e} (set LANGEVIN_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(COMMANDS[args.command].run, args)
