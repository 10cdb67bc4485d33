"""Fast models for laptops without a GPU: ResNet-18 / MobileNetV3 classifiers, LR-ASPP line segmenter.

All take any number of input channels (ImageNet RGB kernels are averaged over channels when
pretrained weights are loaded) and ``num_classes=1`` (binary, one logit) or more (multiclass).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from torchvision.models import mobilenet_v3_large, mobilenet_v3_small, resnet18
from torchvision.models.segmentation import lraspp_mobilenet_v3_large

from training.models._common import init_pretrained, replace_conv_in_channels
from training.models.origin import set_pretrained_source
from training.models.registry import ModelError, register_model
from training.weights import find_pretrained, hub_checkpoint_dir, load_pretrained, resolve_pretrained

log = logging.getLogger(__name__)


@register_model(
    "resnet18_cls",
    task="binary",
    default_target_layer="layer4",
    input_channels=3,
    default_image_size=224,
    cpu_friendly=True,
    pretrained_kind="resnet18",
    description="ResNet-18 classifier (ImageNet init when cached): binary (1 logit) or N classes.",
)
def resnet18_cls(*, num_classes: int, in_channels: int, pretrained: Any) -> nn.Module:
    model = resnet18(weights=None, num_classes=num_classes)
    model.conv1 = replace_conv_in_channels(model.conv1, in_channels)
    init_pretrained(model, pretrained, "resnet18")
    return model


@register_model(
    "resnet18_hybrid",
    task="multiclass",
    default_target_layer="layer4",
    input_channels=2,
    default_image_size=224,
    default_num_classes=3,
    cpu_friendly=True,
    pretrained_kind="resnet18",
    description="Paper B's hybrid input on a CPU: ResNet-18 on grey + the demarcation-line mask (2 channels); "
    "at prediction time the mask comes from a line segmenter.",
)
def resnet18_hybrid(*, num_classes: int, in_channels: int, pretrained: Any) -> nn.Module:
    return resnet18_cls(num_classes=num_classes, in_channels=in_channels, pretrained=pretrained)


@register_model(
    "mobilenetv3_cls",
    task="binary",
    default_target_layer="features",
    input_channels=3,
    default_image_size=224,
    cpu_friendly=True,
    pretrained_kind="mobilenet_v3_large",
    description="MobileNetV3 classifier (variant 'large' or 'small', ImageNet init when cached): "
    "binary (1 logit) or N classes.",
)
def mobilenetv3_cls(
    *, num_classes: int, in_channels: int, pretrained: Any, variant: str = "large", dropout: float = 0.2
) -> nn.Module:
    builders = {"large": mobilenet_v3_large, "small": mobilenet_v3_small}
    if variant not in builders:
        raise ModelError(f"variant must be 'large' or 'small', got {variant!r}")
    model = builders[variant](weights=None, num_classes=num_classes, dropout=dropout)
    first = model.features[0][0]
    model.features[0][0] = replace_conv_in_channels(first, in_channels)
    init_pretrained(model, pretrained, f"mobilenet_v3_{variant}")
    return model


class LRASPPLine(nn.Module):
    """torchvision's LR-ASPP MobileNetV3-Large returning the logits tensor ``(N, C, H, W)``
    (torchvision's model returns ``{"out": ...}``); the network is ``self.net``."""

    def __init__(self, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.net = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes)
        stem = self.net.backbone["0"]
        stem[0] = replace_conv_in_channels(stem[0], in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["out"]


@register_model(
    "lraspp_line",
    task="segmentation",
    default_target_layer="net.backbone.16",
    input_channels=3,
    default_image_size=512,
    cpu_friendly=True,
    pretrained_kind="lraspp_mobilenet_v3_large",
    description="LR-ASPP MobileNetV3-Large demarcation-line segmenter: 1-channel logit map at input size.",
)
def lraspp_line(*, num_classes: int, in_channels: int, pretrained: Any) -> nn.Module:
    model = LRASPPLine(num_classes, in_channels)
    set_pretrained_source(model, None)
    if pretrained is False or pretrained is None:
        return model
    if pretrained not in ("auto", True):  # a given file: torchvision LR-ASPP state dict
        init_pretrained(model, pretrained, None, into=model.net)
        return model
    coco = find_pretrained("lraspp_mobilenet_v3_large")
    if coco is not None:
        load_pretrained(model.net, coco)
        set_pretrained_source(model, coco)
        return model
    log.info(
        "COCO weights for lraspp_mobilenet_v3_large not found in %s; trying the ImageNet backbone", hub_checkpoint_dir()
    )
    imagenet = resolve_pretrained(pretrained, "mobilenet_v3_large")
    if imagenet is not None:
        load_pretrained(model.net.backbone, imagenet, source_prefix="features.")
        set_pretrained_source(model, imagenet)
    return model
