"""Model registry and the built-in architectures (importing this package registers them all).

>>> from training.models import create_model, list_models, model_info
>>> model = create_model("tiny_cnn", num_classes=3, in_channels=1)
"""

from __future__ import annotations

from training.models import fast, inception, maskrcnn, paper_a, tiny, unet  # noqa: F401  (registration)
from training.models.inception import main_logits
from training.models.maskrcnn import seg_only_stage
from training.models.paper_a import RopBaseCNN
from training.models.registry import (
    TASKS,
    ModelError,
    ModelInfo,
    create_model,
    list_models,
    model_info,
    register_model,
)
from training.models.summary import LayerRow, layer_table

__all__ = [
    "TASKS",
    "LayerRow",
    "ModelError",
    "ModelInfo",
    "RopBaseCNN",
    "create_model",
    "layer_table",
    "list_models",
    "main_logits",
    "model_info",
    "register_model",
    "seg_only_stage",
]
