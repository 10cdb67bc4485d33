"""Masks ↔ polygons (OpenCV contours, shapely validity, fillPoly rasterisation).

Convention: polygon vertices are *pixel centres* and boundary pixels belong to the shape, for
exteriors and holes alike. So a mask traced with :func:`mask_to_polygons` rasterises back with
:func:`polygons_to_mask` to (almost exactly) the same pixels; only specks below ``min_area``
and one-pixel-thin spurs, which enclose no area, are lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from training.data.io import binarize_mask
from training.data.records import SnapshotPolygon

Ring = Sequence[Sequence[float]]


def clean_polygons(geometry: BaseGeometry | None, min_area: float = 0.0) -> list[Polygon]:
    """Repair with ``make_valid`` and keep the polygon parts with at least ``min_area`` px²."""
    if geometry is None or geometry.is_empty:
        return []
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    parts = shapely.get_parts(geometry)
    out: list[Polygon] = []
    for part in parts:
        if isinstance(part, Polygon):
            polys = [part]
        elif isinstance(part, (MultiPolygon, shapely.GeometryCollection)):
            polys = [p for p in shapely.get_parts(part) if isinstance(p, Polygon)]
        else:  # lines and points left over by make_valid enclose no area
            polys = []
        out.extend(p for p in polys if not p.is_empty and p.area >= min_area)
    return out


def mask_to_polygons(mask: np.ndarray, *, min_area: float = 8.0, tolerance: float = 0.0) -> list[Polygon]:
    """Trace a mask (any 0/255, 0/1 or bool array) into valid shapely polygons with holes.

    ``min_area`` (px², measured between pixel centres) drops specks and tiny holes;
    ``tolerance`` > 0 simplifies outlines (Douglas-Peucker, topology kept).
    """
    binary = (binarize_mask(mask) > 0).astype(np.uint8)
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    tree = hierarchy[0]
    out: list[Polygon] = []
    for i, contour in enumerate(contours):
        if tree[i][3] != -1 or len(contour) < 3:  # holes are read with their parent; lines have no area
            continue
        holes = []
        child = tree[i][2]
        while child != -1:
            ring = contours[child][:, 0, :]
            if len(ring) >= 3 and abs(cv2.contourArea(ring)) >= max(min_area, 1e-9):
                holes.append(ring.astype(np.float64))
            child = tree[child][0]
        poly = Polygon(contour[:, 0, :].astype(np.float64), holes)
        for part in clean_polygons(poly, min_area):
            out.append(part.simplify(tolerance, preserve_topology=True) if tolerance > 0 else part)
    return out


def polygon_rings(polygon: Polygon) -> list[list[tuple[float, float]]]:
    """Exterior then holes, each without the closing repeat of the first vertex."""
    rings = [polygon.exterior, *polygon.interiors]
    return [[(float(x), float(y)) for x, y in list(r.coords)[:-1]] for r in rings]


def to_snapshot_polygons(
    geometry: BaseGeometry | Iterable[Polygon],
    *,
    lesion_type: str | None = None,
    stage: str | None = None,
    min_area: float = 0.0,
) -> list[SnapshotPolygon]:
    """Shapely polygon(s) → snapshot polygons (repaired; parts under ``min_area`` dropped)."""
    geoms = [geometry] if isinstance(geometry, BaseGeometry) else list(geometry)
    return [SnapshotPolygon(polygon_rings(p), lesion_type, stage) for g in geoms for p in clean_polygons(g, min_area)]


def _rings_of(item: Any) -> list[np.ndarray]:
    if isinstance(item, SnapshotPolygon):
        rings = item.rings
    elif isinstance(item, Polygon):
        rings = polygon_rings(item)
    elif isinstance(item, MultiPolygon):
        raise TypeError("pass the parts of a MultiPolygon separately")
    else:
        rings = item
    return [np.asarray(r, dtype=np.float64).reshape(-1, 2) for r in rings]


def polygons_to_mask(
    polygons: Iterable[SnapshotPolygon | Polygon | MultiPolygon | Sequence[Ring]],
    shape: tuple[int, int],
    value: int = 255,
) -> np.ndarray:
    """Rasterise polygons (snapshot polygons, shapely (Multi)Polygons or ring lists) into a uint8 mask.

    Each polygon is drawn on its own: exterior filled, holes cleared, hole outlines redrawn (their
    boundary pixels belong to the shape), then merged with the others.
    """
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), np.uint8)
    items: list[Any] = []
    for p in polygons:
        items.extend(shapely.get_parts(p) if isinstance(p, MultiPolygon) else [p])
    for item in items:
        rings = [np.rint(r).astype(np.int32) for r in _rings_of(item) if len(r) >= 3]
        if not rings:
            continue
        x0, y0 = np.maximum(rings[0].min(axis=0), 0)
        x1, y1 = np.minimum(rings[0].max(axis=0), (w - 1, h - 1))
        if x1 < x0 or y1 < y0:
            continue  # entirely outside the image
        local = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
        shifted = [r - (x0, y0) for r in rings]
        cv2.fillPoly(local, [shifted[0]], 1)
        if len(shifted) > 1:
            cv2.fillPoly(local, shifted[1:], 0)
            cv2.polylines(local, shifted[1:], isClosed=True, color=1, thickness=1)
        region = out[y0 : y1 + 1, x0 : x1 + 1]
        region[local > 0] = value
    return out
