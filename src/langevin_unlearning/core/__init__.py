"""The ground floor: the one error type, registries, the validation table, devices and seeds, content hashes."""

from .errors import UserError, check
from .registry import Registry
from .version import __version__

__all__ = ["Registry", "UserError", "__version__", "check"]
