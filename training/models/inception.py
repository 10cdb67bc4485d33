"""Paper B's stage classifier: torchvision Inception v3 on 1 (gray) or 2 (gray + line mask) channels.

Output contract (torchvision's): in eval mode, or with ``aux_logits=False``, the model returns
the logits ``(N, num_classes)``; in training mode with ``aux_logits=True`` it returns
``torchvision.models.InceptionOutputs(logits, aux_logits)``, a named tuple whose auxiliary head
the loss weights in (torchvision's recipe: ``loss(logits) + 0.4 * loss(aux_logits)``).
``main_logits(output)`` takes the logits from either form.

The auxiliary head here is torchvision's with one change for small inputs: when its feature map
is too small for the 5x5 pooling / convolution (inputs below ~299 px), it is average-pooled up to
5x5 instead of failing. At paper B's 299x299 it is exactly torchvision's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.inception import (
    BasicConv2d,
    Inception3,
    InceptionA,
    InceptionAux,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE,
    InceptionOutputs,
)

from training.models._common import init_pretrained
from training.models.registry import register_model

MIN_INPUT_SIZE = 75


class SmallInputInceptionAux(InceptionAux):
    """``InceptionAux`` that also runs on feature maps smaller than 17x17 (inputs < 299 px)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) >= 17:
            return super().forward(x)
        x = F.adaptive_avg_pool2d(x, (5, 5))
        x = self.conv0(x)
        x = self.conv1(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        return self.fc(torch.flatten(x, 1))


def main_logits(output: torch.Tensor | InceptionOutputs) -> torch.Tensor:
    """The main logits of a classifier output, whether a tensor or ``InceptionOutputs``."""
    return output.logits if isinstance(output, InceptionOutputs) else output


def build_inception(num_classes: int, in_channels: int, aux_logits: bool, dropout: float) -> Inception3:
    """Inception v3 with ``in_channels`` inputs, ``transform_input=False``, truncated-normal init."""
    blocks = [BasicConv2d, InceptionA, InceptionB, InceptionC, InceptionD, InceptionE, SmallInputInceptionAux]
    model = Inception3(
        num_classes=num_classes,
        aux_logits=aux_logits,
        transform_input=False,
        inception_blocks=blocks,
        init_weights=True,
        dropout=dropout,
    )
    if in_channels != 3:
        model.Conv2d_1a_3x3 = BasicConv2d(in_channels, 32, kernel_size=3, stride=2)
        nn.init.trunc_normal_(model.Conv2d_1a_3x3.conv.weight, mean=0.0, std=0.1, a=-2, b=2)
    return model


_NOTES = (
    "Inception v3 as in torchvision (transform_input=False); with pretrained ImageNet weights the "
    "first convolution's RGB kernels are averaged over channels for the gray (+ mask) input.",
    f"Inputs must be at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}; paper B uses 299x299.",
)


def _stage_classifier(
    num_classes: int, in_channels: int, pretrained: Any, aux_logits: bool, dropout: float
) -> nn.Module:
    model = build_inception(num_classes, in_channels, aux_logits, dropout)
    init_pretrained(model, pretrained, "inception_v3")
    return model


@register_model(
    "stage_classifier",
    task="multiclass",
    default_target_layer="Mixed_7c",
    input_channels=1,
    default_image_size=299,
    default_num_classes=3,
    paper_exact=True,
    pretrained_kind="inception_v3",
    description="Paper B's classifier-only baseline: Inception v3 on the preprocessed grayscale image, stages 1-3.",
    notes=_NOTES,
)
def stage_classifier(
    *, num_classes: int, in_channels: int, pretrained: Any, aux_logits: bool = True, dropout: float = 0.5
) -> nn.Module:
    return _stage_classifier(num_classes, in_channels, pretrained, aux_logits, dropout)


@register_model(
    "hybrid",
    task="multiclass",
    default_target_layer="Mixed_7c",
    input_channels=2,
    default_image_size=299,
    default_num_classes=3,
    paper_exact=True,
    pretrained_kind="inception_v3",
    description="Paper B's hybrid: Inception v3 on grayscale + demarcation-line mask (2 channels), stages 1-3.",
    notes=_NOTES,
)
def hybrid(
    *, num_classes: int, in_channels: int, pretrained: Any, aux_logits: bool = True, dropout: float = 0.5
) -> nn.Module:
    return _stage_classifier(num_classes, in_channels, pretrained, aux_logits, dropout)
