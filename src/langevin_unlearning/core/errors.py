"""The one exception type users see: a single readable line that names the fix."""


class UserError(Exception):
    """Bad input. The CLI prints ``error: <message>`` and exits with status 2, no traceback."""


def check(condition: bool, message: str) -> None:
    """Raise ``UserError(message)`` unless ``condition`` holds."""
    if not condition:
        raise UserError(message)
