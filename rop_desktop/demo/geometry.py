"""Where things lie in one synthetic fundus image: aperture, optic disc, vascular border, lesion.

All distances are pixels, angles radians in image coordinates (x right, y down). ROP zones are
centred on the optic disc, in units of the disc–fovea distance ``df``: zone I reaches 2 df,
posterior zone II two disc diameters further, zone II to the nasal ora serrata, zone III beyond.
The layout is cheap (no pixels), so a study computes every image's truth without rendering it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.ops import unary_union

from rop_desktop.domain.labels import Eye, Stage, Zone

from .spec import FundusSpec, FundusTruth, LesionPolygon, lesion_kind

#: Vascular border radius from the disc centre, in disc–fovea distances, per zone.
ZONE_BORDER_DF: dict[Zone, tuple[float, float]] = {
    Zone.I: (1.55, 1.9),
    Zone.POSTERIOR_II: (2.1, 2.65),
    Zone.II: (2.9, 3.8),
    Zone.III: (4.2, 4.7),
}
#: Lesion line/ridge width in pixels at a 480-pixel-high image, per stage.
LESION_WIDTH: dict[Stage, tuple[float, float]] = {
    Stage.S1: (3.5, 4.5),
    Stage.S2: (8.0, 10.5),
    Stage.S3: (10.0, 12.5),
}


@dataclass(frozen=True, eq=False)
class FundusLayout:
    """Geometry of one image (see the module docstring for units)."""

    width: int
    height: int
    scale: float  # pixels per pixel of a 480-high image
    fov: tuple[float, float, float]
    disc: tuple[float, float, float]
    temporal: float  # direction disc -> fovea
    df: float  # disc-fovea distance
    border_radius: float  # mean radius of the vascular border around the disc
    border_wobble: np.ndarray  # (k, 2): relative amplitude and phase of harmonics 2..k+1
    lesion_angles: np.ndarray  # (n,) angles of the lesion centreline around the disc; empty for stage 0
    lesion_jitter: np.ndarray  # (n,) radial irregularity of the lesion centreline (pixels)
    lesion_width: float
    tufts: tuple[np.ndarray, ...]  # stage 3: irregular polygons (m, 2) of fibrovascular tufts

    @property
    def fovea(self) -> tuple[float, float]:
        return (self.disc[0] + self.df * np.cos(self.temporal), self.disc[1] + self.df * np.sin(self.temporal))

    def border_at(self, theta: np.ndarray) -> np.ndarray:
        """Radius of the vascular border around the disc at angles ``theta``."""
        theta = np.asarray(theta, dtype=np.float64)
        rel = np.ones_like(theta)
        for k, (amp, phase) in enumerate(self.border_wobble, start=2):
            rel = rel + amp * np.sin(k * theta + phase)
        return self.border_radius * rel

    def polar_points(self, theta: np.ndarray, radius: np.ndarray) -> np.ndarray:
        """(n, 2) image points at ``radius`` from the disc centre in directions ``theta``."""
        return np.stack([self.disc[0] + radius * np.cos(theta), self.disc[1] + radius * np.sin(theta)], axis=1)

    def lesion_line(self, offset: float = 0.0) -> np.ndarray:
        """Lesion centreline (n, 2); ``offset`` > 0 moves it peripherally (away from the disc)."""
        radius = self.border_at(self.lesion_angles) + self.lesion_jitter + offset
        return self.polar_points(self.lesion_angles, radius)

    def fov_area(self, margin: float) -> Polygon:
        """The aperture shrunk by ``margin`` pixels, intersected with the image."""
        cx, cy, r = self.fov
        disk = Point(cx, cy).buffer(r - margin, quad_segs=32)
        return disk.intersection(box(0.5, 0.5, self.width - 1.5, self.height - 1.5))


def make_layout(spec: FundusSpec, size: tuple[int, int]) -> FundusLayout:
    """Draw the geometry of ``spec`` at ``size`` = (width, height); deterministic in ``spec.seed``."""
    width, height = size
    rng = np.random.default_rng([spec.seed, 0])
    m = float(min(width, height))
    scale = m / 480.0
    radius = m * rng.uniform(0.45, 0.49)
    slack_y = max(0.0, height / 2 - radius - 1)
    cx = width / 2 + rng.uniform(-1, 1) * min(0.03 * m, max(0.0, width / 2 - radius - 1))
    cy = height / 2 + rng.uniform(-1, 1) * slack_y
    tilt = rng.uniform(0.04, 0.16)
    temporal = np.pi - tilt if spec.eye is Eye.OD else tilt  # OD: disc right of the fovea
    df = radius * rng.uniform(0.23, 0.28)
    if spec.mature:
        border = 3.0 * radius
    else:
        lo, hi = ZONE_BORDER_DF[spec.zone]
        border = df * rng.uniform(lo, hi)
    # nasal offset of the disc from the aperture centre: keep the temporal border in view
    if spec.view == 1:
        offset = max(radius * rng.uniform(0.12, 0.32), border - 0.8 * radius)
    else:
        offset = max(radius * rng.uniform(0.5, 0.72), border - 0.6 * radius)
    offset = min(offset, 0.78 * radius)
    side = rng.uniform(-0.08, 0.08) * radius
    ux, uy = np.cos(temporal), np.sin(temporal)
    disc_x = cx - offset * ux - side * uy
    disc_y = cy - offset * uy + side * ux
    disc_r = radius * rng.uniform(0.065, 0.08)
    harmonics = np.arange(2, 8)
    wobble = np.stack(
        [rng.uniform(0.2, 1.0, harmonics.size) * 0.05 / harmonics**0.8, rng.uniform(0, 2 * np.pi, harmonics.size)],
        axis=1,
    )
    layout = FundusLayout(
        width,
        height,
        scale,
        (cx, cy, radius),
        (disc_x, disc_y, disc_r),
        float(temporal),
        df,
        border,
        wobble,
        np.zeros(0),
        np.zeros(0),
        0.0,
        (),
    )
    if spec.stage is Stage.S0:
        return layout
    return _with_lesion(layout, spec, rng)


def _with_lesion(layout: FundusLayout, spec: FundusSpec, rng: np.random.Generator) -> FundusLayout:
    """Place the line/ridge arc (``extent`` clock hours) where the border is in view, near temporal."""
    cx, cy, radius = layout.fov
    grid = layout.temporal + np.linspace(-np.pi, np.pi, 72, endpoint=False)
    pts = layout.polar_points(grid, layout.border_at(grid))
    inside = np.hypot(pts[:, 0] - cx, pts[:, 1] - cy) < 0.82 * radius
    delta = np.angle(np.exp(1j * (grid - layout.temporal)))
    weights = np.exp(-((delta / 0.5) ** 2)) * inside
    centre = layout.temporal if weights.sum() == 0 else float(rng.choice(grid, p=weights / weights.sum()))
    lo, hi = LESION_WIDTH[spec.stage]
    width = max(1.5, layout.scale * rng.uniform(lo, hi))
    half = spec.extent_clock_hours * np.pi / 12
    gap = max(0.2, 3 * width / layout.border_radius)  # a full circle stays open: no polygon holes
    half = min(half, np.pi - gap / 2)
    step = 2.0 / layout.border_radius  # a point every ~2 px
    angles = np.arange(centre - half, centre + half + step / 2, step)
    knots = max(4, int(angles.size * 2.0 / (4 * width)) + 2)  # a random knot every ~4 widths
    jitter = np.interp(
        np.linspace(0, 1, angles.size),
        np.linspace(0, 1, knots),
        rng.normal(0.0, 0.22 * width + 0.8 * layout.scale, knots),
    )
    layout = replace(layout, lesion_angles=angles, lesion_jitter=jitter, lesion_width=width)
    if spec.stage is Stage.S3:
        layout = replace(layout, tufts=_tufts(layout, width, rng))
    return layout


def _tufts(layout: FundusLayout, width: float, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Irregular blobs straddling the ridge's posterior edge (fibrovascular proliferation)."""
    out = []
    line = layout.lesion_line()
    length = float(np.hypot(*np.diff(line, axis=0).T).sum())
    count = int(length / (2.2 * width) * rng.uniform(0.6, 1.0)) + 2
    for i in rng.integers(0, len(line), size=count):
        inward = np.array([layout.disc[0], layout.disc[1]]) - line[i]
        centre = line[i] + inward / np.linalg.norm(inward) * rng.uniform(0.0, 0.45) * width
        n = int(rng.integers(7, 11))
        phi = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = width * rng.uniform(0.3, 0.75) * rng.uniform(0.55, 1.0, n)
        out.append(centre + np.stack([rad * np.cos(phi), rad * np.sin(phi)], axis=1))
    return tuple(out)


def lesion_polygons(layout: FundusLayout, stage: Stage) -> tuple[LesionPolygon, ...]:
    """Ground-truth outlines of the visible line/ridge: simple valid polygons inside the aperture."""
    if layout.lesion_angles.size < 2:
        return ()
    shape = LineString(layout.lesion_line()).buffer(layout.lesion_width / 2 + 0.6 * layout.scale, quad_segs=4)
    if layout.tufts:
        shape = unary_union([shape, *(shapely.make_valid(Polygon(t)) for t in layout.tufts)])
    shape = shape.intersection(layout.fov_area(margin=2.0 * layout.scale))
    min_area = max(4.0, layout.lesion_width**2)
    return tuple(LesionPolygon(lesion_kind(stage), stage, ring) for ring in simple_rings(shape, min_area))


def simple_rings(shape: object, min_area: float, tolerance: float = 0.3) -> list[tuple[tuple[float, float], ...]]:
    """Exterior rings of the polygon parts of ``shape`` (holes cut open), each valid and ≥ ``min_area``."""
    rings = []
    for part in _polygon_parts(shape):
        for piece in _polygon_parts(_cut_holes(part)):
            piece = shapely.set_precision(piece.simplify(tolerance), 0.01)
            for final in _polygon_parts(piece):
                if final.area >= min_area and final.is_valid:
                    rings.append(tuple((float(x), float(y)) for x, y in final.exterior.coords[:-1]))
    return rings


def _polygon_parts(shape: object) -> list[Polygon]:
    if isinstance(shape, Polygon):
        return [] if shape.is_empty else [shape]
    if isinstance(shape, MultiPolygon) or hasattr(shape, "geoms"):
        return [p for g in shape.geoms for p in _polygon_parts(g)]
    return []


def _cut_holes(poly: Polygon) -> object:
    """Split a polygon with holes by a thin vertical cut through each hole, leaving simple parts."""
    result: object = poly
    for hole in poly.interiors:
        x = Polygon(hole).representative_point().x
        _, miny, _, maxy = poly.bounds
        result = result.difference(box(x - 0.05, miny - 1, x + 0.05, maxy + 1))  # type: ignore[attr-defined]
    return result


def vascular_border(layout: FundusLayout, mature: bool) -> tuple[tuple[tuple[float, float], ...], ...]:
    """Visible runs of the vascular/avascular junction (polylines inside the aperture)."""
    if mature:
        return ()
    cx, cy, radius = layout.fov
    step = 3.0 / layout.border_radius
    theta = np.arange(0.0, 2 * np.pi, step)
    pts = layout.polar_points(theta, layout.border_at(theta))
    inside = np.hypot(pts[:, 0] - cx, pts[:, 1] - cy) < radius - 3 * layout.scale
    if inside.all():
        return (tuple(map(tuple, np.round(pts, 2).tolist())),)
    start = int(np.argmin(inside))  # begin the scan outside so that no run wraps around
    pts, inside = np.roll(pts, -start, axis=0), np.roll(inside, -start)
    runs, current = [], []
    for p, ok in zip(np.round(pts, 2).tolist(), inside, strict=True):
        if ok:
            current.append((p[0], p[1]))
        elif current:
            runs.append(tuple(current))
            current = []
    if current:
        runs.append(tuple(current))
    return tuple(run for run in runs if len(run) >= 3)


def make_truth(spec: FundusSpec, layout: FundusLayout) -> FundusTruth:
    """The ground truth of ``spec`` drawn with ``layout``."""
    cx, cy, radius = layout.fov
    dx, dy, dr = layout.disc
    return FundusTruth(
        stage=spec.stage,
        zone=Zone.III if spec.mature else spec.zone,
        plus=spec.plus,
        extent_clock_hours=spec.extent_clock_hours,
        lesions=lesion_polygons(layout, spec.stage),
        fov=(float(cx), float(cy), float(radius)),
        disc=(float(dx), float(dy), float(dr)),
        vascular_border=vascular_border(layout, spec.mature),
        poor_quality=spec.poor_quality,
        mature=spec.mature,
        fovea=(float(layout.fovea[0]), float(layout.fovea[1])),
    )
