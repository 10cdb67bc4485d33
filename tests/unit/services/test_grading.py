"""Grading service on a real study: drafts, submit, polygons, audit, blinding."""

from __future__ import annotations

import pytest

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import LesionType, Quality, Role, RopPresence, Stage
from rop_desktop.domain.shapes import Shape, new_shape_id
from rop_desktop.services.accounts import set_study_setting
from rop_desktop.services.grading import BlindingError, GradingError, GradingService
from rop_desktop.services.policy import BLINDED_SETTING
from rop_desktop.store import Study, repo


@pytest.fixture
def study(make_study):
    return make_study(3, (100, 80))


@pytest.fixture
def create_grader(account):
    return account


GOOD = GradeValues(rop=RopPresence.YES, stage=Stage.S2, quality=Quality.GRADABLE)


def test_draft_then_submit_with_audit_and_worklist_status(study: Study, create_grader) -> None:
    me = GradingService(study, create_grader(study, "Dr. A"))
    first = me.next_todo()
    assert [r.status for r in me.worklist()] == ["todo"] * 3
    me.save_draft(first, GOOD.with_(stage=Stage.S1))
    assert me.my_grade(first).values.stage is Stage.S1 and not me.my_grade(first).submitted
    assert me.worklist()[0].status == "draft"
    me.submit(first, GOOD)
    assert me.my_grade(first).submitted
    assert [r.status for r in me.worklist(status="todo")] == ["todo", "todo"]
    assert me.next_todo(first) != first
    with study.session() as session:
        actions = [e.action for e in repo.audit_trail(session, "grade")]
    assert actions == ["draft", "submit"]


def test_submit_refuses_inconsistent_grade(study: Study, create_grader) -> None:
    me = GradingService(study, create_grader(study, "Dr. A"))
    image = me.next_todo()
    with pytest.raises(GradingError, match="implies ROP present"):
        me.submit(image, GOOD.with_(rop=RopPresence.NO))
    assert not me.my_grade(image).submitted


def test_shapes_are_stored_updated_deleted_and_restored(study: Study, create_grader) -> None:
    me = GradingService(study, create_grader(study, "Dr. A"))
    image = me.next_todo()
    shape = Shape(id=new_shape_id(), points=((10, 10), (40, 10), (40, 20)), lesion_type=LesionType.RIDGE,
                  stage=Stage.S2)
    me.save_shape(image, shape)
    moved = shape.translated(5, 5)
    me.save_shape(image, moved)
    assert me.my_shapes(image) == [moved]
    me.delete_shape(image, shape.id)
    assert me.my_shapes(image) == []
    me.save_shape(image, moved)  # redo of an undone delete
    assert me.my_shapes(image) == [moved]
    other = GradingService(study, create_grader(study, "Dr. B"))
    assert other.my_shapes(image) == []
    with pytest.raises(GradingError):
        other.save_shape(image, moved)  # not theirs


def test_blinding_is_enforced_in_the_service(study: Study, create_grader) -> None:
    a = GradingService(study, create_grader(study, "Dr. A"))
    b = GradingService(study, create_grader(study, "Dr. B"))
    image = a.next_todo()
    a.submit(image, GOOD)
    with pytest.raises(BlindingError):
        b.other_grades(image)
    with pytest.raises(BlindingError):
        b.hospital_diagnosis(image)
    b.submit(image, GOOD.with_(stage=Stage.S3))
    assert b.other_grades(image)["Dr. A"][0].stage is Stage.S2
    adjudicator = GradingService(study, create_grader(study, "Dr. Adj", Role.ADJUDICATOR))
    assert "Dr. B" in adjudicator.other_grades(image)
    set_study_setting(study, study.test_admin, BLINDED_SETTING, False)
    c = GradingService(study, create_grader(study, "Dr. C"))
    assert c.others_visible(image)


def test_display_settings_persist_per_grader(study: Study, create_grader) -> None:
    a = GradingService(study, create_grader(study, "Dr. A"))
    assert a.display_settings() is None
    a.save_display_settings({"mode": "clahe", "gamma": 1.2})
    again = GradingService(study, a.actor)
    assert again.display_settings() == {"mode": "clahe", "gamma": 1.2}


def test_load_image_and_corrupt_stored_copy(study: Study, create_grader) -> None:
    a = GradingService(study, create_grader(study, "Dr. A"))
    image = a.next_todo()
    data = a.load_image(image)
    assert data.rgb.shape == (80, 100, 3) and data.fov is not None
    with study.session() as session:
        row = repo.list_images(session, image_ids=[image])[0]
        study.image_path(row).write_bytes(b"broken")
    with pytest.raises(GradingError, match="cannot be shown"):
        a.load_image(image)


def test_a_grade_changed_on_another_workstation_is_never_overwritten(study: Study, create_grader) -> None:
    from rop_desktop.services.grading import GradeConflict

    grader = create_grader(study, "Dr. A")
    here, there = GradingService(study, grader), GradingService(study, grader)  # one grader, two workstations
    image = here.next_todo()
    shown = here.my_grade(image)  # both windows show "no grade yet" (version 0)
    first = there.save_draft(image, GOOD.with_(stage=Stage.S3), expected_version=shown.version)
    with pytest.raises(GradeConflict) as conflict:
        here.save_draft(image, GOOD.with_(stage=Stage.S1), expected_version=shown.version)
    assert conflict.value.current.values.stage is Stage.S3  # the current state comes with the message
    with pytest.raises(GradeConflict):
        here.submit(image, GOOD, expected_version=shown.version)
    assert here.my_grade(image).values.stage is Stage.S3 and not here.my_grade(image).submitted
    again = here.save_draft(image, GOOD.with_(stage=Stage.S2), expected_version=first.version)  # after a look
    assert again.values.stage is Stage.S2 and again.version != first.version


def test_a_polygon_changed_on_another_workstation_is_never_overwritten(study: Study, create_grader) -> None:
    from rop_desktop.services.grading import ShapeConflict

    grader = create_grader(study, "Dr. A")
    here, there = GradingService(study, grader), GradingService(study, grader)
    image = here.next_todo()
    shape = Shape(id=new_shape_id(), points=((10, 10), (40, 10), (40, 20)), lesion_type=LesionType.RIDGE)
    here.save_shape(image, shape)
    assert there.my_shapes(image) == [shape]  # the other workstation loads it
    there.save_shape(image, shape.translated(5, 0))
    with pytest.raises(ShapeConflict):
        here.save_shape(image, shape.translated(0, 5))
    with pytest.raises(ShapeConflict):
        here.delete_shape(image, shape.id)
    assert GradingService(study, grader).my_shapes(image) == [shape.translated(5, 0)]
    here.my_shapes(image)  # reloading shows the stored outline; editing it then works
    here.save_shape(image, shape.translated(5, 5))
    assert GradingService(study, grader).my_shapes(image) == [shape.translated(5, 5)]
