"""The package version (recorded in every sidecar and report)."""

__version__ = "0.1.0"
