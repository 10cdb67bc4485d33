"""Stored outlines ↔ domain shapes: the one conversion between an ``annotations`` row's geometry
(a list of rings, or a list of polygons of rings) and :class:`~rop_desktop.domain.shapes.Shape`.

It lives below ``grading``, ``reference``, ``exams`` and the exporters, which all read outlines, so
that none of them needs another just for this conversion (no import cycles).
"""

from __future__ import annotations

from typing import Any

from rop_desktop.domain.shapes import Shape
from rop_desktop.store.schema import Annotation


def shape_of(annotation: Annotation) -> Shape:
    """The stored annotation as a domain Shape (first polygon of a multipolygon geometry)."""
    rings = annotation.geometry
    if rings and rings[0] and isinstance(rings[0][0][0], list):  # list of polygons
        rings = rings[0]
    return Shape(
        id=annotation.uid,
        points=rings[0],
        holes=tuple(rings[1:]),
        lesion_type=annotation.lesion_type,
        stage=annotation.stage,
        source=annotation.source,
    )


def geometry_of(shape: Shape) -> list[Any]:
    """The shape as stored: its outer ring, then its holes, each a list of ``[x, y]``."""
    return [[[x, y] for x, y in shape.points]] + [[[x, y] for x, y in ring] for ring in shape.holes]
