"""The treatment decision (ETROP) from an eye-level grade, and the roll-up of image grades to an eye.

ETROP (Early Treatment for ROP, 2003), as ICROP3 zones:

* **Type 1 → treat**: zone I, any stage with plus disease; zone I, stage 3 without plus;
  zone II, stage 2 or 3 with plus. A-ROP is treated as well.
* **Type 2 → close follow-up**: zone I, stage 1 or 2 without plus; zone II, stage 3 without
  plus.
* everything else → **routine** screening (pre-threshold-free).

"With plus" means plus disease; pre-plus is "without plus". ICROP3's posterior zone II is part of
zone II here (ETROP predates it). ETROP covers acute ROP (stages 1–3): stages 4 and 5 are retinal
detachments, which warrant treatment (surgery) outside ETROP's classes — they are reported as
*treatment-warranted* with that reason, never as "Type 1". Stage 0 (no ROP stage) with plus
disease is not an ETROP class; it is routine by the definition, and the reason says to review it
(A-ROP can look like that). A-ROP is read as "no" when it was not answered.

An answer that is missing or "not assessable" does not always leave the decision open: zone I,
stage 3 is Type 1 whatever the plus disease. :func:`classify` tries every value a missing field
could take and reports the class when they all agree, *undetermined* (with what is missing) when
they do not.

The roll-up (:func:`roll_up`) turns one grader's image-level grades of one eye at one visit into
the eye-level grade the exam view pre-fills: the highest stage, the most posterior zone, plus
disease from the posterior-pole image, A-ROP if any image has it, and the extent as the union of
the clock hours the ridge outlines cover around the disc (a lower bound — the largest image's
extent — where the clock positions are unknown).
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from .grades import GradeValues, Issue
from .labels import Plus, Quality, RopPresence, Stage, Zone
from .shapes import Point
from .zones import Landmarks, clock_hours


class TreatmentClass(str, enum.Enum):
    """The clinical decision an eye-level grade leads to (stable stored/exported values)."""

    TREAT = "treatment-warranted"
    FOLLOW_UP = "close follow-up"
    ROUTINE = "routine"
    UNDETERMINED = "undetermined"

    @property
    def label(self) -> str:
        return {
            TreatmentClass.TREAT: "Treatment-warranted",
            TreatmentClass.FOLLOW_UP: "Close follow-up",
            TreatmentClass.ROUTINE: "Routine",
            TreatmentClass.UNDETERMINED: "Not determined",
        }[self]

    @property
    def rank(self) -> int:
        """Severity order for comparisons: routine 0, close follow-up 1, treatment-warranted 2."""
        return {TreatmentClass.ROUTINE: 0, TreatmentClass.FOLLOW_UP: 1, TreatmentClass.TREAT: 2}.get(self, -1)


@dataclass(frozen=True)
class Classification:
    """The class, its ETROP name where it has one ("Type 1", "Type 2"), and why."""

    klass: TreatmentClass
    etrop: str | None
    reason: str
    missing: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"class": self.klass.value, "etrop": self.etrop, "reason": self.reason, "missing": list(self.missing)}


_ZONE_NAMES = {Zone.I: "zone I", Zone.POSTERIOR_II: "posterior zone II", Zone.II: "zone II", Zone.III: "zone III"}


def _decide(stage: int, zone: Zone, plus: bool) -> Classification:
    """ETROP for known values: ``stage`` 0–5, ``zone`` I / posterior II / II / III, ``plus``."""
    where = _ZONE_NAMES[zone]
    with_plus = "with plus disease" if plus else "without plus disease"
    if stage >= 4:
        return Classification(
            TreatmentClass.TREAT,
            None,
            f"Stage {stage}: retinal detachment — beyond ETROP's classes; refer for surgery.",
        )
    if stage == 0:
        if plus:
            return Classification(
                TreatmentClass.ROUTINE,
                None,
                f"No ROP stage, but plus disease in {where}: not an ETROP class — review (A-ROP?).",
            )
        return Classification(TreatmentClass.ROUTINE, None, "No ROP stage.")
    if zone is Zone.I:
        if plus:
            return Classification(TreatmentClass.TREAT, "Type 1", f"Zone I, stage {stage} {with_plus}.")
        if stage == 3:
            return Classification(TreatmentClass.TREAT, "Type 1", "Zone I, stage 3 without plus disease.")
        return Classification(TreatmentClass.FOLLOW_UP, "Type 2", f"Zone I, stage {stage} without plus disease.")
    if zone in (Zone.POSTERIOR_II, Zone.II):
        if plus and stage >= 2:
            return Classification(TreatmentClass.TREAT, "Type 1", f"{where.capitalize()}, stage {stage} {with_plus}.")
        if stage == 3:
            return Classification(
                TreatmentClass.FOLLOW_UP, "Type 2", f"{where.capitalize()}, stage 3 without plus disease."
            )
        return Classification(
            TreatmentClass.ROUTINE, None, f"{where.capitalize()}, stage {stage} {with_plus}: below Type 2."
        )
    return Classification(TreatmentClass.ROUTINE, None, f"Zone III, stage {stage} {with_plus}.")


_STAGES = (0, 1, 2, 3, 4, 5)
_ZONES = (Zone.I, Zone.POSTERIOR_II, Zone.II, Zone.III)


def classify(values: GradeValues) -> Classification:
    """The treatment class of an eye-level grade (see the module docstring)."""
    if values.quality is Quality.UNGRADABLE:
        return Classification(
            TreatmentClass.UNDETERMINED, None, "The eye could not be graded (ungradable).", ("quality",)
        )
    if values.arop:
        return Classification(TreatmentClass.TREAT, None, "A-ROP: treat.")
    missing: list[str] = []
    if values.stage is not None and values.stage is not Stage.NA:
        stages: Sequence[int] = (int(values.stage.major or 0),)
    elif values.rop is RopPresence.NO:
        stages = (0,)
    else:
        stages = _STAGES if values.rop is not RopPresence.YES else _STAGES[1:]
        missing.append("stage")
    if values.zone is not None and values.zone is not Zone.NA:
        zones: Sequence[Zone] = (values.zone,)
    else:
        zones = _ZONES
        missing.append("zone")
    if values.plus is not None and values.plus is not Plus.NA:
        pluses: Sequence[bool] = (values.plus is Plus.PLUS,)
    else:
        pluses = (False, True)
        missing.append("plus disease")
    outcomes = [_decide(s, z, p) for s, z, p in itertools.product(stages, zones, pluses)]
    classes = {o.klass for o in outcomes}
    if len(classes) == 1:
        first = outcomes[0]
        if not missing:
            return first
        etrops = {o.etrop for o in outcomes}
        reason = first.reason if len(outcomes) == 1 else f"{first.klass.label} whatever the {_join(missing)}."
        return Classification(first.klass, etrops.pop() if len(etrops) == 1 else None, reason, tuple(missing))
    return Classification(
        TreatmentClass.UNDETERMINED,
        None,
        f"Depends on the {_join(missing)} (not answered or not assessable).",
        tuple(missing),
    )


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# ---------------------------------------------------------------------------- the eye-level grade
def check_eye_grade(values: GradeValues) -> list[Issue]:
    """Consistency rules before an eye-level grade is submitted (errors block, warnings ask)."""
    issues: list[Issue] = []
    if values.quality is Quality.UNGRADABLE:
        return issues
    if values.stage is None:
        issues.append(Issue("stage", "Stage is not set.", "error"))
    stage = values.stage
    major = stage.major if stage else None
    if stage is not None and major is not None and major >= 1 and values.rop is RopPresence.NO:
        issues.append(Issue("rop", f"{stage.label} implies ROP present, but ROP is marked absent.", "error"))
    if values.extent_clock_hours is not None and not 0 <= values.extent_clock_hours <= 12:
        issues.append(Issue("extent_clock_hours", "Extent must be 0–12 clock hours.", "error"))
    if major is not None and major >= 1 and values.zone in (None, Zone.NA):
        issues.append(Issue("zone", "No zone: the treatment class may stay undetermined.", "warning"))
    if values.plus is None:
        issues.append(Issue("plus", "Plus disease is not set: the treatment class may stay undetermined.", "warning"))
    return issues


# ---------------------------------------------------------------------------- roll-up of images
@dataclass(frozen=True)
class ImageEvidence:
    """What one grader said about one image of the eye: grade, landmarks, lesion outlines."""

    name: str
    values: GradeValues
    landmarks: Landmarks | None = None
    outlines: tuple[tuple[Point, ...], ...] = ()
    size: tuple[int, int] | None = None  # (width, height)
    submitted: bool = True


@dataclass(frozen=True)
class RollUp:
    """The eye-level grade pre-filled from the image grades, and where each field came from."""

    values: GradeValues
    sources: dict[str, str] = field(default_factory=dict)
    #: the image that stood for the posterior pole (plus disease), if one was identified
    posterior_pole: str | None = None
    #: clock hours covered by the outlines (when known for every image with a lesion)
    clock_hours: frozenset[int] | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "values": self.values.as_dict(),
            "sources": dict(self.sources),
            "posterior_pole": self.posterior_pole,
            "clock_hours": None if self.clock_hours is None else sorted(self.clock_hours),
        }


def posterior_pole_image(images: Sequence[ImageEvidence]) -> ImageEvidence | None:
    """The image centred nearest the posterior pole: among images with both landmarks, the one
    whose disc–fovea midpoint is nearest the image centre (relative to the image size)."""
    best: tuple[float, ImageEvidence] | None = None
    for image in images:
        lm = image.landmarks
        if lm is None or not lm.complete or image.size is None:
            continue
        assert lm.disc is not None and lm.fovea is not None
        w, h = image.size
        mx, my = (lm.disc[0] + lm.fovea[0]) / 2, (lm.disc[1] + lm.fovea[1]) / 2
        off = math.hypot((mx - w / 2) / max(w, 1), (my - h / 2) / max(h, 1))
        if best is None or off < best[0]:
            best = (off, image)
    return None if best is None else best[1]


#: A graded field whose answers rank by severity (see :func:`roll_up`).
_Severity = TypeVar("_Severity", Stage, Zone, Plus)


def _assessable(value: object) -> bool:
    return value is not None and getattr(value, "value", None) != "na"


def roll_up(images: Iterable[ImageEvidence]) -> RollUp:
    """The eye-level grade of one grader's image grades of one eye at one visit (see the module
    docstring). Ungradable images and unanswered fields are left out; a field nobody answered
    stays unanswered, one answered only "not assessable" stays "not assessable"."""
    images = [i for i in images if i.values != GradeValues()]
    sources: dict[str, str] = {}
    gradable = [i for i in images if i.values.quality is not Quality.UNGRADABLE]
    if not gradable:
        quality = Quality.UNGRADABLE if images else None
        if images:
            sources["quality"] = "every image is ungradable"
        return RollUp(GradeValues(quality=quality), sources)

    def most_severe(name: str, kind: type[_Severity]) -> _Severity | None:
        answered = [(i, v) for i in gradable if isinstance(v := getattr(i.values, name), kind)]
        known = [(i, v) for i, v in answered if _assessable(v)]
        if known:
            # an assessable answer always has a severity rank; `or 0` only satisfies the type
            image, value = max(known, key=lambda iv: iv[1].severity or 0)
            sources[name] = f"most severe: {image.name}"
            return value
        if answered:
            sources[name] = "not assessable on any image"
            return answered[0][1]
        return None

    stage = most_severe("stage", Stage)
    zone = most_severe("zone", Zone)
    pole = posterior_pole_image(gradable)
    if pole is not None and _assessable(pole.values.plus):
        plus = pole.values.plus
        sources["plus"] = f"posterior-pole image: {pole.name}"
    else:
        plus = most_severe("plus", Plus)
        if plus is not None and "plus" in sources:
            sources["plus"] += " (no posterior-pole image with disc and fovea placed)"
    arops = [i.values.arop for i in gradable if i.values.arop is not None]
    arop = True if any(arops) else (False if arops else None)
    if arop:
        sources["arop"] = "A-ROP on " + ", ".join(i.name for i in gradable if i.values.arop)
    ropses = [i.values.rop for i in gradable if i.values.rop is not None]
    major = stage.major if stage is not None else None
    if RopPresence.YES in ropses or (major is not None and major >= 1):
        rop: RopPresence | None = RopPresence.YES
    elif ropses and all(r is RopPresence.NO for r in ropses):
        rop = RopPresence.NO
    elif ropses:
        rop = RopPresence.NA
    else:
        rop = None
    extent, hours = _extent(gradable, sources)
    values = GradeValues(
        rop=rop, stage=stage, zone=zone, plus=plus, arop=arop, extent_clock_hours=extent, quality=Quality.GRADABLE
    )
    return RollUp(values, sources, pole.name if pole is not None else None, hours)


def _extent(gradable: Sequence[ImageEvidence], sources: dict[str, str]) -> tuple[int | None, frozenset[int] | None]:
    lesioned = [i for i in gradable if i.outlines or (i.values.stage is not None and (i.values.stage.major or 0) >= 1)]
    if not lesioned:
        counts = [i.values.extent_clock_hours for i in gradable if i.values.extent_clock_hours is not None]
        return (max(counts) if counts else None), None
    if all(i.outlines and i.landmarks is not None and i.landmarks.disc is not None for i in lesioned):
        hours: set[int] = set()
        for image in lesioned:
            assert image.landmarks is not None and image.landmarks.disc is not None
            hours |= clock_hours(image.landmarks.disc, image.outlines)
        sources["extent_clock_hours"] = "union of the clock hours the outlines cover around the disc"
        return len(hours), frozenset(hours)
    counts = [i.values.extent_clock_hours for i in lesioned if i.values.extent_clock_hours is not None]
    if not counts:
        return None, None
    sources["extent_clock_hours"] = (
        "at least: the largest image extent (clock positions unknown where the disc or the outline is missing)"
    )
    return max(counts), None
