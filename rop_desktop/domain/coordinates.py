"""Image coordinates: the app's pixel-corner convention and the pixel-centre one of files and masks.

The app (the store, the canvas, shapely geometry) puts (0, 0) at the top-left *corner* of the
top-left pixel: pixel (i, j) covers [i, i + 1) × [j, j + 1), so an outline's area is the pixels it
covers. Training snapshots, OpenCV contours and ``fillPoly``, and the annotation files read and
written (COCO, VIA, labelme, the demo's truth) put (0, 0) at the *centre* of that pixel. The same
point is therefore half a pixel further right and down in the app. This module is the one place
that says so; every crossing between the two goes through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: Add to a pixel-centre coordinate to get the app's pixel-corner one (subtract for the reverse).
CENTRE_TO_CORNER = 0.5


def centre_to_corner(point: Sequence[float]) -> tuple[float, float]:
    """One (x, y) from pixel centres (files, masks) to the app's pixel corners."""
    return float(point[0]) + CENTRE_TO_CORNER, float(point[1]) + CENTRE_TO_CORNER


def corner_to_centre(point: Sequence[float]) -> tuple[float, float]:
    """One (x, y) from the app's pixel corners to pixel centres (files, masks)."""
    return float(point[0]) - CENTRE_TO_CORNER, float(point[1]) - CENTRE_TO_CORNER


def ring_to_corners(ring: Iterable[Sequence[float]]) -> list[tuple[float, float]]:
    """An outline's vertices from pixel centres to the app's pixel corners."""
    return [centre_to_corner(p) for p in ring]


def ring_to_centres(ring: Iterable[Sequence[float]]) -> list[tuple[float, float]]:
    """An outline's vertices from the app's pixel corners to pixel centres."""
    return [corner_to_centre(p) for p in ring]
