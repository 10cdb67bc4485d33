"""Geometric augmentation applied alike to an image and its mask, and paper B's stage-1 oversampling.

Crops, zooms and flips are array slices (cheap at any resolution); the one resize happens later,
in the preset's letterbox. The same functions serve random training augmentation (a preset
draws the parameters) and the fixed augmented copies of :func:`oversample_stage1` (the record
stores them, the dataset applies them when it loads the parent's image).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from training.snapshot import SnapshotRecord


def crop_zoom(
    image: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    crop: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
    zoom: float = 1.0,
    hflip: bool = False,
    vflip: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Cut ``crop`` = (left, top, right, bottom) fractions off the edges, zoom in by ``zoom`` ≥ 1
    (keep the central 1/zoom), then flip; the mask (same height and width) follows exactly."""
    h, w = image.shape[:2]
    left, top, right, bottom = (float(c) for c in crop)
    x0, x1 = int(round(left * w)), w - int(round(right * w))
    y0, y1 = int(round(top * h)), h - int(round(bottom * h))
    if zoom > 1.0:
        cw, ch = (x1 - x0) / zoom, (y1 - y0) / zoom
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        x0, x1 = int(round(cx - cw / 2)), int(round(cx + cw / 2))
        y0, y1 = int(round(cy - ch / 2)), int(round(cy + ch / 2))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    xs = slice(x1 - 1, x0 - 1 if x0 > 0 else None, -1) if hflip else slice(x0, x1)
    ys = slice(y1 - 1, y0 - 1 if y0 > 0 else None, -1) if vflip else slice(y0, y1)
    out = np.ascontiguousarray(image[ys, xs])
    return out, (np.ascontiguousarray(mask[ys, xs]) if mask is not None else None)


def apply_augment(
    image: np.ndarray,
    mask: np.ndarray | None,
    augment: Mapping[str, Any] | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply a record's stored ``augment`` (``crop``, ``zoom``, ``hflip``, ``vflip``); None: unchanged."""
    if not augment:
        return image, mask
    return crop_zoom(
        image,
        mask,
        crop=augment.get("crop") or (0.0, 0.0, 0.0, 0.0),
        zoom=float(augment.get("zoom", 1.0)),
        hflip=bool(augment.get("hflip", False)),
        vflip=bool(augment.get("vflip", False)),
    )


def random_crop_zoom(
    rng: np.random.Generator, max_crop: float = 0.05, zoom_range: tuple[float, float] = (1.0, 1.1)
) -> dict[str, Any]:
    """Paper B's stage-1 augmentation parameters: 0–``max_crop`` off each edge, a zoom in ``zoom_range``."""
    crop = [round(float(c), 4) for c in rng.uniform(0.0, max_crop, 4)]
    return {"crop": crop, "zoom": round(float(rng.uniform(*zoom_range)), 4)}


def oversample_stage1(
    records: Iterable[SnapshotRecord],
    factor: int = 5,
    seed: int = 0,
    *,
    max_crop: float = 0.05,
    zoom_range: tuple[float, float] = (1.0, 1.1),
    only_split: str | None = None,
) -> list[SnapshotRecord]:
    """Paper B: stage-1 images ×``factor`` by random 0–5 % edge crops and 100–110 % zoom.

    Returns the records followed by ``factor - 1`` derived copies of every stage-1 original
    (``stage3 == 0``), or only of those in split ``only_split`` (``"train"`` keeps the test set
    free of copies; paper B augmented before splitting, so copies sat in every split).
    A copy is ``{parent}~s1aug{k}`` with ``parent`` set, the parent's image, mask, labels and split,
    and its ``augment`` parameters drawn once here (seeded) and applied when the image is loaded.
    Split the originals first, or let :func:`training.splits.grouped_split` carry copies along.
    """
    if factor < 1:
        raise ValueError(f"factor must be at least 1, got {factor}")
    recs = list(records)
    rng = np.random.default_rng(seed)
    derived: list[SnapshotRecord] = []
    for r in recs:
        if r.parent is not None or r.stage3 != 0 or (only_split is not None and r.split != only_split):
            continue
        for k in range(1, factor):
            derived.append(
                r.replace(id=f"{r.id}~s1aug{k}", parent=r.id, augment=random_crop_zoom(rng, max_crop, zoom_range))
            )
    return recs + derived
