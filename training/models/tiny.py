"""``tiny_cnn``: a classifier of a few thousand parameters that trains in seconds on 32-64 px images."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from training.models._common import init_pretrained
from training.models.registry import register_model


class TinyCNN(nn.Module):
    """Three conv + BatchNorm + ReLU stages (``width``, 2x, 2x channels), global average pool, linear."""

    def __init__(self, in_channels: int = 3, num_classes: int = 1, width: int = 8) -> None:
        super().__init__()
        w1, w2 = width, 2 * width
        self.features = nn.Sequential(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(in_channels, w1, 3, padding=1, bias=False)),
                    ("bn1", nn.BatchNorm2d(w1)),
                    ("relu1", nn.ReLU()),
                    ("pool1", nn.MaxPool2d(2)),
                    ("conv2", nn.Conv2d(w1, w2, 3, padding=1, bias=False)),
                    ("bn2", nn.BatchNorm2d(w2)),
                    ("relu2", nn.ReLU()),
                    ("pool2", nn.MaxPool2d(2)),
                    ("conv3", nn.Conv2d(w2, w2, 3, padding=1, bias=False)),
                    ("bn3", nn.BatchNorm2d(w2)),
                    ("relu3", nn.ReLU()),
                ]
            )
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


@register_model(
    "tiny_cnn",
    task="binary",
    default_target_layer="features.relu3",
    input_channels=3,
    default_image_size=64,
    cpu_friendly=True,
    description="Tiny CNN (a few thousand parameters) for tests and smoke runs: binary or N classes.",
)
def tiny_cnn(*, num_classes: int, in_channels: int, pretrained: Any, width: int = 8) -> nn.Module:
    model = TinyCNN(in_channels, num_classes, width=width)
    init_pretrained(model, pretrained, None)
    return model
