"""Video ViT models: layers apart, one trunk, sizes registered by name, image teachers."""

from trainer.models.registry import SIZES, build, check_args, create_classifier, create_model, model_config, size_of

__all__ = ["SIZES", "build", "check_args", "create_classifier", "create_model", "model_config", "size_of"]
