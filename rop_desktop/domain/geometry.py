"""Polygon geometry for lesion outlines (shapely 2, numpy; no Qt, no OpenCV).

The canvas, the importers and the services all pass an outline through
:func:`validate_polygon` before it becomes a :class:`~rop_desktop.domain.shapes.Shape`, so that
what is stored is always one valid polygon inside the image.

Repair policy (what a clinician would expect from a drawing tool):

* fewer than 3 distinct points, or (near-)zero area (``min_area``, 1 square pixel by default)
  → refused with :class:`InvalidGeometry`;
* a self-intersecting outline (a bow-tie, a loop made while closing) → ``shapely.make_valid``;
  when that splits it into several pieces the largest piece is kept and the message says so,
  **unless** the largest piece holds less than half of the repaired area
  (``max_repair_loss=0.5``): then no single piece is what the grader meant and the outline is
  refused ("redraw it") rather than silently halved;
* vertices outside the image → clipped to the image rectangle ``[0, w] x [0, h]``; refused when
  nothing (or less than ``min_area``) remains; the largest piece is kept when clipping splits it.

A valid outline inside the image comes back *unchanged* (same vertices, same order), so vertex
indices stay stable for editing and undo restores exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon, box
from shapely.geometry.base import BaseGeometry

from rop_desktop.domain.errors import DomainError

from .shapes import Point, Ring, Shape, ShapeError, as_ring

#: Outlines smaller than this (square image pixels) are refused as having no area.
MIN_AREA: float = 1.0
#: A self-intersection repair may drop at most this fraction of the repaired area.
MAX_REPAIR_LOSS: float = 0.5
#: Trace caps accepted by :func:`trace_to_polygon`.
CAP_STYLES: tuple[str, ...] = ("round", "flat", "square")

MSG_TOO_FEW_POINTS = "A polygon needs at least 3 points"
MSG_NO_AREA = "The polygon has no area: its points are (almost) on a line"
MSG_OUTSIDE = "The polygon lies outside the image"
MSG_SELF_INTERSECTION = "self-intersection repaired"
MSG_CLIPPED = "clipped to the image"


class InvalidGeometry(DomainError):
    """An outline that cannot become a polygon; ``reason`` is a sentence for the user."""


@dataclass(frozen=True)
class GeometryResult:
    """A valid polygon (open rings, image pixels) and what was repaired to get it."""

    points: Ring
    holes: tuple[Ring, ...] = ()
    #: Human messages, e.g. "self-intersection repaired", "clipped to the image"; empty if untouched.
    messages: tuple[str, ...] = ()

    @property
    def repaired(self) -> bool:
        """True when the outline was changed to make it valid."""
        return bool(self.messages)

    @property
    def area(self) -> float:
        """Area in square image pixels (holes subtracted)."""
        return float(to_polygon(self.points, self.holes).area)


# --------------------------------------------------------------------------- helpers
def clean_ring(points: Iterable[Iterable[float]], what: str = "points", *, closed: bool = True) -> Ring:
    """Coerce to (x, y) floats and drop consecutive duplicates (and, for a ``closed`` ring, a
    repeated closing point; an open polyline may end where it began).

    Raises :class:`InvalidGeometry` for non-numeric or non-finite coordinates.
    """
    try:
        ring = as_ring(points, what)
    except ShapeError as exc:
        raise InvalidGeometry(exc.reason) from None
    out: list[Point] = []
    for p in ring:
        if not out or p != out[-1]:
            out.append(p)
    while closed and len(out) > 1 and out[-1] == out[0]:
        out.pop()
    return tuple(out)


def to_polygon(points: Sequence[Point], holes: Sequence[Sequence[Point]] = ()) -> Polygon:
    """A shapely polygon from open rings (no validation)."""
    return Polygon(points, [h for h in holes if len(h) >= 3])


def _open_ring(coords: Iterable[Sequence[float]]) -> Ring:
    ring = tuple((float(x), float(y)) for x, y, *_ in coords)
    return ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring


def _from_polygon(poly: Polygon, messages: Sequence[str] = ()) -> GeometryResult:
    return GeometryResult(
        points=_open_ring(poly.exterior.coords),
        holes=tuple(_open_ring(r.coords) for r in poly.interiors),
        messages=tuple(messages),
    )


def _polygon_parts(geom: BaseGeometry) -> list[Polygon]:
    """The polygons in any geometry (make_valid may also return lines and points)."""
    if isinstance(geom, Polygon):
        return [geom] if not geom.is_empty else []
    return [g for part in getattr(geom, "geoms", ()) for g in _polygon_parts(part)]


def _largest(parts: list[Polygon]) -> tuple[Polygon, float]:
    """The largest part and the total area of all parts."""
    return max(parts, key=lambda p: p.area), float(sum(p.area for p in parts))


# --------------------------------------------------------------------------- validation
def validate_polygon(
    points: Iterable[Iterable[float]],
    image_size: tuple[float, float] | None = None,
    holes: Iterable[Iterable[Iterable[float]]] = (),
    *,
    min_area: float = MIN_AREA,
    max_repair_loss: float = MAX_REPAIR_LOSS,
) -> GeometryResult:
    """Check an outline and return a valid polygon, repaired if needed (see the module policy).

    ``image_size`` is ``(width, height)`` in pixels; ``None`` skips clipping.
    Raises :class:`InvalidGeometry` with a sentence for the user when it cannot be repaired.
    """
    shell = clean_ring(points)
    if len(shell) < 3:
        raise InvalidGeometry(MSG_TOO_FEW_POINTS)
    inner = [clean_ring(h, f"holes[{i}]") for i, h in enumerate(holes)]
    messages: list[str] = []
    if any(len(h) < 3 for h in inner):
        messages.append("degenerate hole removed")
    poly = to_polygon(shell, inner)

    if not poly.is_valid:
        reason = shapely.is_valid_reason(poly)
        parts = _polygon_parts(shapely.make_valid(poly))
        if not parts:
            raise InvalidGeometry(MSG_NO_AREA)
        poly, total = _largest(parts)
        if total < min_area:
            raise InvalidGeometry(MSG_NO_AREA)
        if poly.area < (1.0 - max_repair_loss) * total:
            raise InvalidGeometry(
                f"The outline crosses itself into {len(parts)} pieces and none is most of it: redraw it"
            )
        crossed = "self-intersection" in reason.lower()
        what = MSG_SELF_INTERSECTION if crossed else f"invalid outline repaired ({reason})"
        messages.append(what if len(parts) == 1 else f"{what}: kept the largest of {len(parts)} pieces")
    elif poly.area < min_area:
        raise InvalidGeometry(MSG_NO_AREA)

    if image_size is not None:
        width, height = float(image_size[0]), float(image_size[1])
        frame = box(0.0, 0.0, width, height)
        if not frame.covers(poly):
            parts = _polygon_parts(poly.intersection(frame))
            if not parts:
                raise InvalidGeometry(MSG_OUTSIDE)
            poly, total = _largest(parts)
            if poly.area < min_area:
                raise InvalidGeometry(MSG_OUTSIDE)
            messages.append(
                MSG_CLIPPED if len(parts) == 1 else f"{MSG_CLIPPED}: kept the largest of {len(parts)} pieces"
            )

    if not messages:
        return GeometryResult(points=shell, holes=tuple(inner), messages=())
    return _from_polygon(poly, messages)


# --------------------------------------------------------------------------- construction
def trace_to_polygon(
    polyline: Iterable[Iterable[float]],
    width: float,
    *,
    cap: str = "round",
    tolerance: float | None = None,
) -> GeometryResult:
    """Turn a traced line (e.g. along the ridge) into the band of ``width`` pixels around it.

    ``cap`` is "round", "flat" or "square"; the band is simplified with ``tolerance``
    (default ``width / 10``). A line that loops back on itself gives a polygon with a hole,
    returned in ``holes``. The result still has to pass :func:`validate_polygon` (clipping).
    """
    if not (isinstance(width, (int, float)) and math.isfinite(width) and width > 0):
        raise InvalidGeometry(f"The trace width must be a positive number of pixels, not {width!r}")
    if cap not in CAP_STYLES:
        raise InvalidGeometry(f"Unknown trace cap {cap!r}: expected one of {', '.join(CAP_STYLES)}")
    line = clean_ring(polyline, "polyline", closed=False)
    if len(line) < 2:
        raise InvalidGeometry("A traced line needs at least 2 points: press and drag along the lesion")
    band = LineString(line).buffer(width / 2.0, cap_style=cap, join_style="round", quad_segs=8)
    band = band.simplify(width / 10.0 if tolerance is None else tolerance, preserve_topology=True)
    parts = _polygon_parts(band)
    if not parts:
        raise InvalidGeometry(MSG_NO_AREA)
    return _from_polygon(_largest(parts)[0])


def simplify(points: Iterable[Iterable[float]], tolerance: float, *, closed: bool = True) -> Ring:
    """Douglas-Peucker simplification keeping the topology (a ring stays a valid ring).

    ``closed=True`` treats ``points`` as a polygon ring, ``False`` as an open polyline.
    """
    if tolerance < 0:
        raise InvalidGeometry(f"The simplification tolerance must be >= 0, not {tolerance}")
    ring = clean_ring(points, closed=closed)
    if closed:
        if len(ring) < 3:
            return ring
        simple = Polygon(ring).simplify(tolerance, preserve_topology=True)
        return _open_ring(simple.exterior.coords) if isinstance(simple, Polygon) and not simple.is_empty else ring
    if len(ring) < 2:
        return ring
    return tuple((float(x), float(y)) for x, y in LineString(ring).simplify(tolerance, preserve_topology=True).coords)


def _as_valid_polygon(item: Shape | Sequence[Point]) -> BaseGeometry:
    poly = to_polygon(item.points, item.holes) if isinstance(item, Shape) else to_polygon(clean_ring(item))
    return poly if poly.is_valid else shapely.make_valid(poly)


def polygon_iou(a: Shape | Sequence[Point], b: Shape | Sequence[Point]) -> float:
    """Intersection over union of two outlines (shapes or rings); 0.0 when both are empty.

    Invalid outlines are repaired with ``make_valid`` first.
    """
    pa, pb = _as_valid_polygon(a), _as_valid_polygon(b)
    union = pa.union(pb).area
    return 0.0 if union <= 0 else float(pa.intersection(pb).area / union)


# --------------------------------------------------------------------------- hit tests (numpy)
def nearest_vertex(points: Sequence[Point], p: Point, tol: float) -> int | None:
    """Index of the vertex nearest ``p`` if it is within ``tol``, else None."""
    if not len(points):
        return None
    pts = np.asarray(points, dtype=np.float64)
    d2 = ((pts - np.asarray(p, dtype=np.float64)) ** 2).sum(axis=1)
    i = int(np.argmin(d2))
    return i if d2[i] <= tol * tol else None


def point_on_edge(points: Sequence[Point], p: Point, tol: float) -> tuple[int, Point] | None:
    """The closed ring's edge nearest ``p`` within ``tol``: ``(i, projection)`` or None.

    Edge ``i`` runs from ``points[i]`` to ``points[(i + 1) % n]``; a vertex inserted on it goes
    at index ``i + 1``. The projection is clamped to the segment.
    """
    n = len(points)
    if n < 2:
        return None
    a = np.asarray(points, dtype=np.float64)
    b = np.roll(a, -1, axis=0)
    q = np.asarray(p, dtype=np.float64)
    ab = b - a
    length2 = (ab**2).sum(axis=1)
    t = np.where(length2 > 0, ((q - a) * ab).sum(axis=1) / np.where(length2 > 0, length2, 1.0), 0.0)
    t = np.clip(t, 0.0, 1.0)
    proj = a + ab * t[:, None]
    d2 = ((proj - q) ** 2).sum(axis=1)
    i = int(np.argmin(d2))
    if d2[i] > tol * tol:
        return None
    return i, (float(proj[i, 0]), float(proj[i, 1]))
