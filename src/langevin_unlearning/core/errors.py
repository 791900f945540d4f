"""The one exception type users see: a single readable line that names the fix."""

import contextlib
from collections.abc import Iterator


class UserError(Exception):
    """Bad input. The CLI prints ``error: <message>`` and exits with status 2, no traceback."""


def check(condition: bool, message: str) -> None:
    """Raise ``UserError(message)`` unless ``condition`` holds."""
    if not condition:
        raise UserError(message)


@contextlib.contextmanager
def doing(step: str) -> Iterator[None]:
    """Name the step that runs inside (``with doing("training the model"):``): an exception raised in it
    carries the innermost step, so the CLI's message about a resource (out of memory) can say where."""
    try:
        yield
    except BaseException as e:
        if getattr(e, "step", None) is None:
            with contextlib.suppress(AttributeError, TypeError):
                e.step = step
        raise


def while_doing(e: BaseException) -> str:
    """`` while <step>`` for the step ``e`` was raised in, or "" when none was named."""
    step = getattr(e, "step", None)
    return f" while {step}" if isinstance(step, str) else ""
