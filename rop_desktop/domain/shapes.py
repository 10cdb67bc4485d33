"""A lesion outline as plain, immutable data (no Qt, no database).

A :class:`Shape` is what the annotation canvas shows and edits, what the annotation service
stores and what the exporters write. Coordinates are image pixels (x to the right, y down, the
top-left corner of the top-left pixel at (0, 0)). Rings are *open*: the first point is not
repeated at the end.

Geometric validity (at least 3 points, non-zero area, no self-intersection, inside the image)
is not checked here: :func:`rop_desktop.domain.geometry.validate_polygon` does that before an
outline becomes a shape.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from rop_desktop.domain.errors import DomainError

from .labels import LesionType, Stage

Point = tuple[float, float]
Ring = tuple[Point, ...]
ShapeId = str | int | None

#: Where an outline came from.
SOURCES: tuple[str, ...] = ("drawn", "traced", "imported", "model")


class ShapeError(DomainError):
    """Malformed shape data (wrong coordinates, unknown source, bad dictionary); ``reason`` says why."""


def new_shape_id() -> str:
    """A fresh id for a shape drawn in the app (a uuid4 string)."""
    return str(uuid.uuid4())


def as_ring(points: Iterable[Iterable[float]], what: str = "points") -> Ring:
    """Coerce ``points`` to a tuple of (x, y) float pairs; raises :class:`ShapeError` on bad input."""
    ring: list[Point] = []
    try:
        items = list(points)
    except TypeError:
        raise ShapeError(f"{what} must be a sequence of (x, y) pairs") from None
    for i, item in enumerate(items):
        try:
            x, y = item
            fx, fy = float(x), float(y)
        except (TypeError, ValueError):
            raise ShapeError(f"{what}[{i}] is not an (x, y) pair of numbers: {item!r}") from None
        if not (math.isfinite(fx) and math.isfinite(fy)):
            raise ShapeError(f"{what}[{i}] is not finite: {item!r}")
        ring.append((fx, fy))
    return tuple(ring)


@dataclass(frozen=True, kw_only=True)
class Shape:
    """One polygon drawn around a lesion (demarcation line, ridge, ...)."""

    #: A uuid4 string for shapes made in the app, an int for rows keyed by number, None when unsaved.
    id: ShapeId = None
    #: Exterior ring, open (first point not repeated), image pixels.
    points: Ring
    #: Interior rings (e.g. the inside of a traced loop), each open.
    holes: tuple[Ring, ...] = ()
    lesion_type: LesionType = LesionType.DEMARCATION_LINE
    stage: Stage | None = None
    #: One of :data:`SOURCES`.
    source: str = "drawn"

    def __post_init__(self) -> None:
        if self.id is not None and (isinstance(self.id, bool) or not isinstance(self.id, (str, int))):
            raise ShapeError(f"shape id must be a string, an int or None, not {self.id!r}")
        object.__setattr__(self, "points", as_ring(self.points))
        object.__setattr__(self, "holes", tuple(as_ring(h, f"holes[{i}]") for i, h in enumerate(self.holes)))
        try:
            object.__setattr__(self, "lesion_type", LesionType.parse(self.lesion_type))
            if self.stage is not None:
                object.__setattr__(self, "stage", Stage.parse(self.stage))
        except ValueError as exc:
            raise ShapeError(str(exc)) from None
        if self.source not in SOURCES:
            raise ShapeError(f"shape source {self.source!r} is not one of {', '.join(SOURCES)}")

    # ----------------------------------------------------------------- edits (new shapes)
    def with_(self, **changes: Any) -> Shape:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)

    def with_geometry(
        self, points: Iterable[Iterable[float]], holes: Iterable[Iterable[Iterable[float]]] = ()
    ) -> Shape:
        """A copy with another outline (same id and attributes)."""
        return replace(self, points=as_ring(points), holes=tuple(as_ring(h) for h in holes))

    def translated(self, dx: float, dy: float) -> Shape:
        """A copy moved by (dx, dy), holes included."""

        def move(ring: Ring) -> Ring:
            return tuple((x + dx, y + dy) for x, y in ring)

        return replace(self, points=move(self.points), holes=tuple(move(h) for h in self.holes))

    def with_vertex_moved(self, index: int, point: Point) -> Shape:
        """A copy whose exterior vertex ``index`` is at ``point``."""
        pts = list(self.points)
        pts[index] = (float(point[0]), float(point[1]))
        return replace(self, points=tuple(pts))

    def with_vertex_inserted(self, index: int, point: Point) -> Shape:
        """A copy with ``point`` inserted before exterior vertex ``index`` (``len(points)`` appends)."""
        pts = list(self.points)
        pts.insert(index, (float(point[0]), float(point[1])))
        return replace(self, points=tuple(pts))

    def with_vertex_removed(self, index: int) -> Shape:
        """A copy without exterior vertex ``index`` (validity is the caller's business)."""
        pts = list(self.points)
        del pts[index]
        return replace(self, points=tuple(pts))

    # ----------------------------------------------------------------- plain dict codec
    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: enums as their stored string values, rings as lists of [x, y]."""
        return {
            "id": self.id,
            "points": [[x, y] for x, y in self.points],
            "holes": [[[x, y] for x, y in ring] for ring in self.holes],
            "lesion_type": self.lesion_type.value,
            "stage": None if self.stage is None else self.stage.value,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Shape:
        """Inverse of :meth:`to_dict`; raises :class:`ShapeError` with the reason on bad data."""
        if not isinstance(data, Mapping):
            raise ShapeError(f"a shape must be a JSON object, not {type(data).__name__}")
        if "points" not in data:
            raise ShapeError("shape has no 'points'")
        if "lesion_type" not in data:
            raise ShapeError("shape has no 'lesion_type'")
        holes = data.get("holes") or ()
        if not isinstance(holes, (list, tuple)):
            raise ShapeError("shape 'holes' must be a list of rings")
        return cls(
            id=data.get("id"),
            points=data["points"],
            holes=tuple(holes),
            lesion_type=data["lesion_type"],
            stage=data.get("stage"),
            source=data.get("source", "drawn"),
        )
