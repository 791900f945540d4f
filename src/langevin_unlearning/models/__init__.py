"""Models (registered by name) and their safetensors checkpoints."""

from . import allcnn, resnet  # noqa: F401  (registers models)
from .checkpoint import load_checkpoint, model_spec, read_meta, save_checkpoint
from .registry import MODELS, create_model

__all__ = ["MODELS", "create_model", "load_checkpoint", "model_spec", "read_meta", "save_checkpoint"]
