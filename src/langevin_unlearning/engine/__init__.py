"""The training engine: sync-free steps, CUDA-graph capture, device-resident batches, the loop, prediction."""

from .predict import accuracy, predict_logits
from .train import TrainConfig, TrainResult, train_model

__all__ = ["TrainConfig", "TrainResult", "accuracy", "predict_logits", "train_model"]
