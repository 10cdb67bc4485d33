"""Simulated graders: image-level grades and outlines with planned, not random, mistakes.

Each :class:`GraderProfile` fixes a grader's sensitivity and specificity for ROP presence. Errors
are *assigned* rather than drawn independently: every grader misses exactly
``round((1 - sensitivity) * positives)`` ROP images and over-calls exactly
``round((1 - specificity) * negatives)`` normal ones (among gradable images), and different
graders' mistakes land on different images wherever the counts allow. The majority of any three
graders therefore equals the truth almost everywhere, so a grader measured against the other
three reproduces its profile. A few images (``tie_count``) are deliberately misread by two graders
at once, a 2–2 split for the adjudication workflow (alternately a missed ROP image and an
over-called normal one). Stage (±1), plus (±1 level) and zone (±1) disagreements are spread the
same way; ungradable marks fall on the poor-quality images only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import LesionType, Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.domain.zones import Landmarks

from .geometry import simple_rings
from .spec import DemoError, FundusTruth, LesionPolygon, lesion_kind

_T = TypeVar("_T")
_ZONES = (Zone.I, Zone.POSTERIOR_II, Zone.II, Zone.III)
_PLUS = (Plus.NORMAL, Plus.PRE_PLUS, Plus.PLUS)


@dataclass(frozen=True)
class GraderProfile:
    """How one simulated grader errs. Rates are shares of the images the grader grades."""

    name: str
    sensitivity: float
    specificity: float
    stage_confusion_rate: float = 0.1  # ROP images called one stage off (never across stage 0)
    plus_error_rate: float = 0.05  # images called one plus level off
    ungradable_rate: float = 0.03  # share of all images marked ungradable (poor-quality ones only)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise DemoError("a grader needs a name")
        for field in ("sensitivity", "specificity", "stage_confusion_rate", "plus_error_rate", "ungradable_rate"):
            value = getattr(self, field)
            if not 0.0 <= value <= 1.0:
                raise DemoError(f"{self.name}: {field} must be within 0..1 (got {value})")


DEFAULT_GRADERS: tuple[GraderProfile, ...] = (
    GraderProfile("Dr. Avery", 0.95, 0.92, 0.10, 0.05, 0.03),
    GraderProfile("Dr. Boateng", 0.90, 0.95, 0.12, 0.08, 0.02),
    GraderProfile("Dr. Chen", 0.85, 0.90, 0.15, 0.10, 0.05),
    GraderProfile("Dr. Diaz", 0.80, 0.97, 0.10, 0.06, 0.04),
)


@dataclass(frozen=True)
class DemoGrade:
    """One grader's answer on one image: the grade, the outlines drawn and the landmarks placed."""

    grader: str
    values: GradeValues
    polygons: tuple[LesionPolygon, ...]
    landmarks: Landmarks | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"values": self.values.as_dict(), "polygons": [p.as_dict() for p in self.polygons]}
        if self.landmarks is not None:
            out["landmarks"] = self.landmarks.as_dict()
        return out


def tie_count(gradable_images: int) -> int:
    """How many 2–2 ROP splits a study of ``gradable_images`` gets (one per ~35 images)."""
    return gradable_images // 35


def _pick(
    candidates: Sequence[int], k: int, load: np.ndarray, weights: np.ndarray, rng: np.random.Generator
) -> list[int]:
    """Pick ``k`` candidates, least-loaded first, weighted within a load level."""
    chosen: list[int] = []
    pool = np.asarray(candidates, dtype=np.int64)
    for level in np.unique(load[pool]) if pool.size else []:
        if len(chosen) >= k:
            break
        at = pool[load[pool] == level]
        take = min(k - len(chosen), at.size)
        w = weights[at] + 1e-9
        chosen.extend(int(i) for i in rng.choice(at, size=take, replace=False, p=w / w.sum()))
    return chosen


@dataclass
class _Plan:
    """Per grader, the image indices where it errs in each way."""

    wrong_presence: list[set[int]]
    stage_shift: list[dict[int, Stage]]
    plus_shift: list[set[int]]
    zone_shift: list[set[int]]
    ungradable: list[set[int]]


def _plan(truths: Sequence[FundusTruth], profiles: Sequence[GraderProfile], rng: np.random.Generator) -> _Plan:
    """Decide every grader's mistakes, spreading them so that they rarely coincide."""
    positives = [i for i, t in enumerate(truths) if not t.poor_quality and t.stage is not Stage.S0]
    negatives = [i for i, t in enumerate(truths) if not t.poor_quality and t.stage is Stage.S0]
    plan = _Plan(_presence_errors(truths, profiles, positives, negatives, rng), [], [], [], [])
    poor = [i for i, t in enumerate(truths) if t.poor_quality]
    graded = positives + negatives
    ones = np.ones(len(truths))
    stage_load, plus_load, zone_load, mark_load = (np.zeros(len(truths)) for _ in range(4))

    def spread(pool: list[int], k: int, load: np.ndarray) -> set[int]:
        chosen = set(_pick(pool, k, load, ones, rng))
        load[list(chosen)] += 1
        return chosen

    for j, profile in enumerate(profiles):
        called = [i for i in positives if i not in plan.wrong_presence[j]]
        shifted = spread(called, round(profile.stage_confusion_rate * len(called)), stage_load)
        plan.stage_shift.append({i: _neighbour_stage(truths[i].stage, rng) for i in sorted(shifted)})
        plan.plus_shift.append(spread(graded, round(profile.plus_error_rate * len(graded)), plus_load))
        plan.zone_shift.append(spread(graded, round(profile.stage_confusion_rate / 2 * len(graded)), zone_load))
        marks = min(len(poor), round(profile.ungradable_rate * len(truths)))
        plan.ungradable.append(spread(poor, marks, mark_load))
    return plan


def _presence_errors(
    truths: Sequence[FundusTruth],
    profiles: Sequence[GraderProfile],
    positives: list[int],
    negatives: list[int],
    rng: np.random.Generator,
) -> list[set[int]]:
    """Per grader, the images whose ROP presence it gets wrong: exact quotas, least-shared images first."""
    stage_weight = np.array([{Stage.S0: 1.0, Stage.S1: 3.0, Stage.S2: 1.5, Stage.S3: 0.5}[t.stage] for t in truths])
    fp_weight = np.array([1.0 if t.mature else 3.0 for t in truths])  # over-calls land on immature retinas
    fn_quota = [round((1 - p.sensitivity) * len(positives)) for p in profiles]
    fp_quota = [round((1 - p.specificity) * len(negatives)) for p in profiles]
    load = np.zeros(len(truths))
    wrong: list[set[int]] = [set() for _ in profiles]
    # deliberate 2-2 splits, alternating: the two least sensitive graders both miss a (mostly stage-1)
    # image, then the two least specific both over-call a normal one; each split shifts the other
    # graders' leave-one-out reference on one image, so alternating keeps that cost spread thin
    if len(profiles) >= 4:
        ties = tie_count(len(positives) + len(negatives))
        for pool, quota, weight, count in (
            (positives, fn_quota, stage_weight, (ties + 1) // 2),
            (negatives, fp_quota, fp_weight, ties // 2),
        ):
            pair = sorted(range(len(profiles)), key=lambda j: -quota[j])[:2]
            for i in _pick(pool, min(count, *(quota[j] for j in pair)), load, weight, rng):
                for j in pair:
                    wrong[j].add(i)
                load[i] += 2
    for j in sorted(range(len(profiles)), key=lambda j: -(fn_quota[j] + fp_quota[j])):
        for pool, own_quota, weight in ((positives, fn_quota[j], stage_weight), (negatives, fp_quota[j], fp_weight)):
            members = set(pool)
            need = own_quota - len(wrong[j] & members)
            for i in _pick([i for i in pool if i not in wrong[j]], need, load, weight, rng):
                wrong[j].add(i)
                load[i] += 1
    return wrong


def _neighbour_stage(stage: Stage, rng: np.random.Generator) -> Stage:
    if stage is Stage.S1:
        return Stage.S2
    if stage is Stage.S3:
        return Stage.S2
    return Stage.S1 if rng.random() < 0.5 else Stage.S3


def _neighbour(options: tuple[_T, ...], value: _T, rng: np.random.Generator) -> _T:
    k = options.index(value)
    steps = [s for s in (-1, 1) if 0 <= k + s < len(options)]
    return options[k + int(rng.choice(steps))]


def simulate_grades(
    truths: Sequence[FundusTruth], profiles: Sequence[GraderProfile], size: tuple[int, int], rng: np.random.Generator
) -> list[tuple[DemoGrade, ...]]:
    """Every grader's grade and outlines for every image (outer list: images, inner: graders)."""
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise DemoError(f"grader names must be unique, got {names}")
    plan = _plan(truths, profiles, rng)
    out = []
    for i, truth in enumerate(truths):
        row = []
        for j, profile in enumerate(profiles):
            if i in plan.ungradable[j]:
                row.append(DemoGrade(profile.name, _ungradable(rng), ()))
                continue
            row.append(
                _grade(
                    truth,
                    profile.name,
                    i in plan.wrong_presence[j],
                    plan.stage_shift[j].get(i),
                    i in plan.plus_shift[j],
                    i in plan.zone_shift[j],
                    size,
                    rng,
                )
            )
        out.append(tuple(row))
    return out


def _ungradable(rng: np.random.Generator) -> GradeValues:
    return GradeValues(
        rop=RopPresence.NA,
        stage=Stage.NA,
        zone=Zone.NA,
        plus=Plus.NA,
        quality=Quality.UNGRADABLE,
        confidence=int(rng.integers(3, 6)),
        comment="blurred, dark image",
    )


def _grade(
    truth: FundusTruth,
    grader: str,
    flip: bool,
    stage_shift: Stage | None,
    plus_off: bool,
    zone_off: bool,
    size: tuple[int, int],
    rng: np.random.Generator,
) -> DemoGrade:
    says_rop = (truth.stage is not Stage.S0) != flip
    if not says_rop:
        stage = Stage.S0
    elif truth.stage is Stage.S0:
        stage = Stage.S1
    else:
        stage = stage_shift or truth.stage
    plus = _neighbour(_PLUS, truth.plus, rng) if plus_off else truth.plus
    zone = _neighbour(_ZONES, truth.zone, rng) if zone_off else truth.zone
    if stage is Stage.S0:
        extent = 0
    elif truth.stage is Stage.S0:
        extent = int(rng.integers(1, 3))
    else:
        extent = int(np.clip(truth.extent_clock_hours + rng.integers(-1, 2), 1, 12))
    unsure = flip or stage_shift is not None or truth.poor_quality
    confidence = int(rng.integers(2, 4) if unsure else rng.integers(4, 6))
    values = GradeValues(
        rop=RopPresence.YES if says_rop else RopPresence.NO,
        stage=stage,
        zone=zone,
        plus=plus,
        arop=False,
        extent_clock_hours=extent,
        quality=Quality.GRADABLE,
        confidence=confidence,
    )
    polygons: tuple[LesionPolygon, ...] = ()
    if says_rop and truth.stage is not Stage.S0:
        polygons = tuple(p for lesion in truth.lesions for p in perturb_lesion(lesion, stage, truth, size, rng))
    elif says_rop:
        polygons = false_line(truth, size, rng)
    return DemoGrade(grader, values, polygons)


def _allowed_area(truth: FundusTruth, size: tuple[int, int]) -> Polygon:
    cx, cy, r = truth.fov
    return Point(cx, cy).buffer(r - 1.0, quad_segs=32).intersection(box(0.5, 0.5, size[0] - 1.5, size[1] - 1.5))


def perturb_lesion(
    lesion: LesionPolygon, stage: Stage, truth: FundusTruth, size: tuple[int, int], rng: np.random.Generator
) -> list[LesionPolygon]:
    """A grader's tracing of ``lesion``: shifted a little, a little wider or narrower, wobbly vertices."""
    scale = min(size) / 480.0
    shape = shapely.make_valid(lesion.polygon())
    half_width = max(0.75, shape.area / max(shape.length, 1e-6))
    shape = affinity.translate(shape, *rng.normal(0.0, 1.2 * scale, 2))
    shape = shape.buffer(half_width * rng.uniform(-0.2, 0.35), quad_segs=2)
    shape = shape.simplify(0.5 * scale)
    wobbly = []
    for part in getattr(shape, "geoms", [shape]):
        if isinstance(part, Polygon) and not part.is_empty:
            ring = np.asarray(part.exterior.coords)[:-1]
            wobbly.append(shapely.make_valid(Polygon(ring + rng.normal(0.0, 0.35 * scale, ring.shape))))
    shape = shapely.union_all(wobbly).intersection(_allowed_area(truth, size)) if wobbly else Polygon()
    rings = simple_rings(shape, min_area=max(2.0, 0.1 * lesion.polygon().area))
    return [LesionPolygon(lesion_kind(stage), stage, ring) for ring in rings]


def false_line(truth: FundusTruth, size: tuple[int, int], rng: np.random.Generator) -> tuple[LesionPolygon, ...]:
    """An over-caller's outline on a normal retina: a short thin stroke along the vascular border."""
    runs = [run for run in truth.vascular_border if len(run) >= 8]
    if not runs:
        return ()
    run = np.asarray(max(runs, key=len))
    length = max(8, int(len(run) * rng.uniform(0.15, 0.35)))
    start = int(rng.integers(0, len(run) - length + 1))
    stroke = LineString(run[start : start + length]).buffer(2.0 * min(size) / 480.0 + 0.5, quad_segs=2)
    shape = stroke.intersection(_allowed_area(truth, size))
    return tuple(LesionPolygon(LesionType.DEMARCATION_LINE, Stage.S1, ring) for ring in simple_rings(shape, 2.0))
