"""Paper B's segmenters: Mask R-CNN for the demarcation line, and the segmentation-only baseline.

torchvision's ``MaskRCNN`` on a ResNet-50-FPN (or ResNet-101-FPN) backbone. Inputs and outputs
are torchvision's: a list of float images ``(C, H, W)``; in training mode with targets it returns
a dict of losses, in eval mode a list of dicts ``boxes, labels, scores, masks (K, 1, H, W)``
(detections below ``box_score_thresh`` are dropped; paper B's confidence is 0.8).

Initial weights when cached: COCO Mask R-CNN (ResNet-50 only; the class heads are re-created for
our classes), else the backbone's ImageNet weights, else random. As in torchvision, a pretrained
backbone gets frozen BatchNorm and 3 trainable stages, a random one plain BatchNorm and all 5;
the choice is recorded in ``model_kwargs`` so a bundle re-creates the same module tree.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops.misc import FrozenBatchNorm2d

from training.models._common import replace_conv_in_channels
from training.models.origin import set_pretrained_source, set_resolved_kwargs
from training.models.registry import ModelError, register_model
from training.weights import (
    find_pretrained,
    hub_checkpoint_dir,
    load_pretrained,
    read_state_dict,
    resolve_pretrained,
)

log = logging.getLogger(__name__)

BACKBONES = ("resnet50", "resnet101", "resnet18")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _channel_stats(values: tuple[float, ...], in_channels: int) -> list[float]:
    return list(values) if in_channels == 3 else [float(np.mean(values))] * in_channels


def build_maskrcnn(
    *,
    num_classes: int,
    in_channels: int,
    pretrained: Any,
    backbone: str,
    box_score_thresh: float,
    min_size: int,
    max_size: int,
    frozen_bn: bool | None,
    trainable_backbone_layers: int | None,
    normalize_input: bool = True,
) -> nn.Module:
    """Mask R-CNN with the given backbone; see the module docstring for the initial weights.

    ``normalize_input``: Mask R-CNN subtracts the ImageNet mean and divides by its deviation
    itself (inputs in [0, 1]); False when the preprocessing preset has normalised already
    (``standardize`` / ``imagenet``), so that the input is not normalised twice.
    """
    if backbone not in BACKBONES:
        raise ModelError(f"backbone must be one of {', '.join(BACKBONES)}, got {backbone!r}")
    path, into_body = _initial_weights(pretrained, backbone)
    is_pretrained = path is not None
    if frozen_bn is None:
        frozen_bn = is_pretrained
    if trainable_backbone_layers is None:
        trainable_backbone_layers = 3 if is_pretrained else 5
    body = resnet_fpn_backbone(
        backbone_name=backbone,
        weights=None,
        norm_layer=FrozenBatchNorm2d if frozen_bn else nn.BatchNorm2d,
        trainable_layers=trainable_backbone_layers,
    )
    if in_channels != 3:
        body.body.conv1 = replace_conv_in_channels(body.body.conv1, in_channels)
    if path is not None and into_body:
        load_pretrained(body.body, path)
    mean = _channel_stats(IMAGENET_MEAN, in_channels) if normalize_input else [0.0] * in_channels
    std = _channel_stats(IMAGENET_STD, in_channels) if normalize_input else [1.0] * in_channels
    model = MaskRCNN(
        body,
        num_classes=num_classes,
        min_size=min_size,
        max_size=max_size,
        box_score_thresh=box_score_thresh,
        image_mean=mean,
        image_std=std,
    )
    if path is not None and not into_body:
        load_pretrained(model, path)
    set_pretrained_source(model, path)
    set_resolved_kwargs(model, {"frozen_bn": frozen_bn, "trainable_backbone_layers": trainable_backbone_layers})
    return model


def _initial_weights(pretrained: Any, backbone: str) -> tuple[Path | None, bool]:
    """The weights file to start from and whether it holds only the ResNet (``backbone.body``).

    A given file is used as is: a whole Mask R-CNN state dict if it has ``backbone.body.*`` keys,
    else an ImageNet ResNet. ``"auto"``/``True``: cached COCO Mask R-CNN (ResNet-50 only), else the
    cached ImageNet ResNet, else none (``True`` then raises).
    """
    if pretrained is False or pretrained is None:
        return None, False
    if pretrained not in ("auto", True):
        path = resolve_pretrained(pretrained, None)
        assert path is not None
        return path, not any(k.startswith("backbone.body.") for k in read_state_dict(path))
    if backbone == "resnet50":
        coco = find_pretrained("maskrcnn_resnet50_fpn")
        if coco is not None:
            return coco, False
        log.info(
            "COCO weights for maskrcnn_resnet50_fpn not found in %s; trying the ImageNet %s backbone",
            hub_checkpoint_dir(),
            backbone,
        )
    return resolve_pretrained(pretrained, backbone), True


@register_model(
    "maskrcnn_line",
    task="instance_segmentation",
    default_target_layer="backbone.body.layer4",
    input_channels=3,
    default_image_size=800,
    default_num_classes=2,
    paper_exact=True,
    pretrained_kind="maskrcnn_resnet50_fpn",
    description="Paper B's demarcation-line segmenter: Mask R-CNN, ResNet-FPN, classes background + line.",
    notes=("Detections below box_score_thresh=0.8 (paper B's confidence) are dropped.",),
)
def maskrcnn_line(
    *,
    num_classes: int,
    in_channels: int,
    pretrained: Any,
    backbone: str = "resnet50",
    box_score_thresh: float = 0.8,
    min_size: int = 800,
    max_size: int = 1333,
    frozen_bn: bool | None = None,
    trainable_backbone_layers: int | None = None,
    normalize_input: bool = True,
) -> nn.Module:
    return build_maskrcnn(
        num_classes=num_classes,
        in_channels=in_channels,
        pretrained=pretrained,
        backbone=backbone,
        box_score_thresh=box_score_thresh,
        min_size=min_size,
        max_size=max_size,
        frozen_bn=frozen_bn,
        trainable_backbone_layers=trainable_backbone_layers,
        normalize_input=normalize_input,
    )


@register_model(
    "seg_only_baseline",
    task="instance_segmentation",
    default_target_layer="backbone.body.layer4",
    input_channels=3,
    default_image_size=800,
    default_num_classes=4,
    paper_exact=True,
    pretrained_kind="maskrcnn_resnet50_fpn",
    description="Paper B's segmentation-only baseline: Mask R-CNN with classes background + stage 1/2/3; "
    "the stage with the largest predicted area wins (seg_only_stage).",
)
def seg_only_baseline(
    *,
    num_classes: int,
    in_channels: int,
    pretrained: Any,
    backbone: str = "resnet50",
    box_score_thresh: float = 0.8,
    min_size: int = 800,
    max_size: int = 1333,
    frozen_bn: bool | None = None,
    trainable_backbone_layers: int | None = None,
    normalize_input: bool = True,
) -> nn.Module:
    return build_maskrcnn(
        num_classes=num_classes,
        in_channels=in_channels,
        pretrained=pretrained,
        backbone=backbone,
        box_score_thresh=box_score_thresh,
        min_size=min_size,
        max_size=max_size,
        frozen_bn=frozen_bn,
        trainable_backbone_layers=trainable_backbone_layers,
        normalize_input=normalize_input,
    )


def seg_only_stage(prediction: Mapping[str, Any], mask_threshold: float = 0.5) -> int:
    """Paper B's segmentation-only decision for one image's Mask R-CNN prediction.

    The stage (label 1..K) whose predicted masks cover the largest area (union of its instances'
    masks above ``mask_threshold``) wins; no detection, or only empty masks, means ROP-free (0).
    Ties go to the higher stage. ``prediction``: torchvision's dict with ``labels`` and ``masks``
    (tensors or numpy arrays), already filtered by the model's score threshold.
    """
    labels = np.asarray(_numpy(prediction["labels"])).astype(int).reshape(-1)
    if labels.size == 0:
        return 0
    masks = np.asarray(_numpy(prediction["masks"]))
    masks = masks.reshape(labels.size, *masks.shape[-2:]) > mask_threshold
    best_stage, best_area = 0, 0
    for stage in sorted(set(labels.tolist())):
        area = int(np.logical_or.reduce(masks[labels == stage], axis=0).sum())
        if area > 0 and area >= best_area:
            best_stage, best_area = stage, area
    return best_stage


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
