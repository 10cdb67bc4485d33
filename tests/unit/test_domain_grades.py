from __future__ import annotations

import pytest

from rop_desktop.domain.grades import GradeValues, check_grade
from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone


def _errors(values: GradeValues, stages: list[Stage] | None = None) -> set[str]:
    return {i.field for i in check_grade(values, stages) if i.severity == "error"}


def test_complete_grade_has_no_errors() -> None:
    g = GradeValues(rop=RopPresence.YES, stage=Stage.S2, zone=Zone.II, plus=Plus.NORMAL, quality=Quality.GRADABLE)
    assert _errors(g, [Stage.S2]) == set()


def test_stage_implies_rop() -> None:
    g = GradeValues(rop=RopPresence.NO, stage=Stage.S1, quality=Quality.GRADABLE)
    assert "rop" in _errors(g)


def test_ungradable_takes_no_stage() -> None:
    g = GradeValues(quality=Quality.UNGRADABLE, stage=Stage.S3)
    assert _errors(g) == {"stage"}
    assert _errors(GradeValues(quality=Quality.UNGRADABLE)) == set()


def test_polygon_stage_above_image_stage_warns() -> None:
    g = GradeValues(rop=RopPresence.YES, stage=Stage.S1, quality=Quality.GRADABLE)
    warnings = [i for i in check_grade(g, [Stage.S3]) if i.severity == "warning"]
    assert any(i.field == "stage" for i in warnings)


def test_round_trip_dict() -> None:
    g = GradeValues(rop=RopPresence.YES, stage=Stage.S4A, zone=Zone.POSTERIOR_II, plus=Plus.PRE_PLUS, arop=True,
                    extent_clock_hours=4, quality=Quality.GRADABLE, confidence=3, comment="tufts")
    assert GradeValues.from_dict(g.as_dict()) == g


@pytest.mark.parametrize("text,expected", [("4a", Stage.S4A), ("Stage 2", Stage.S2), ("na", Stage.NA)])
def test_parse_stage(text: str, expected: Stage) -> None:
    assert Stage.parse(text) is expected


def test_parse_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="not a valid Stage"):
        Stage.parse("7")


def test_an_unstaged_polygon_counts_as_an_outline() -> None:
    g = GradeValues(rop=RopPresence.YES, stage=Stage.S2, quality=Quality.GRADABLE)
    assert any(i.field == "polygons" for i in check_grade(g, []))
    assert not any(i.field == "polygons" for i in check_grade(g, [None]))
