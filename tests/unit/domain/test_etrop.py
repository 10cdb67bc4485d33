"""ETROP classes against a table written from the ETROP definition, and the roll-up of image
grades to one eye at one visit."""

from __future__ import annotations

import pytest

from rop_desktop.domain.etrop import (
    ImageEvidence,
    TreatmentClass,
    check_eye_grade,
    classify,
    posterior_pole_image,
    roll_up,
)
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.domain.zones import Landmarks

T, F, R = TreatmentClass.TREAT, TreatmentClass.FOLLOW_UP, TreatmentClass.ROUTINE

# From the ETROP definition (Type 1 = treat: zone I any stage with plus, zone I stage 3, zone II
# stage 2–3 with plus; Type 2 = close follow-up: zone I stage 1–2 without plus, zone II stage 3
# without plus; stages 4–5 are detachments: treatment-warranted outside ETROP). Per zone and
# stage: (class without plus, class with plus). Pre-plus is "without plus".
TABLE: dict[Zone, dict[str, tuple[TreatmentClass, TreatmentClass]]] = {
    Zone.I: {"0": (R, R), "1": (F, T), "2": (F, T), "3": (T, T), "4A": (T, T), "4B": (T, T), "5A": (T, T),
             "5B": (T, T), "5C": (T, T)},
    Zone.POSTERIOR_II: {"0": (R, R), "1": (R, R), "2": (R, T), "3": (F, T), "4A": (T, T), "4B": (T, T),
                        "5A": (T, T), "5B": (T, T), "5C": (T, T)},
    Zone.II: {"0": (R, R), "1": (R, R), "2": (R, T), "3": (F, T), "4A": (T, T), "4B": (T, T), "5A": (T, T),
              "5B": (T, T), "5C": (T, T)},
    Zone.III: {"0": (R, R), "1": (R, R), "2": (R, R), "3": (R, R), "4A": (T, T), "4B": (T, T), "5A": (T, T),
               "5B": (T, T), "5C": (T, T)},
}
CASES = [(zone, stage, plus, pair[1] if plus is Plus.PLUS else pair[0])
         for zone, row in TABLE.items() for stage, pair in row.items()
         for plus in (Plus.NORMAL, Plus.PRE_PLUS, Plus.PLUS)]


def eye(stage: str | None = None, zone: Zone | None = None, plus: Plus | None = None, **more: object) -> GradeValues:
    st = None if stage is None else Stage.parse(stage)
    rop = None if st is None or st is Stage.NA else (RopPresence.NO if st is Stage.S0 else RopPresence.YES)
    return GradeValues(rop=rop, stage=st, zone=zone, plus=plus, quality=Quality.GRADABLE, **more)  # type: ignore[arg-type]


def test_the_table_covers_every_stage_zone_and_plus() -> None:
    assert len(CASES) == 9 * 4 * 3


@pytest.mark.parametrize(("zone", "stage", "plus", "expected"), CASES,
                         ids=[f"{z.value}-s{s}-{p.value}" for z, s, p, _ in CASES])
def test_every_stage_zone_plus_combination(zone: Zone, stage: str, plus: Plus, expected: TreatmentClass) -> None:
    result = classify(eye(stage, zone, plus))
    assert result.klass is expected, result.reason
    major = Stage.parse(stage).major
    if 1 <= (major or 0) <= 3 and expected is T:
        assert result.etrop == "Type 1"
    if expected is F:
        assert result.etrop == "Type 2"
    if (major or 0) >= 4:
        assert result.etrop is None and "beyond ETROP" in result.reason
    assert result.reason and not result.missing


@pytest.mark.parametrize("zone", list(TABLE))
def test_arop_is_treated_in_every_zone(zone: Zone) -> None:
    assert classify(eye("1", zone, Plus.NORMAL, arop=True)).klass is T
    assert classify(eye(None, None, None, arop=True)).klass is T


def test_missing_answers_decide_when_every_completion_agrees() -> None:
    assert classify(eye("3", Zone.I, None)).klass is T                  # zone I stage 3: whatever the plus
    assert classify(eye("3", Zone.I, Plus.NA)).missing == ("plus disease",)
    assert classify(eye("1", Zone.III, None)).klass is R                # zone III: routine whatever the plus
    assert classify(eye("0", None, Plus.NORMAL)).klass is R             # no ROP stage: routine in any zone
    assert classify(eye("4A", None, None)).klass is T


def test_missing_answers_leave_the_class_open_when_they_matter() -> None:
    open_ = classify(eye("2", Zone.II, None))
    assert open_.klass is TreatmentClass.UNDETERMINED and open_.missing == ("plus disease",)
    assert "plus disease" in open_.reason
    assert classify(eye("3", Zone.NA, Plus.NORMAL)).klass is TreatmentClass.UNDETERMINED
    assert classify(GradeValues()).klass is TreatmentClass.UNDETERMINED
    ungradable = classify(GradeValues(quality=Quality.UNGRADABLE))
    assert ungradable.klass is TreatmentClass.UNDETERMINED and "ungradable" in ungradable.reason


def test_no_rop_means_stage_zero_when_the_stage_is_missing() -> None:
    assert classify(GradeValues(rop=RopPresence.NO, zone=Zone.I, plus=Plus.NORMAL)).klass is R


def test_eye_grade_checks() -> None:
    assert any(i.severity == "error" and i.field == "stage" for i in check_eye_grade(GradeValues()))
    bad = GradeValues(rop=RopPresence.NO, stage=Stage.S2, zone=Zone.II, plus=Plus.NORMAL)
    assert any(i.field == "rop" and i.severity == "error" for i in check_eye_grade(bad))
    warn = check_eye_grade(eye("2", None, None))
    assert {i.field for i in warn} == {"zone", "plus"} and all(i.severity == "warning" for i in warn)
    assert check_eye_grade(eye("2", Zone.II, Plus.NORMAL)) == []


# ---------------------------------------------------------------------------- roll-up
def arc(disc: tuple[float, float], radius: float, a0: float, a1: float) -> tuple[tuple[float, float], ...]:
    """A ridge: an annulus sector 8 px thick around ``disc`` from ``a0``° to ``a1``° (clockwise from up)."""
    import math

    def at(r: float, a: float) -> tuple[float, float]:
        return disc[0] + r * math.sin(math.radians(a)), disc[1] - r * math.cos(math.radians(a))

    steps = [a0 + (a1 - a0) * k / 10 for k in range(11)]
    return tuple([at(radius + 4, a) for a in steps] + [at(radius - 4, a) for a in reversed(steps)])


# the pole image's ridge at 9 o'clock, the temporal image's at 10–11, the nasal image's at 3
POLE = ImageEvidence("pole", eye("1", Zone.II, Plus.PRE_PLUS, extent_clock_hours=2),
                     Landmarks(disc=(350, 240), fovea=(290, 240)), (arc((350, 240), 200, 255, 285),), (640, 480))
TEMPORAL = ImageEvidence("temporal", eye("3", Zone.II, Plus.NORMAL, extent_clock_hours=3),
                         Landmarks(disc=(600, 240), fovea=(540, 240)), (arc((600, 240), 250, 285, 345),), (640, 480))
NASAL = ImageEvidence("nasal", eye("2", Zone.POSTERIOR_II, Plus.PLUS, extent_clock_hours=1),
                      Landmarks(disc=(40, 240)), (arc((40, 240), 180, 75, 105),), (640, 480))


def test_roll_up_highest_stage_most_posterior_zone_plus_from_the_pole_union_of_clock_hours() -> None:
    r = roll_up([POLE, TEMPORAL, NASAL])
    assert posterior_pole_image([POLE, TEMPORAL, NASAL]) is POLE
    assert r.values.stage is Stage.S3 and r.sources["stage"] == "most severe: temporal"
    assert r.values.zone is Zone.POSTERIOR_II and "nasal" in r.sources["zone"]
    assert r.values.plus is Plus.PRE_PLUS and r.sources["plus"] == "posterior-pole image: pole"
    assert r.values.rop is RopPresence.YES and r.values.quality is Quality.GRADABLE
    assert r.values.arop is None  # nobody answered it
    assert r.clock_hours == {9, 10, 11, 3}
    assert r.values.extent_clock_hours == 4  # not 2 + 3 + 1: the union, not the sum
    assert r.posterior_pole == "pole"


def test_roll_up_without_posterior_pole_takes_the_most_severe_plus_and_says_so() -> None:
    no_pole = [ImageEvidence(i.name, i.values, None, i.outlines, i.size) for i in (POLE, TEMPORAL, NASAL)]
    r = roll_up(no_pole)
    assert r.values.plus is Plus.PLUS
    assert "no posterior-pole image" in r.sources["plus"]
    # clock positions unknown: the largest image extent, as a lower bound
    assert r.values.extent_clock_hours == 3 and r.clock_hours is None
    assert r.sources["extent_clock_hours"].startswith("at least")


def test_roll_up_leaves_out_ungradable_images_and_keeps_not_assessable() -> None:
    ungradable = ImageEvidence("blurred", GradeValues(rop=RopPresence.NA, stage=Stage.NA, quality=Quality.UNGRADABLE))
    na = ImageEvidence("na", GradeValues(rop=RopPresence.NO, stage=Stage.S0, zone=Zone.NA, plus=Plus.NORMAL,
                                         quality=Quality.GRADABLE))
    r = roll_up([ungradable, na])
    assert r.values.stage is Stage.S0 and r.values.zone is Zone.NA and r.values.rop is RopPresence.NO
    assert classify(r.values).klass is R
    assert roll_up([ungradable]).values.quality is Quality.UNGRADABLE
    assert roll_up([]).values == GradeValues()


def test_roll_up_arop_on_any_image() -> None:
    r = roll_up([POLE, ImageEvidence("x", eye("2", Zone.I, Plus.PLUS, arop=True))])
    assert r.values.arop is True and classify(r.values).klass is T
