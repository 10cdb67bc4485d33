"""Overlap of binary masks: Dice and IoU (Jaccard), per image and mean.

Computed with ``torchmetrics.functional.segmentation`` (``dice_score``, ``mean_iou``) on the
foreground class. Convention: a predicted mask and a reference mask that are BOTH empty agree
perfectly, Dice = IoU = 1.0 (torchmetrics leaves that case undefined); this matters for images
without a ridge, where "no line predicted" is the right answer. An empty prediction against a
non-empty reference (or the reverse) scores 0.0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics.functional.segmentation import dice_score, mean_iou

from training.metrics._common import MetricsInputError, ReportMixin


def binary_mask(mask: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    """A 2-D mask of booleans or 0/1 values as a bool array; anything else is refused."""
    arr = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if arr.ndim != 2:
        raise MetricsInputError(f"{name} must be a 2-D (H x W) mask, got shape {arr.shape}")
    if arr.dtype != bool and not (arr.dtype.kind in "iuf" and np.all((arr == 0) | (arr == 1))):
        raise MetricsInputError(f"{name} must hold booleans or 0/1 only: threshold it first (e.g. mask > 0)")
    return arr.astype(bool)


_ARGS = {"num_classes": 2, "include_background": False, "input_format": "index"}


def _dice(p: torch.Tensor, t: torch.Tensor) -> float:
    """Dice of one pair of 1 x H x W long masks (empty-vs-empty = 1.0)."""
    if not (p.any() or t.any()):
        return 1.0
    return float(dice_score(p, t, average="none", aggregation_level="samplewise", **_ARGS)[0, 0])


def _iou(p: torch.Tensor, t: torch.Tensor) -> float:
    """IoU of one pair of 1 x H x W long masks (empty-vs-empty = 1.0)."""
    if not (p.any() or t.any()):
        return 1.0
    return float(mean_iou(p, t, per_class=True, **_ARGS)[0, 0])


def _pair(pred_mask: np.ndarray | torch.Tensor, true_mask: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    p, t = binary_mask(pred_mask, "pred_mask"), binary_mask(true_mask, "true_mask")
    if p.shape != t.shape:
        raise MetricsInputError(f"pred_mask is {p.shape} but true_mask is {t.shape}")
    return torch.from_numpy(p)[None].long(), torch.from_numpy(t)[None].long()


def dice(pred_mask: np.ndarray | torch.Tensor, true_mask: np.ndarray | torch.Tensor) -> float:
    """Dice coefficient 2|P∩T| / (|P| + |T|) of two binary H x W masks; 1.0 when both are empty."""
    return _dice(*_pair(pred_mask, true_mask))


def iou(pred_mask: np.ndarray | torch.Tensor, true_mask: np.ndarray | torch.Tensor) -> float:
    """Intersection over union |P∩T| / |P∪T| of two binary H x W masks; 1.0 when both are empty."""
    return _iou(*_pair(pred_mask, true_mask))


@dataclass(frozen=True, eq=False)
class MaskScores(ReportMixin):
    """Dice and IoU per image (in input order) and their means over images."""

    dice: np.ndarray
    iou: np.ndarray
    mean_dice: float
    mean_iou: float
    n_both_empty: int  #: images scored 1.0 because prediction and reference are both empty


def mask_scores(
    pred_masks: Sequence[np.ndarray | torch.Tensor], true_masks: Sequence[np.ndarray | torch.Tensor]
) -> MaskScores:
    """Dice and IoU of each (prediction, reference) pair of binary masks; images may differ in size."""
    if len(pred_masks) != len(true_masks):
        raise MetricsInputError(f"{len(pred_masks)} predicted masks but {len(true_masks)} reference masks")
    if not pred_masks:
        raise MetricsInputError("no masks given: nothing to evaluate")
    pairs = [_pair(p, t) for p, t in zip(pred_masks, true_masks)]  # one image at a time: bounded memory
    d = np.array([_dice(p, t) for p, t in pairs])
    j = np.array([_iou(p, t) for p, t in pairs])
    empty = sum(1 for p, t in pairs if not (p.any() or t.any()))
    return MaskScores(d, j, float(d.mean()), float(j.mean()), empty)


#: Candidate cut-offs of a line segmenter's probability map (``choose_mask_threshold``).
MASK_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 .. 0.95


@dataclass(frozen=True, eq=False)
class MaskThresholdChoice(ReportMixin):
    """The chosen cut-off and the mean Dice of every candidate on the data it was chosen on."""

    threshold: float
    mean_dice: float
    thresholds: tuple[float, ...]
    mean_dice_per_threshold: np.ndarray
    n: int


def choose_mask_threshold(pairs: Iterable[tuple[np.ndarray, np.ndarray]],
                          thresholds: Sequence[float] = MASK_THRESHOLDS) -> MaskThresholdChoice:
    """The probability cut-off with the highest mean per-image Dice over ``pairs`` of
    (probability map in [0, 1], reference mask), e.g. the VALIDATION images at their own size.

    Pairs are consumed one at a time (bounded memory). Ties go to the candidate nearest 0.5.
    """
    grid = tuple(float(t) for t in thresholds)
    if not grid or any(not 0.0 < t < 1.0 for t in grid):
        raise MetricsInputError(f"thresholds must lie in (0, 1), got {grid}")
    totals = np.zeros(len(grid))
    n = 0
    for prob, truth in pairs:
        p = np.asarray(prob, dtype=np.float32)
        t = binary_mask(np.asarray(truth) > 0, "true_mask")
        if p.shape != t.shape:
            raise MetricsInputError(f"probability map is {p.shape} but the reference mask is {t.shape}")
        totals += [dice(p >= cut, t) for cut in grid]
        n += 1
    if n == 0:
        raise MetricsInputError("no images to choose a mask threshold on")
    means = totals / n
    best = max(range(len(grid)), key=lambda k: (round(float(means[k]), 12), -abs(grid[k] - 0.5)))
    return MaskThresholdChoice(grid[best], float(means[best]), grid, means, n)
