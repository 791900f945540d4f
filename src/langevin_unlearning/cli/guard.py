"""How every command fails: exit status 2 and one line on stderr that names the fix, never a traceback.

``guarded`` runs a command: numbers are checked first (validation.CLI_RULES, named as the flag typed),
warnings print as one ``warning:`` line each, and the failures a user can fix become one ``error:`` line:
``UserError``, full disks and permissions (naming the path), out of memory. Anything else is a bug in
this toolkit: one line, exit status 1, ``LANGEVIN_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import warnings

from ..core.errors import UserError, while_doing
from ..core.validation import check_args, flag_names


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``error: ... (see PROG --help)``), exit status 2."""

    def error(self, message: str):
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def os_error_message(e: OSError) -> str:
    """One line for a failed file operation, naming the path and what to do."""
    path = e.filename if e.filename is not None else "a file"
    if e.errno == errno.ENOSPC:
        return f"no space left on the device while writing {path}; free some space or write elsewhere"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied for {path}; choose a folder you can write to, or fix its permissions"
    if e.errno == errno.EFBIG:
        return (
            f"{path} reached the file-size limit (`ulimit -f`, or the file system's largest file) while being written; "
            "raise the limit or write elsewhere"
        )
    if e.errno == errno.EROFS:
        return f"{path} is on a read-only file system; write elsewhere"
    if e.errno == errno.ENOENT:
        return f"{path} does not exist; check the path"
    if e.errno == errno.EISDIR:
        return f"{path} is a folder where a file was expected; pass a file path"
    if e.errno == errno.ENOTDIR:
        return f"a part of {path} is a file, not a folder; check the path"
    return f"{e.strerror or type(e).__name__} for {path}; check the path and try again"


def guarded(fn, *args, parser: argparse.ArgumentParser | None = None) -> int:
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            if parser is not None and args:
                check_args(args[0], flag_names(parser))
            return fn(*args) or 0
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except OSError as e:
            if os.environ.get("LANGEVIN_DEBUG"):
                raise
            print(f"error: {os_error_message(e)}", file=sys.stderr)
            return 2
        except MemoryError as e:
            print(
                f"error: out of memory{while_doing(e)}; use a smaller --batch-size or --image-size, or a machine with more memory",
                file=sys.stderr,
            )
            return 2
        except Exception as e:  # a bug in this toolkit: still one line unless debugging
            if os.environ.get("LANGEVIN_DEBUG"):
                raise
            if "out of memory" in str(e).lower():  # torch.cuda.OutOfMemoryError and CPU allocator failures
                print(
                    f"error: out of memory{while_doing(e)}; use a smaller --batch-size or --image-size", file=sys.stderr
                )
                return 2
            first = str(e).splitlines()[0][:200] if str(e) else ""
            print(
                f"error: internal error {type(e).__name__}: {first} (a bug: please report it with the output of LANGEVIN_DEBUG=1)",
                file=sys.stderr,
            )
            return 1
