"""Mask-channel dropout for hybrids: degrade a training sample's line mask the way a line model fails.

A hybrid (image + line-mask channel) trains on the reference masks but is used on a line model's
predicted masks. Trained on complete lines only, it learns "a line in the mask channel ⇒ ROP" and
ignores the image, so a faint stage-1 line the line model finds only in part (or not at all) scores
like a normal eye. Modality dropout fixes the shortcut: with probability ``mask_dropout``
(:class:`training.config.TrainConfig`) a TRAINING sample's mask is emptied or partly erased, so the
image has to carry the answer too. Validation and test samples are never degraded.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Share of the degraded masks that are emptied (the line model found nothing); the rest lose a part.
EMPTY_SHARE = 0.5
#: A partly erased mask keeps at most this fraction of its line pixels (uniformly drawn below it).
MAX_KEPT = 0.8
#: Radius of an erasing blob, as a fraction of the line's extent (its bounding box's longer side).
BLOB_RADIUS = (0.05, 0.25)
_MAX_BLOBS = 64


def degrade_line_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``mask`` (H×W, line > 0) as a failing line model might predict it: a new uint8 0/255 mask.

    With probability :data:`EMPTY_SHARE` the line is gone entirely; otherwise round blobs centred on
    random line pixels are erased until at most a random fraction (0 – :data:`MAX_KEPT`) of the line
    remains — contiguous pieces of the line survive, as when the stronger part of a faint line is
    found. An empty mask stays empty. Deterministic for a given ``rng`` state.
    """
    line = np.asarray(mask) > 0
    out = line.astype(np.uint8) * 255
    total = int(line.sum())
    if total == 0:
        return out
    if rng.random() < EMPTY_SHARE:
        out[...] = 0
        return out
    target = rng.uniform(0.0, MAX_KEPT) * total
    ys, xs = np.nonzero(line)
    extent = int(max(np.ptp(ys), np.ptp(xs))) + 1
    remaining = total
    for _ in range(_MAX_BLOBS):
        if remaining <= target:
            break
        ys, xs = np.nonzero(out)
        k = int(rng.integers(len(ys)))
        radius = max(1, round(rng.uniform(*BLOB_RADIUS) * extent))
        cv2.circle(out, (int(xs[k]), int(ys[k])), radius, 0, -1)
        remaining = int(np.count_nonzero(out))
    return out
