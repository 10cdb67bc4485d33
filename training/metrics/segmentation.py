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
from typing import Literal, TypedDict

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


class _ForegroundArgs(TypedDict):
    """The torchmetrics options every score here shares: two index classes, foreground only."""

    num_classes: int
    include_background: bool
    input_format: Literal["index"]


_ARGS: _ForegroundArgs = {"num_classes": 2, "include_background": False, "input_format": "index"}


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


def _pair(
    pred_mask: np.ndarray | torch.Tensor, true_mask: np.ndarray | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
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
    pairs = [_pair(p, t) for p, t in zip(pred_masks, true_masks, strict=True)]  # one image at a time: bounded memory
    d = np.array([_dice(p, t) for p, t in pairs])
    j = np.array([_iou(p, t) for p, t in pairs])
    empty = sum(1 for p, t in pairs if not (p.any() or t.any()))
    return MaskScores(d, j, float(d.mean()), float(j.mean()), empty)


#: Candidate cut-offs of a line segmenter's probability map (``choose_mask_threshold``).
MASK_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 .. 0.95


@dataclass(frozen=True, eq=False)
class MaskThresholdChoice(ReportMixin):
    """The chosen cut-off and the mean Dice of every candidate on the data it was chosen on.

    ``best`` is the candidate with the highest mean Dice; ``gain_low`` the lower bound of its
    paired-bootstrap gain over ``default`` (None when ``best`` is the default). ``threshold`` is
    ``best`` only when that gain is beyond the noise (``gain_low > 0``), else ``default``."""

    threshold: float
    mean_dice: float
    thresholds: tuple[float, ...]
    mean_dice_per_threshold: np.ndarray
    n: int
    best: float | None = None
    default: float = 0.5
    gain_low: float | None = None

    def describe(self) -> str:
        """Where the threshold came from, in one sentence (the card's ``threshold_source``)."""
        base = f"validation split ({self.n} images)"
        if self.best is None or (self.best == self.threshold and self.gain_low is None):
            return f"{base}, the mask threshold with the highest mean Dice"
        if self.threshold == self.best:
            return (
                f"{base}, the mask threshold with the highest mean Dice (its gain over {self.default:g} is "
                f"beyond the bootstrap noise: lower bound {self.gain_low:+.3f})"
            )
        return (
            f"{base}: {self.default:g} kept — the best candidate {self.best:g} did not beat it beyond the "
            f"bootstrap noise (gain lower bound {self.gain_low:+.3f})"
        )


def choose_mask_threshold(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    thresholds: Sequence[float] = MASK_THRESHOLDS,
    *,
    default: float | None = 0.5,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> MaskThresholdChoice:
    """The probability cut-off for a line segmenter from ``pairs`` of (probability map in [0, 1],
    reference mask), e.g. the VALIDATION images at their own size.

    The candidate with the highest mean per-image Dice (ties: nearest 0.5) is taken only when it
    beats ``default`` beyond the noise of a small split: the one-sided ``confidence`` lower bound
    of its paired bootstrap gain (images resampled with their Dice at both cut-offs) must be above
    0; otherwise ``default`` stays. On 8 validation images a best-of-19 pick is mostly noise (the
    2026-12-04 ridge benchmark: 0.9 chosen, worse than 0.5 on test). ``default=None``: always the
    best. Pairs are consumed one at a time (bounded memory).
    """
    from training.metrics.bootstrap import resample_weights

    grid = tuple(float(t) for t in thresholds)
    if not grid or any(not 0.0 < t < 1.0 for t in grid):
        raise MetricsInputError(f"thresholds must lie in (0, 1), got {grid}")
    if default is not None and default not in grid:
        raise MetricsInputError(f"the default threshold {default} must be one of the candidates")
    rows = []
    for prob, truth in pairs:
        p = np.asarray(prob, dtype=np.float32)
        t = binary_mask(np.asarray(truth) > 0, "true_mask")
        if p.shape != t.shape:
            raise MetricsInputError(f"probability map is {p.shape} but the reference mask is {t.shape}")
        rows.append([dice(p >= cut, t) for cut in grid])
    if not rows:
        raise MetricsInputError("no images to choose a mask threshold on")
    per_image = np.asarray(rows, dtype=np.float64)
    n = len(rows)
    means = per_image.mean(axis=0)
    best = max(range(len(grid)), key=lambda k: (round(float(means[k]), 12), -abs(grid[k] - 0.5)))
    chosen, gain_low = best, None
    if default is not None and grid[best] != default:
        base = grid.index(default)
        gains = resample_weights(n, n_resamples, seed) @ (per_image[:, best] - per_image[:, base]) / n
        gain_low = float(np.quantile(gains, 1.0 - confidence))
        if gain_low <= 0.0:
            chosen = base
    return MaskThresholdChoice(
        grid[chosen],
        float(means[chosen]),
        grid,
        means,
        n,
        grid[best],
        default if default is not None else 0.5,
        gain_low,
    )
