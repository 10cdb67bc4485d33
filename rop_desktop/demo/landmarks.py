"""Simulated landmarks: where each demo grader clicks the optic disc centre, its rim and the fovea.

A grader's clicks scatter around the truth (the disc a little — it is easy to see —, the fovea
more, in proportion to the disc–fovea distance); nobody places landmarks on an image they called
ungradable, and nobody places a fovea that lies outside the camera's aperture (a peripheral
view): there the zone suggestion is refused, as it is for a real grader. Deterministic in the
seed, and drawn from a random stream of its own, so adding landmarks changes no grade.
"""

from __future__ import annotations

import math

import numpy as np

from rop_desktop.domain.labels import Quality
from rop_desktop.domain.zones import Landmarks

from .spec import FundusTruth

#: Click scatter in disc–fovea distances (standard deviation per axis).
DISC_SCATTER = 0.02
FOVEA_SCATTER = 0.05
#: Relative scatter of the measured disc radius.
RADIUS_SCATTER = 0.06


def simulate_landmarks(truth: FundusTruth, quality: Quality | None, rng: np.random.Generator) -> Landmarks | None:
    """One grader's landmarks on one image, or None when they would place none (ungradable)."""
    if quality is Quality.UNGRADABLE or truth.fovea is None:
        return None
    dx, dy, dr = truth.disc
    fx, fy = truth.fovea
    df = math.hypot(fx - dx, fy - dy)
    disc = (round(dx + rng.normal(0, DISC_SCATTER * df), 1), round(dy + rng.normal(0, DISC_SCATTER * df), 1))
    radius = round(dr * float(np.clip(rng.normal(1.0, RADIUS_SCATTER), 0.8, 1.2)), 1)
    cx, cy, r = truth.fov
    fovea = None
    if math.hypot(fx - cx, fy - cy) < 0.95 * r:
        fovea = (round(fx + rng.normal(0, FOVEA_SCATTER * df), 1), round(fy + rng.normal(0, FOVEA_SCATTER * df), 1))
    return Landmarks(disc, radius, fovea)
