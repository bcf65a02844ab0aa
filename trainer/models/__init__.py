"""Video ViT models: layers apart, sizes registered by name."""

from trainer.models.registry import SIZES, create_model, model_config

__all__ = ["SIZES", "create_model", "model_config"]
