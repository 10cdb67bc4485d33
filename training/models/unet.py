"""A compact U-Net for demarcation-line segmentation (``unet_small``) and a tiny one for tests.

Encoder: ``depth`` stages of two 3x3 conv + BatchNorm + ReLU, widths ``base * 2**i``, 2x2
max-pool between them; decoder: bilinear upsampling to the skip's size (so any input size
works, odd sizes included), concatenation, two 3x3 convs; a 1x1 conv gives ``num_classes``
logit maps at the input size.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from training.models._common import init_pretrained
from training.models.registry import ModelError, register_model


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    )


class UNet(nn.Module):
    """U-Net with ``depth`` down-sampling steps and ``base`` channels in the first stage."""

    def __init__(self, in_channels: int = 3, num_classes: int = 1, base: int = 16, depth: int = 4) -> None:
        super().__init__()
        if depth < 1 or base < 1:
            raise ModelError(f"U-Net needs depth >= 1 and base >= 1, got depth={depth}, base={base}")
        widths = [base * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([_double_conv(in_channels, widths[0])])
        self.down.extend(_double_conv(widths[i], widths[i + 1]) for i in range(depth - 1))
        self.bottleneck = _double_conv(widths[depth - 1], widths[depth])
        self.up = nn.ModuleList(_double_conv(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2, ceil_mode=True)
        x = self.bottleneck(x)
        for block, skip in zip(self.up, reversed(skips), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


@register_model(
    "unet_small",
    task="segmentation",
    default_target_layer="bottleneck",
    input_channels=3,
    default_image_size=256,
    cpu_friendly=True,
    description="Compact U-Net line segmenter (base width 16, depth 4): 1-channel logit map at input size.",
)
def unet_small(*, num_classes: int, in_channels: int, pretrained: Any, base: int = 16, depth: int = 4) -> nn.Module:
    model = UNet(in_channels, num_classes, base=base, depth=depth)
    init_pretrained(model, pretrained, None)
    return model


@register_model(
    "tiny_unet",
    task="segmentation",
    default_target_layer="bottleneck",
    input_channels=3,
    default_image_size=64,
    cpu_friendly=True,
    description="Tiny U-Net (base 4, depth 2) for tests and smoke runs on 32-64 px images.",
)
def tiny_unet(*, num_classes: int, in_channels: int, pretrained: Any, base: int = 4, depth: int = 2) -> nn.Module:
    model = UNet(in_channels, num_classes, base=base, depth=depth)
    init_pretrained(model, pretrained, None)
    return model
