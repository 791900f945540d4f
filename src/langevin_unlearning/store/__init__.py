"""Everything on disk: atomic writes, checked output paths, run folders (safetensors + JSON sidecar), results
tables, the sweep store, resumable progress, provenance, and the checks that inputs belong together."""

from .checkpoint import load_checkpoint, read_meta, save_checkpoint

__all__ = ["load_checkpoint", "read_meta", "save_checkpoint"]
