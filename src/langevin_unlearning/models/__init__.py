"""Models (registered by name) and their safetensors checkpoints."""

from . import allcnn, resnet, timm_models  # noqa: F401  (registers models; timm itself is imported only when used)
from .checkpoint import load_checkpoint, model_spec, read_meta, save_checkpoint
from .registry import MODELS, create_model
from .timm_models import load_local_weights

__all__ = ["MODELS", "create_model", "load_checkpoint", "load_local_weights", "model_spec", "read_meta", "save_checkpoint"]
