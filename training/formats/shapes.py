"""Annotation-tool shapes → shapely geometry, and the checks both readers share.

VIA and labelme draw in image pixel coordinates (x right, y down). Areas come from polygons,
rectangles, circles and ellipses; traced lines (VIA polyline, labelme line / linestrip) become
areas by buffering them to ``line_width`` pixels, as a grader's stroke along a ridge would be.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import shapely
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

Points = list[tuple[float, float]]

#: Default width (px) of a traced line when it is turned into an area.
DEFAULT_LINE_WIDTH = 10.0


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    """Axis-aligned rectangle between two corners (any order)."""
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def ellipse(cx: float, cy: float, rx: float, ry: float, theta: float = 0.0) -> Polygon:
    """Ellipse with radii ``rx``, ``ry`` rotated by ``theta`` radians (clockwise on screen)."""
    unit = Point(0.0, 0.0).buffer(1.0, quad_segs=32)
    shape = affinity.scale(unit, rx, ry, origin=(0, 0))
    if theta:
        shape = affinity.rotate(shape, theta, origin=(0, 0), use_radians=True)
    return affinity.translate(shape, cx, cy)


def line_area(points: Sequence[tuple[float, float]], width: float = DEFAULT_LINE_WIDTH) -> Polygon:
    """A traced line buffered into an area ``width`` pixels wide (round caps)."""
    return LineString(points).buffer(width / 2.0, quad_segs=8)


def polygon(points: Sequence[tuple[float, float]]) -> BaseGeometry:
    """A (possibly self-intersecting) polygon, repaired with ``make_valid``."""
    poly = Polygon(points)
    return poly if poly.is_valid else shapely.make_valid(poly)


def bounds_problem(points: Sequence[tuple[float, float]], hw: tuple[int, int] | None) -> tuple[str, bool] | None:
    """(message, all_outside) when points lie outside the ``height x width`` image, else None.

    The image covers ``0 ≤ x ≤ width`` and ``0 ≤ y ≤ height`` (tools may put a vertex on the edge).
    """
    if hw is None or not points:
        return None
    h, w = hw
    outside = [(x, y) for x, y in points if not (0 <= x <= w and 0 <= y <= h)]
    if not outside:
        return None
    x, y = outside[0]
    all_out = len(outside) == len(points)
    what = "all" if all_out else f"{len(outside)} of {len(points)}"
    return (
        f"{what} points outside the {w}x{h} image (first at x={x:g}, y={y:g})"
        + ("" if all_out else "; clipped to the image"),
        all_out,
    )


def clip_to_image(geometry: BaseGeometry, hw: tuple[int, int]) -> BaseGeometry:
    """The part of ``geometry`` inside the image."""
    h, w = hw
    return geometry.intersection(box(0, 0, w, h))
