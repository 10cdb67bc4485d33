"""Serial screening: one eye's visits in date order, and what got worse between two of them.

ROP is screened every 1–2 weeks until the retina is vascularised or the eye is treated. What a
clinician looks for between consecutive visits of one eye — and what the *Needs attention* list
shows — is worsening: the stage went up, the zone moved posterior, plus disease (or pre-plus)
appeared, or the eye crossed into the treatment-warranted class (ETROP Type 1, A-ROP).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from .etrop import Classification, TreatmentClass, classify
from .grades import GradeValues
from .labels import Eye, Plus, Stage, Zone


@dataclass(frozen=True)
class Visit:
    """One eye at one visit, as graded (eye-level grade, or the roll-up of the image grades)."""

    exam_id: int
    eye: Eye
    date: date | None
    values: GradeValues
    #: "eye grade" (an eye-level grade), "roll-up" (from the image grades), "reference", …
    basis: str = "eye grade"
    image_ids: tuple[int, ...] = ()

    @property
    def classification(self) -> Classification:
        return classify(self.values)


def _known(value: object) -> bool:
    return value is not None and getattr(value, "value", None) != "na"


def worsening(before: GradeValues, after: GradeValues) -> list[str]:
    """What got worse from ``before`` to ``after`` (one eye, two visits), as short phrases."""
    flags: list[str] = []
    if _known(before.stage) and _known(after.stage):
        assert isinstance(before.stage, Stage) and isinstance(after.stage, Stage)
        if (after.stage.severity or 0) > (before.stage.severity or 0):
            flags.append(f"stage {before.stage.value} → {after.stage.value}")
    if _known(before.zone) and _known(after.zone):
        assert isinstance(before.zone, Zone) and isinstance(after.zone, Zone)
        if (after.zone.severity or 0) > (before.zone.severity or 0):
            flags.append(f"zone {before.zone.value} → {after.zone.value} (more posterior)")
    if after.plus is Plus.PLUS and before.plus is not Plus.PLUS:
        flags.append("plus disease appeared")
    elif after.plus is Plus.PRE_PLUS and before.plus is Plus.NORMAL:
        flags.append("pre-plus appeared")
    if after.arop and not before.arop:
        flags.append("A-ROP appeared")
    was, now = classify(before).klass, classify(after).klass
    if now is TreatmentClass.TREAT and was is not TreatmentClass.TREAT:
        flags.append("now treatment-warranted (Type 1)")
    elif now is TreatmentClass.FOLLOW_UP and was is TreatmentClass.ROUTINE:
        flags.append("now close follow-up (Type 2)")
    return flags


@dataclass(frozen=True)
class VisitChange:
    """A visit and what got worse since the one before it (nothing for the first)."""

    visit: Visit
    flags: tuple[str, ...] = ()

    @property
    def worse(self) -> bool:
        return bool(self.flags)


def eye_history(visits: Sequence[Visit]) -> list[VisitChange]:
    """The visits of one eye in date order (undated last), each with what got worse since the
    visit before it that says something (a visit not graded yet, or whose votes have not
    settled, is listed but compared with nothing and skipped in comparisons)."""
    ordered = sorted(visits, key=lambda v: (v.date is None, v.date or date.min, v.exam_id))
    out: list[VisitChange] = []
    previous: Visit | None = None
    for visit in ordered:
        known = visit.values != GradeValues()
        flags = tuple(worsening(previous.values, visit.values)) if previous is not None and known else ()
        out.append(VisitChange(visit, flags))
        if known:
            previous = visit
    return out


def needs_attention(history: Sequence[VisitChange]) -> tuple[str, ...]:
    """Why the eye needs attention now: its latest visit that says something worsened, or is
    treatment-warranted."""
    known = [h for h in history if h.visit.values != GradeValues()]
    if not known:
        return ()
    last = known[-1]
    reasons = list(last.flags)
    if last.visit.classification.klass is TreatmentClass.TREAT and not any("treatment" in r for r in reasons):
        reasons.append("treatment-warranted")
    return tuple(reasons)
