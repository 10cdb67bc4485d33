"""Pixel-majority consensus mask: the segmentation target of a training snapshot.

Each grader's outlines are merged and repaired exactly as for the vector consensus
(:func:`rop_desktop.domain.consensus.grader_coverages`), rasterised with the snapshot's own
rasteriser (:func:`training.formats.masks.polygons_to_mask`: vertices are pixel centres and
boundary pixels belong to the shape), counted per pixel and thresholded at k of n graders
(:func:`rop_desktop.domain.consensus.votes_needed`). Every grader in the mapping counts, also one
who drew nothing. The result agrees with the rasterised
:func:`~rop_desktop.domain.consensus.consensus_geometry` up to boundary pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from rop_desktop.domain.consensus import ConsensusError, PolygonLike, grader_coverages, votes_needed
from training.formats.masks import polygons_to_mask


def coverage_counts(polys_by_grader: Mapping[str, Iterable[PolygonLike]], shape: Sequence[int]) -> np.ndarray:
    """How many graders cover each pixel: ``uint16`` HxW for an image of ``shape`` (h, w[, c])."""
    h, w = _size(shape)
    counts = np.zeros((h, w), np.uint16)
    for coverage in grader_coverages(polys_by_grader).values():
        if not coverage.is_empty:
            counts += polygons_to_mask([coverage], (h, w), value=1)
    return counts


def consensus_mask(
    polys_by_grader: Mapping[str, Iterable[PolygonLike]],
    shape: Sequence[int],
    *,
    rule: str = "majority",
    min_votes: int | None = None,
    value: int = 255,
) -> np.ndarray:
    """``uint8`` HxW mask: ``value`` where at least k of the n graders drew, 0 elsewhere.

    ``rule`` / ``min_votes`` as in :func:`rop_desktop.domain.consensus.consensus_geometry`.
    """
    if not 1 <= value <= 255:
        raise ConsensusError(f"mask value must be 1–255, got {value}")
    k = votes_needed(len(polys_by_grader), rule, min_votes)
    return np.where(coverage_counts(polys_by_grader, shape) >= k, np.uint8(value), np.uint8(0))


def _size(shape: Sequence[int]) -> tuple[int, int]:
    try:
        h, w = int(shape[0]), int(shape[1])
    except (TypeError, ValueError, IndexError):
        raise ConsensusError(f"image shape must be (height, width[, channels]), got {shape!r}") from None
    if h < 1 or w < 1:
        raise ConsensusError(f"image shape must be positive, got {h}x{w}")
    return h, w
