"""Retinal vessel trees for synthetic fundus images: branching curves from the disc to the border.

Each vessel is traced in polar coordinates around the optic disc (so it always runs outward):
its angle drifts toward a target (the temporal arcades bend around the macula), meanders by an
integrated random walk and, with plus disease, winds (tortuosity) and widens near the disc. A vessel
stops at the vascular/avascular border or the aperture edge and spawns thinner children.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rop_desktop.domain.labels import Plus

from .geometry import FundusLayout

#: (tortuosity amplitude in df, vein widening, artery widening) per plus level.
PLUS_EFFECT: dict[Plus, tuple[float, float, float]] = {
    Plus.NORMAL: (0.004, 1.0, 1.0),
    Plus.PRE_PLUS: (0.022, 1.3, 1.2),
    Plus.PLUS: (0.045, 1.75, 1.55),
}
_MAX_GENERATION = 2


@dataclass(frozen=True, eq=False)
class Vessel:
    points: np.ndarray  # (n, 2) image coordinates
    widths: np.ndarray  # (n,) pixels
    artery: bool


@dataclass(frozen=True)
class _Root:
    theta0: float
    target: float
    bend: float  # drift length, in df
    width: float  # pixels at a 480-high image
    artery: bool


def _roots(layout: FundusLayout, rng: np.random.Generator) -> list[_Root]:
    t = layout.temporal
    roots = []
    for s in (-1.0, 1.0):  # superior / inferior
        roots.append(
            _Root(
                t + s * rng.uniform(1.05, 1.35),
                t + s * rng.uniform(0.45, 0.62),
                rng.uniform(0.8, 1.2),
                rng.uniform(3.3, 3.9),
                False,
            )
        )
        roots.append(
            _Root(
                t + s * rng.uniform(0.85, 1.15),
                t + s * rng.uniform(0.32, 0.5),
                rng.uniform(0.8, 1.2),
                rng.uniform(2.4, 2.8),
                True,
            )
        )
        nasal = t + np.pi - s * rng.uniform(0.45, 0.95)
        roots.append(_Root(nasal, nasal + s * rng.uniform(-0.2, 0.2), 1.0, rng.uniform(2.5, 3.0), False))
        nasal = t + np.pi - s * rng.uniform(0.35, 1.05)
        roots.append(_Root(nasal, nasal + s * rng.uniform(-0.2, 0.2), 1.0, rng.uniform(1.9, 2.3), True))
    for _ in range(int(rng.integers(2, 5))):  # small macular and radial branches
        theta = t + rng.uniform(-0.35, 0.35) if rng.random() < 0.6 else t + rng.uniform(-np.pi, np.pi)
        artery = bool(rng.random() < 0.5)
        roots.append(_Root(theta, theta + rng.uniform(-0.15, 0.15), 0.6, rng.uniform(1.1, 1.6), artery))
    return roots


def vessel_tree(layout: FundusLayout, plus: Plus, mature: bool, rng: np.random.Generator) -> list[Vessel]:
    """All vessels of one image, roots first."""
    out: list[Vessel] = []
    r0 = 0.3 * layout.disc[2]
    for root in _roots(layout, rng):
        width = root.width * layout.scale
        _trace(
            layout, plus, mature, rng, out, r0, root.theta0, root.target, root.bend * layout.df, width, root.artery, 0
        )
    return out


def _trace(
    layout: FundusLayout,
    plus: Plus,
    mature: bool,
    rng: np.random.Generator,
    out: list[Vessel],
    r_start: float,
    theta0: float,
    target: float,
    bend: float,
    width: float,
    artery: bool,
    generation: int,
) -> None:
    cx, cy, radius = layout.fov
    step = 2.5 * layout.scale
    r_max = np.hypot(layout.disc[0] - cx, layout.disc[1] - cy) + radius
    r = np.arange(r_start, r_max, step)
    if r.size < 3:
        return
    s = r - r_start
    heading = np.cumsum(rng.normal(0.0, 0.035, r.size)) * np.sqrt(step)
    lateral = np.cumsum(np.sin(heading)) * step * 0.5
    amp, vein_gain, artery_gain = PLUS_EFFECT[plus]
    posterior = np.exp(-s / (1.6 * layout.df))
    wavelength = layout.df * rng.uniform(0.22, 0.36)
    lateral = lateral + amp * layout.df * posterior * np.sin(2 * np.pi * s / wavelength + rng.uniform(0, 2 * np.pi))
    theta = theta0 + (target - theta0) * (1 - np.exp(-s / bend)) + lateral / r
    pts = layout.polar_points(theta, r)
    end_border = 10.0 * radius if mature else 1.0
    stop = (r > layout.border_at(theta) * rng.uniform(0.96, 1.0) * end_border) | (
        np.hypot(pts[:, 0] - cx, pts[:, 1] - cy) > radius - 1
    )
    n = int(np.argmax(stop)) if stop.any() else r.size
    if n < 3:
        return
    pts, r, theta, s = pts[:n], r[:n], theta[:n], s[:n]
    gain = artery_gain if artery else vein_gain
    widths = width * (1 + (gain - 1) * np.exp(-s / (2.0 * layout.df))) * (1 - 0.3 * s / max(s[-1], 1.0))
    children = []
    if generation < _MAX_GENERATION:
        at = r_start + layout.df * rng.uniform(0.4, 0.8) * (1.5 if generation == 0 else 1.0)
        while at < r[-1] - 0.15 * layout.df:
            i = int(np.searchsorted(r, at))
            child_w = widths[i] * rng.uniform(0.45, 0.7)
            if child_w >= 0.6 * layout.scale:
                side = rng.choice((-1.0, 1.0))
                children.append(
                    (
                        r[i],
                        theta[i],
                        theta[i] + side * rng.uniform(0.15, 0.45) * layout.df / r[i] * 2,
                        layout.df * rng.uniform(0.25, 0.7),
                        child_w,
                    )
                )
            widths[i:] *= 0.9
            at += layout.df * rng.uniform(0.5, 1.0)
    out.append(Vessel(pts, widths, artery))
    for c_r, c_theta, c_target, c_bend, c_w in children:
        _trace(layout, plus, mature, rng, out, c_r, c_theta, c_target, c_bend, c_w, artery, generation + 1)


def draw_vessels(vessels: list[Vessel], shape: tuple[int, int], artery: bool, chunk: int = 8) -> np.ndarray:
    """Anti-aliased coverage (float32 HxW, 0..1) of the arteries or the veins."""
    groups: dict[tuple[int, int], list[np.ndarray]] = {}
    for vessel in vessels:
        if vessel.artery is not artery:
            continue
        fixed = np.round(vessel.points * 16).astype(np.int32)
        starts = np.arange(0, len(fixed) - 1, chunk)
        means = np.add.reduceat(vessel.widths, starts) / np.diff(np.append(starts, len(fixed)))
        thickness = np.maximum(1, np.round(means)).astype(int)
        level = np.round(np.minimum(1.0, means / 1.6) * 4).astype(int)  # thin vessels are fainter
        for start, t, lv in zip(starts.tolist(), thickness.tolist(), level.tolist(), strict=True):
            if lv > 0:
                groups.setdefault((t, lv), []).append(fixed[start : start + chunk + 1].reshape(-1, 1, 2))
    mask = np.zeros(shape, np.uint8)
    for (width, faintness), lines in sorted(groups.items()):
        cv2.polylines(mask, lines, False, int(faintness * 255 // 4), width, cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0
