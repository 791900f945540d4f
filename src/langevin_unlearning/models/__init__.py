"""Models, registered by name: every one takes [0,1] pixels and offers ``features``, ``classifier`` and ``blocks()``."""

from . import allcnn, resnet, timm_models  # noqa: F401  (registers models; timm itself is imported only when used)
from .registry import MODELS, create_model
from .timm_models import load_local_weights

__all__ = ["MODELS", "create_model", "load_local_weights"]
