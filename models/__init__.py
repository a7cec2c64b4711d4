"""Model architectures and the model registry.

import models
models.list_models()
net = models.build_model("claresnet", n_bands=30, n_classes=16, patch_size=11)
logits = net(x)              # x: N x T x P x P
features = net.embed(x)      # N x D, for t-SNE and class-centroid distances
"""

from .registry import (
    HyperparameterError,
    ModelEntry,
    UnknownModelError,
    build_model,
    get_model_entry,
    list_models,
    register_model,
)

__all__ = [
    "HyperparameterError",
    "ModelEntry",
    "UnknownModelError",
    "build_model",
    "get_model_entry",
    "list_models",
    "register_model",
]
