"""ICROP3 zones from two landmarks: the optic disc centre and the fovea (plain numpy + shapely).

ICROP3 defines zone by geometry, centred on the optic disc:

* **zone I** — a circle whose radius is twice the disc–fovea distance (``DF``);
* **posterior zone II** — the ring of two disc diameters beyond zone I;
* **zone II** — out to the nasal ora serrata;
* **zone III** — the remaining temporal crescent.

A fundus photograph never shows the ora serrata, so the zone II boundary drawn here is an
*estimate*: :data:`ZONE_II_PER_ZONE_I` zone-I radii (zone I subtends about 30° from the disc,
the nasal ora about 60°). It is labelled as an estimate wherever it is shown. Beyond it, only the
temporal side is zone III; a point beyond the estimate on the nasal side (away from the fovea)
is still zone II, because zone II reaches the nasal ora by definition.

When the grader did not measure the disc radius, one disc diameter is estimated as
``DF / DF_PER_DISC_DIAMETER`` (the disc–fovea distance is about 2.65 disc diameters; Jonas et
al., Beijing Eye Study 2011) and the estimate is reported.

Coordinates are image pixels (x right, y down), as everywhere in the domain. Wide-field images
are not a flat projection of the retina; rings drawn on one image are the clinical convention
applied to the photograph, which is what a grader does by eye. The zone **suggestion** from the
ridge outline's most posterior point (:func:`suggest_zone`) is therefore a suggestion: the grader
confirms or overrides it. It is refused, with the reason, whenever the landmarks cannot carry it
(missing, degenerate, or outside the camera's field of view).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from shapely import LineString, Polygon, unary_union
from shapely import Point as _Point
from shapely.ops import nearest_points

from rop_desktop.domain.errors import DomainError

from .labels import Eye, Zone
from .shapes import Point

#: Zone I radius in disc–fovea distances (ICROP3).
ZONE_I_PER_DF = 2.0
#: Posterior zone II reaches this many disc diameters beyond zone I (ICROP3).
POSTERIOR_II_DISC_DIAMETERS = 2.0
#: Estimated zone II radius in zone-I radii (zone I ≈ 30° from the disc, nasal ora ≈ 60°).
ZONE_II_PER_ZONE_I = 2.0
#: Disc–fovea distance in disc diameters, to estimate a disc that was not measured.
DF_PER_DISC_DIAMETER = 2.65
#: Landmarks closer than this (pixels) cannot define a distance.
MIN_DISC_FOVEA_PX = 3.0


class LandmarkError(DomainError):
    """Landmark values that cannot be stored (not numbers, negative radius); ``reason`` says why."""


class ZoneRefused(DomainError):
    """The zones cannot be drawn or suggested from these landmarks; ``reason`` is for the grader."""


def _point(value: object, what: str) -> Point | None:
    if value is None:
        return None
    pair = tuple(value) if isinstance(value, Iterable) else ()
    try:
        x, y = pair
        fx, fy = float(x), float(y)
    except (TypeError, ValueError):
        raise LandmarkError(f"The {what} must be an (x, y) pair of numbers, not {value!r}.") from None
    if not (math.isfinite(fx) and math.isfinite(fy)):
        raise LandmarkError(f"The {what} position is not a finite number: {value!r}.")
    return fx, fy


@dataclass(frozen=True)
class Landmarks:
    """One grader's landmarks on one image: disc centre, optional disc radius, fovea centre.

    Any of them may be missing (``None``): a grader places them one at a time, and a peripheral
    image may show no fovea at all.
    """

    disc: Point | None = None
    disc_radius: float | None = None
    fovea: Point | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "disc", _point(self.disc, "optic disc"))
        object.__setattr__(self, "fovea", _point(self.fovea, "fovea"))
        r = self.disc_radius
        if r is not None:
            try:
                r = float(r)
            except (TypeError, ValueError):
                raise LandmarkError(f"The disc radius must be a number of pixels, not {r!r}.") from None
            if not math.isfinite(r) or r <= 0:
                raise LandmarkError(f"The disc radius must be a positive number of pixels, not {r!r}.")
            object.__setattr__(self, "disc_radius", r)
        if self.disc is None and self.disc_radius is not None:
            raise LandmarkError("A disc radius needs the disc centre.")

    @property
    def empty(self) -> bool:
        return self.disc is None and self.fovea is None

    @property
    def complete(self) -> bool:
        """Both the disc centre and the fovea are placed (enough for zones)."""
        return self.disc is not None and self.fovea is not None

    def with_(self, **changes: Any) -> Landmarks:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for storage, audit and export: ``{"disc": [x, y] | None, ...}``."""
        return {
            "disc": None if self.disc is None else [round(self.disc[0], 2), round(self.disc[1], 2)],
            "disc_radius": None if self.disc_radius is None else round(self.disc_radius, 2),
            "fovea": None if self.fovea is None else [round(self.fovea[0], 2), round(self.fovea[1], 2)],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Landmarks:
        data = data or {}
        return cls(data.get("disc"), data.get("disc_radius"), data.get("fovea"))


@dataclass(frozen=True)
class ZoneRings:
    """The zone boundaries of one image, as circles around the disc centre (pixels)."""

    centre: Point
    disc_fovea: float
    disc_diameter: float
    #: True when the disc diameter was estimated from the disc–fovea distance
    disc_estimated: bool
    zone_i: float
    posterior_ii: float
    #: the estimated zone II boundary (the nasal ora serrata is never in a photograph)
    zone_ii: float
    #: unit vector from the disc towards the fovea (the temporal direction)
    temporal: tuple[float, float]

    def radii(self) -> dict[Zone, float]:
        """The outer radius of each zone with a ring (zone I, posterior II, II)."""
        return {Zone.I: self.zone_i, Zone.POSTERIOR_II: self.posterior_ii, Zone.II: self.zone_ii}

    def zone_at(self, point: Point) -> Zone:
        """The zone of an image point. A point on a boundary belongs to the inner (more posterior,
        more severe) zone; beyond the zone II estimate only the temporal side is zone III."""
        dx, dy = point[0] - self.centre[0], point[1] - self.centre[1]
        d = math.hypot(dx, dy)
        if d <= self.zone_i + 1e-9:
            return Zone.I
        if d <= self.posterior_ii + 1e-9:
            return Zone.POSTERIOR_II
        if d <= self.zone_ii + 1e-9:
            return Zone.II
        temporal_side = dx * self.temporal[0] + dy * self.temporal[1] > 0
        return Zone.III if temporal_side else Zone.II

    def distance_in_df(self, point: Point) -> float:
        return math.hypot(point[0] - self.centre[0], point[1] - self.centre[1]) / self.disc_fovea


def zone_rings(landmarks: Landmarks) -> ZoneRings:
    """The rings of :class:`ZoneRings` from the landmarks; :class:`ZoneRefused` says what is missing."""
    if landmarks.disc is None and landmarks.fovea is None:
        raise ZoneRefused("Place the optic disc (D) and the fovea (F) to see the zones.")
    if landmarks.disc is None:
        raise ZoneRefused("Place the optic disc centre (D): the zones are centred on it.")
    if landmarks.fovea is None:
        raise ZoneRefused("Place the fovea (F): zone I's radius is twice the disc–fovea distance.")
    (x0, y0), (x1, y1) = landmarks.disc, landmarks.fovea
    df = math.hypot(x1 - x0, y1 - y0)
    if df < MIN_DISC_FOVEA_PX:
        raise ZoneRefused("The disc and the fovea are on the same spot: place them where they are.")
    if landmarks.disc_radius is not None:
        diameter, estimated = 2.0 * landmarks.disc_radius, False
        if landmarks.disc_radius >= df:
            raise ZoneRefused(
                "The disc radius reaches the fovea: measure the disc again (drag from its centre to its rim)."
            )
    else:
        diameter, estimated = df / DF_PER_DISC_DIAMETER, True
    zone_i = ZONE_I_PER_DF * df
    return ZoneRings(
        landmarks.disc,
        df,
        diameter,
        estimated,
        zone_i,
        zone_i + POSTERIOR_II_DISC_DIAMETERS * diameter,
        ZONE_II_PER_ZONE_I * zone_i,
        ((x1 - x0) / df, (y1 - y0) / df),
    )


# ---------------------------------------------------------------------------- the field of view
@dataclass(frozen=True)
class FieldOfView:
    """Where the camera saw retina: the image rectangle, and the aperture circle when known."""

    width: float
    height: float
    circle: tuple[float, float, float] | None = None

    def contains(self, p: Point) -> bool:
        if not (0.0 <= p[0] <= self.width and 0.0 <= p[1] <= self.height):
            return False
        if self.circle is None:
            return True
        cx, cy, r = self.circle
        return math.hypot(p[0] - cx, p[1] - cy) <= r


def _landmark_check(landmarks: Landmarks, fov: FieldOfView | None, eye: Eye | None) -> list[str]:
    """Refusals (``raise``) for landmarks outside the field; notes (returned) for odd ones."""
    notes: list[str] = []
    if fov is not None:
        if landmarks.fovea is not None and not fov.contains(landmarks.fovea):
            raise ZoneRefused(
                "The fovea is outside the camera's field of view on this image: the disc–fovea "
                "distance cannot be measured, so no zone is suggested. Grade the zone on the "
                "posterior-pole image."
            )
        if landmarks.disc is not None and not fov.contains(landmarks.disc):
            raise ZoneRefused(
                "The optic disc is outside the camera's field of view on this image: the zones "
                "cannot be centred, so no zone is suggested."
            )
    if eye is not None and landmarks.complete:
        assert landmarks.disc is not None and landmarks.fovea is not None
        fovea_left = landmarks.fovea[0] < landmarks.disc[0]
        if (eye is Eye.OD) != fovea_left:
            side, name = ("left", "right eye (OD)") if eye is Eye.OD else ("right", "left eye (OS)")
            notes.append(
                f"In a photograph of a {name} the fovea usually lies {side} of the disc: check the "
                "landmarks (or the eye) before accepting."
            )
    return notes


# ---------------------------------------------------------------------------- the suggestion
@dataclass(frozen=True)
class ZoneSuggestion:
    """What the landmarks and the ridge outline say about the zone of one image.

    ``zone`` is None when refused; ``reason`` then says why, else how the zone was found.
    ``point`` is the ridge's most posterior point (nearest the disc centre) and
    ``distance_df`` its distance from the disc in disc–fovea distances.
    """

    zone: Zone | None
    reason: str
    point: Point | None = None
    distance_df: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return self.zone is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "zone": None if self.zone is None else self.zone.value,
            "reason": self.reason,
            "point": None if self.point is None else [round(self.point[0], 2), round(self.point[1], 2)],
            "distance_df": None if self.distance_df is None else round(self.distance_df, 3),
            "notes": list(self.notes),
        }


def _polygons(outlines: Iterable[Sequence[Point]]) -> list[Polygon]:
    out = []
    for ring in outlines:
        if len(ring) >= 3:
            poly = Polygon(ring)
            out.append(poly if poly.is_valid else poly.buffer(0))
    return [p for p in out if not p.is_empty]


def most_posterior_point(disc: Point, outlines: Iterable[Sequence[Point]]) -> Point | None:
    """The point of the outlines nearest the disc centre (the disc itself when inside one); None
    when there is no outline."""
    polygons = _polygons(outlines)
    if not polygons:
        return None
    union = unary_union(polygons)
    nearest = nearest_points(union, _Point(disc))[0]
    return float(nearest.x), float(nearest.y)


def suggest_zone(
    landmarks: Landmarks | None,
    outlines: Iterable[Sequence[Point]],
    *,
    fov: FieldOfView | None = None,
    eye: Eye | None = None,
) -> ZoneSuggestion:
    """The zone of the ridge / demarcation line from its most posterior point (never raises).

    ``outlines``: the grader's lesion outlines on this image (exterior rings). Refused — zone
    None, with the reason — without landmarks, with only one of them, with degenerate ones, with
    the disc or fovea outside ``fov`` (the camera's field of view), or without any outline.
    """
    try:
        if landmarks is None:
            raise ZoneRefused("Place the optic disc (D) and the fovea (F) to get a zone suggestion.")
        notes = _landmark_check(landmarks, fov, eye)
        rings = zone_rings(landmarks)
    except ZoneRefused as refused:
        return ZoneSuggestion(None, refused.reason)
    assert landmarks.disc is not None
    point = most_posterior_point(landmarks.disc, outlines)
    if point is None:
        return ZoneSuggestion(
            None,
            "No ridge or demarcation line is outlined on this image: outline it to get a zone suggestion.",
            notes=tuple(notes),
        )
    zone = rings.zone_at(point)
    d = rings.distance_in_df(point)
    where = {
        Zone.I: f"within zone I (radius {ZONE_I_PER_DF:g} disc–fovea distances)",
        Zone.POSTERIOR_II: "within two disc diameters beyond zone I",
        Zone.II: "beyond posterior zone II, within the estimated zone II boundary",
        Zone.III: "beyond the estimated zone II boundary, on the temporal side",
    }[zone]
    if zone is Zone.II and d * rings.disc_fovea > rings.zone_ii:
        where = "beyond the estimated zone II boundary on the nasal side (zone II reaches the nasal ora)"
    reason = f"The ridge's most posterior point is {d:.2f} disc–fovea distances from the disc: {where}."
    if rings.disc_estimated and zone in (Zone.POSTERIOR_II, Zone.II):
        notes.append(
            "The disc diameter was estimated (disc–fovea distance ÷ 2.65): drag from the disc centre to "
            "its rim to measure it."
        )
    return ZoneSuggestion(zone, reason, point, d, tuple(notes))


# ---------------------------------------------------------------------------- clock hours
def clock_angle(centre: Point, point: Point) -> float:
    """Degrees clockwise from 12 o'clock (up in the image) of ``point`` seen from ``centre``."""
    return math.degrees(math.atan2(point[0] - centre[0], -(point[1] - centre[1]))) % 360.0


def clock_hours(disc: Point, outlines: Iterable[Sequence[Point]], *, min_share: float = 0.1) -> frozenset[int]:
    """The clock hours (1–12) the outlines cover as seen from the disc centre.

    12 o'clock is up in the image, 3 o'clock right (the examiner's view, both eyes). Hour ``h``
    is the 30° sector centred on ``h × 30°``; it counts when at least ``min_share`` of the
    sector's angular width is covered (a sliver of an outline crossing a boundary does not
    make a clock hour).
    """
    polygons = _polygons(outlines)
    if not polygons:
        return frozenset()
    union = unary_union(polygons)
    covered: set[int] = set()
    far = 10.0 * max(1.0, max(math.hypot(x - disc[0], y - disc[1]) for x, y in _coords(union)))
    for hour in range(1, 13):
        steps = 30
        hits = 0
        for k in range(steps):
            a = math.radians(hour * 30.0 - 15.0 + (k + 0.5) * 30.0 / steps)
            ray_end = (disc[0] + far * math.sin(a), disc[1] - far * math.cos(a))
            if union.intersects(LineString([disc, ray_end])):
                hits += 1
        if hits / steps >= min_share:
            covered.add(hour)
    return frozenset(covered)


def _coords(geometry: Any) -> list[tuple[float, float]]:
    if hasattr(geometry, "geoms"):
        return [c for g in geometry.geoms for c in _coords(g)]
    return [(float(x), float(y)) for x, y in geometry.exterior.coords]


# ---------------------------------------------------------------------------- two images of one eye
@dataclass(frozen=True)
class Similarity:
    """``p' = scale · R(rotation) · p + (tx, ty)``: maps one image's pixels onto another's."""

    scale: float = 1.0
    rotation: float = 0.0  # radians, image coordinates (y down: positive turns clockwise on screen)
    tx: float = 0.0
    ty: float = 0.0

    def map(self, p: Point) -> Point:
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        x, y = p
        return (self.scale * (c * x - s * y) + self.tx, self.scale * (s * x + c * y) + self.ty)

    def inverse(self) -> Similarity:
        c, s = math.cos(-self.rotation), math.sin(-self.rotation)
        inv = 1.0 / self.scale
        tx = -inv * (c * self.tx - s * self.ty)
        ty = -inv * (s * self.tx + c * self.ty)
        return Similarity(inv, -self.rotation, tx, ty)


def alignment(a: Landmarks, b: Landmarks) -> Similarity:
    """The similarity that takes image ``a``'s disc and fovea onto image ``b``'s (two visits of
    one eye); :class:`ZoneRefused` unless both images have both landmarks."""
    if not (a.complete and b.complete):
        raise ZoneRefused("Both images need the disc and the fovea placed to be aligned by them.")
    assert a.disc and a.fovea and b.disc and b.fovea
    va = (a.fovea[0] - a.disc[0], a.fovea[1] - a.disc[1])
    vb = (b.fovea[0] - b.disc[0], b.fovea[1] - b.disc[1])
    la, lb = math.hypot(*va), math.hypot(*vb)
    if la < MIN_DISC_FOVEA_PX or lb < MIN_DISC_FOVEA_PX:
        raise ZoneRefused("The disc and the fovea are on the same spot on one image: they cannot align it.")
    scale = lb / la
    rotation = math.atan2(vb[1], vb[0]) - math.atan2(va[1], va[0])
    rotation = math.atan2(math.sin(rotation), math.cos(rotation))
    c, s = math.cos(rotation), math.sin(rotation)
    x, y = a.disc
    tx = b.disc[0] - scale * (c * x - s * y)
    ty = b.disc[1] - scale * (s * x + c * y)
    return Similarity(scale, rotation, tx, ty)
