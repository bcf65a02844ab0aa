"""Video ViT models: layers apart, sizes registered by name."""

from trainer.models.registry import SIZES, create_classifier, create_model, model_config

__all__ = ["SIZES", "create_classifier", "create_model", "model_config"]
