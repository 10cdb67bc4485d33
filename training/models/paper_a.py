"""Paper A (binary ROP yes/no): ROPBaseCNN and ROPResCNN."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models import resnet50

from training.models._common import init_pretrained, replace_conv_in_channels
from training.models.registry import register_model

PAPER_A_LOST = (
    "Paper A's text lost the conv kernel and pool sizes and the L2 weight: defaults chosen are "
    "3x3 convolutions (valid padding), 2x2 max-pools and L2 1e-4 on the two hidden dense layers.",
)


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


class RopBaseCNN(nn.Module):
    """Paper A's ROPBaseCNN, layer for layer.

    conv 32 (stride 2) + ReLU -> max-pool (stride 2) -> conv 64 (stride 2) + ReLU -> max-pool
    (stride 2) -> dropout 0.25 -> flatten -> dense 128 + ReLU -> dropout 0.5 -> dense 64 + ReLU ->
    dense ``num_classes`` (a logit; the sigmoid belongs to the loss / predictor).

    The numbers the paper lost are arguments: ``kernel_size`` (3), ``pool_size`` (2) and
    ``l2_weight`` (1e-4, applied by the engine through ``l2_penalty`` on ``l2_parameters``).
    The flatten size is computed here from ``image_size``, so any input size works.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 1,
        image_size: int | Sequence[int] = 300,
        kernel_size: int = 3,
        pool_size: int = 2,
        dropout_conv: float = 0.25,
        dropout_dense: float = 0.5,
        l2_weight: float = 1e-4,
    ) -> None:
        super().__init__()
        self.l2_weight = float(l2_weight)
        self.features = nn.Sequential(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(in_channels, 32, kernel_size, stride=2)),
                    ("relu1", nn.ReLU()),
                    ("pool1", nn.MaxPool2d(pool_size, stride=2)),
                    ("conv2", nn.Conv2d(32, 64, kernel_size, stride=2)),
                    ("relu2", nn.ReLU()),
                    ("pool2", nn.MaxPool2d(pool_size, stride=2)),
                    ("dropout", nn.Dropout(dropout_conv)),
                ]
            )
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, *_pair(image_size))).numel()
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("flatten", nn.Flatten()),
                    ("dense1", nn.Linear(flat, 128)),
                    ("relu1", nn.ReLU()),
                    ("dropout", nn.Dropout(dropout_dense)),
                    ("dense2", nn.Linear(128, 64)),
                    ("relu2", nn.ReLU()),
                    ("logit", nn.Linear(64, num_classes)),
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def l2_parameters(self) -> list[torch.Tensor]:
        """The weights paper A regularises with L2: the two hidden dense layers (not biases)."""
        return [self._dense(name).weight for name in ("dense1", "dense2")]

    def l2_penalty(self) -> torch.Tensor:
        """Keras-style ``l2_weight * sum(w ** 2)`` over ``l2_parameters``, to add to the loss."""
        return self.l2_weight * torch.stack([p.pow(2).sum() for p in self.l2_parameters()]).sum()

    def _dense(self, name: str) -> nn.Linear:
        layer = self.classifier.get_submodule(name)
        if not isinstance(layer, nn.Linear):  # only if the layer table above is edited wrongly
            raise TypeError(f"classifier.{name} is a {type(layer).__name__}, not a dense layer")
        return layer


@register_model(
    "rop_base_cnn",
    task="binary",
    default_target_layer="features.relu2",
    input_channels=3,
    default_image_size=300,
    paper_exact=True,
    cpu_friendly=True,
    description="Paper A's ROPBaseCNN: two strided convs, two dense layers, one logit (300x300 RGB).",
    notes=PAPER_A_LOST,
)
def rop_base_cnn(
    *,
    num_classes: int,
    in_channels: int,
    pretrained: Any,
    image_size: int | list[int] = 300,
    kernel_size: int = 3,
    pool_size: int = 2,
    dropout_conv: float = 0.25,
    dropout_dense: float = 0.5,
    l2_weight: float = 1e-4,
) -> nn.Module:
    model = RopBaseCNN(
        in_channels=in_channels,
        num_classes=num_classes,
        image_size=image_size,
        kernel_size=kernel_size,
        pool_size=pool_size,
        dropout_conv=dropout_conv,
        dropout_dense=dropout_dense,
        l2_weight=l2_weight,
    )
    init_pretrained(model, pretrained, None)
    return model


@register_model(
    "rop_res_cnn",
    task="binary",
    default_target_layer="layer4",
    input_channels=3,
    default_image_size=300,
    paper_exact=True,
    pretrained_kind="resnet50",
    description="Paper A's ROPResCNN: ResNet-50 (ImageNet init when cached), global average pooling, one logit.",
)
def rop_res_cnn(*, num_classes: int, in_channels: int, pretrained: Any) -> nn.Module:
    model = resnet50(weights=None, num_classes=num_classes)
    model.conv1 = replace_conv_in_channels(model.conv1, in_channels)
    init_pretrained(model, pretrained, "resnet50")
    return model
