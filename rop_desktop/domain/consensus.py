"""Consensus geometry of several graders' lesion outlines on one image (shapely only).

Every grader in the mapping counts, including one who drew nothing: with four graders the
majority needs three, even if one of them outlined no line. Leave out the graders who should
not count (e.g. those who marked the image ungradable) before calling.

A polygon may be given as a shapely (Multi)Polygon, as an object with ``points`` (and
``holes``) like :class:`rop_desktop.domain.shapes.Shape`, as one ring ``[(x, y), ...]`` or as
``[exterior, hole, ...]`` rings. Invalid outlines are repaired with ``shapely.make_valid``
(only their polygonal parts count); outlines of fewer than 3 points cover nothing and are skipped.
Each grader's polygons are merged first, so a grader who overlaps their own outlines votes once.

:mod:`rop_desktop.imaging.consensus_mask` computes the same consensus on pixels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from rop_desktop.domain.errors import DomainError

#: Consensus rules: "majority" (at least floor(n/2)+1 graders, or ``min_votes``), "union"
#: (at least one), "intersection" (all).
RULES: tuple[str, ...] = ("majority", "union", "intersection")

PolygonLike = Any  # BaseGeometry | Shape-like | ring | list of rings; see the module documentation


class ConsensusError(DomainError):
    """Bad consensus input (unknown rule, impossible vote count, malformed coordinates)."""


def votes_needed(n_graders: int, rule: str = "majority", min_votes: int | None = None) -> int:
    """How many of ``n_graders`` must cover a point for it to be in the consensus."""
    if n_graders < 1:
        raise ConsensusError("a consensus needs at least one grader")
    if rule not in RULES:
        raise ConsensusError(f"consensus rule {rule!r} is not one of {', '.join(RULES)}")
    if min_votes is not None:
        if rule != "majority":
            raise ConsensusError(f"min_votes only applies to the 'majority' rule, not {rule!r}")
        if isinstance(min_votes, bool) or not isinstance(min_votes, int) or not 1 <= min_votes <= n_graders:
            raise ConsensusError(f"min_votes must be 1–{n_graders} for {n_graders} grader(s), got {min_votes!r}")
        return min_votes
    return {"majority": n_graders // 2 + 1, "union": 1, "intersection": n_graders}[rule]


def grader_coverage(polygons: Iterable[PolygonLike], grader: str = "") -> Polygon | MultiPolygon:
    """The area one grader outlined: their repaired polygons merged into one geometry."""
    parts: list[Polygon] = []
    for i, item in enumerate(polygons):
        parts.extend(_polygonal_parts(_to_geometry(item, f"grader {grader!r}, polygon {i}")))
    return _as_polygonal(shapely.union_all(parts)) if parts else Polygon()


def grader_coverages(
    polys_by_grader: Mapping[str, Iterable[PolygonLike] | BaseGeometry | None],
) -> dict[str, Polygon | MultiPolygon]:
    """:func:`grader_coverage` of every grader (a lone geometry or None is accepted as their polygons)."""
    if not isinstance(polys_by_grader, Mapping):
        raise ConsensusError(f"expected a mapping grader → polygons, got {type(polys_by_grader).__name__}")
    out: dict[str, Polygon | MultiPolygon] = {}
    for name, polys in polys_by_grader.items():
        if polys is None:
            polys = ()
        elif isinstance(polys, BaseGeometry):
            polys = [polys]
        out[name] = grader_coverage(polys, str(name))
    return out


def consensus_geometry(
    polys_by_grader: Mapping[str, Iterable[PolygonLike]], rule: str = "majority", min_votes: int | None = None
) -> Polygon | MultiPolygon:
    """The region covered by at least k of the n graders (k from :func:`votes_needed`).

    Computed by overlay counting: the graders' outlines are noded and polygonised into faces,
    each face is counted once per grader covering it, and the faces with k or more are merged.
    Returns an empty Polygon when no region qualifies.
    """
    coverages = list(grader_coverages(polys_by_grader).values())
    k = votes_needed(len(coverages), rule, min_votes)
    drawn = [c for c in coverages if not c.is_empty]
    if len(drawn) < k:
        return Polygon()
    if k == 1:
        return _as_polygonal(shapely.union_all(drawn))
    edges = shapely.union_all([c.boundary for c in drawn])  # noded linework
    faces = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(edges))))
    if faces.size == 0:
        return Polygon()
    probes = shapely.point_on_surface(faces)
    counts = np.zeros(len(faces), dtype=np.int64)
    for coverage in drawn:
        shapely.prepare(coverage)
        counts += shapely.contains(coverage, probes)
    kept = faces[counts >= k]
    return _as_polygonal(shapely.union_all(kept)) if kept.size else Polygon()


@dataclass(frozen=True)
class IouMatrix:
    """Pairwise intersection-over-union of the graders' outlined areas.

    Two graders who both drew nothing agree perfectly (IoU 1); one empty and one not, 0.
    """

    graders: tuple[str, ...]
    values: np.ndarray  # n x n float, symmetric, ones on the diagonal

    def iou(self, a: str, b: str) -> float:
        return float(self.values[self.graders.index(a), self.graders.index(b)])

    def mean_pairwise(self) -> float:
        """Mean over distinct pairs (NaN with fewer than two graders)."""
        n = len(self.graders)
        if n < 2:
            return math.nan
        return float(self.values[np.triu_indices(n, k=1)].mean())

    def as_dict(self) -> dict[str, dict[str, float]]:
        """Nested plain dict, grader → grader → IoU (JSON-able)."""
        return {
            a: {b: float(self.values[i, j]) for j, b in enumerate(self.graders)} for i, a in enumerate(self.graders)
        }


def agreement_iou(polys_by_grader: Mapping[str, Iterable[PolygonLike]]) -> IouMatrix:
    """The pairwise IoU matrix of the graders' outlined areas, in the mapping's order."""
    by_name = grader_coverages(polys_by_grader)
    names, coverages = tuple(by_name), list(by_name.values())
    n = len(names)
    values = np.eye(n, dtype=np.float64)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = coverages[i], coverages[j]
            union = shapely.union(a, b).area
            values[i, j] = values[j, i] = 1.0 if union == 0 else shapely.intersection(a, b).area / union
    return IouMatrix(names, values)


# --------------------------------------------------------------------------- helpers
def _to_geometry(item: PolygonLike, where: str) -> BaseGeometry:
    if isinstance(item, BaseGeometry):
        return item
    if hasattr(item, "points"):  # a Shape
        rings: list[Any] = [item.points, *getattr(item, "holes", ())]
    else:
        try:
            rings = list(item)
        except TypeError:
            raise ConsensusError(f"{where}: expected a polygon or a list of (x, y) points, got {item!r}") from None
        if rings and _is_point(rings[0]):
            rings = [rings]
    coords = [_ring(r, f"{where}, ring {k}") for k, r in enumerate(rings)]
    if not coords or len(coords[0]) < 3:
        return Polygon()
    return Polygon(coords[0], [h for h in coords[1:] if len(h) >= 3])


def _is_point(value: Any) -> bool:
    return (
        isinstance(value, Sequence | np.ndarray)
        and len(value) == 2
        and all(isinstance(c, Real | np.number) for c in value)
    )


def _ring(ring: Any, where: str) -> np.ndarray:
    try:
        arr = np.asarray(ring, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConsensusError(f"{where}: coordinates are not numbers") from None
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ConsensusError(f"{where}: expected (x, y) pairs, got an array of shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ConsensusError(f"{where}: coordinates must be finite")
    return arr


def _polygonal_parts(geometry: BaseGeometry) -> list[Polygon]:
    if geometry.is_empty:
        return []
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    parts = shapely.get_parts(geometry)
    while any(not isinstance(p, Polygon) and hasattr(p, "geoms") for p in parts):  # nested collections
        parts = np.concatenate([shapely.get_parts(p) for p in parts])
    return [p for p in parts if isinstance(p, Polygon) and not p.is_empty and p.area > 0]


def _as_polygonal(geometry: BaseGeometry) -> Polygon | MultiPolygon:
    """Keep only the area of an overlay result (drops stray lines and points)."""
    parts = _polygonal_parts(geometry)
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)
