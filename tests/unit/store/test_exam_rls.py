"""PostgreSQL: landmarks and eye-level grades (migration 0007) under row-level security, tried as
an attacker with each account's own role — the same blinding the app's policy applies."""

from __future__ import annotations

from sqlalchemy import text

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.domain.zones import Landmarks
from rop_desktop.services.exams import ExamService
from rop_desktop.services.landmarks import LandmarkService

from .test_row_level_security import Shared, _refused, _rowcount, _rows, shared  # noqa: F401 - the fixture

EYE = GradeValues(rop=RopPresence.YES, stage=Stage.S2, zone=Zone.II, plus=Plus.PLUS, quality=Quality.GRADABLE)
NO = GradeValues(rop=RopPresence.NO, stage=Stage.S0, quality=Quality.GRADABLE)


def _one_eye(shared: Shared) -> None:
    """The study's images become one right eye at one visit (an import without a manifest has no eye)."""
    shared.owner("UPDATE images SET eye = 'OD'")


def test_another_graders_landmarks_are_read_only_after_both_submitted_and_never_written(shared: Shared) -> None:
    image = shared.images[0]
    a_id = shared.actors["Dr. A"].id
    LandmarkService(shared.as_account("Dr. A"), shared.actors["Dr. A"]).save_landmarks(
        image, Landmarks(disc=(60, 40), fovea=(40, 40)))
    b = shared.psql("Dr. B")
    assert _rows(b, "SELECT * FROM landmarks WHERE grader_id = :a", a=a_id) == []
    assert _rowcount(b, "UPDATE landmarks SET disc_x = 1 WHERE grader_id = :a", a=a_id) == 0
    assert "row-level security" in _refused(
        b, "INSERT INTO landmarks (image_id, grader_id, disc_x, disc_y, created_at, updated_at, version_id) "
           "VALUES (:i, :a, 1, 1, now(), now(), 1)", i=shared.images[1], a=a_id)
    assert "permission denied" in _refused(b, "DELETE FROM landmarks")
    shared.grading("Dr. B", shared.as_account("Dr. B")).submit(image, NO)
    assert _rows(b, "SELECT * FROM landmarks WHERE grader_id = :a", a=a_id) == []   # A's are under a draft
    shared.grading("Dr. A", shared.as_account("Dr. A")).submit(image, NO)
    assert len(_rows(b, "SELECT * FROM landmarks WHERE grader_id = :a", a=a_id)) == 1
    assert _rowcount(b, "UPDATE landmarks SET disc_x = 1 WHERE grader_id = :a", a=a_id) == 0  # still not B's
    assert len(_rows(shared.psql("Dr. Judge"), "SELECT * FROM landmarks")) == 1
    # and the app on B's own connection shows them, as the policy says
    seen = LandmarkService(shared.as_account("Dr. B"), shared.actors["Dr. B"]).others_landmarks(image)
    assert seen == {"Dr. A": Landmarks(disc=(60, 40), fovea=(40, 40))}


def test_another_graders_eye_grade_is_read_only_after_the_readers_own_eye_grade_and_every_image(
        shared: Shared) -> None:
    _one_eye(shared)
    a_id = shared.actors["Dr. A"].id
    a_exams = ExamService(shared.as_account("Dr. A"), shared.actors["Dr. A"])
    key = a_exams.state(shared.images[0]).info.key
    a_exams.submit(key, EYE)
    ExamService(shared.as_account("Dr. C"), shared.actors["Dr. C"]).save_draft(key, EYE)   # a draft: never shown
    b = shared.psql("Dr. B")
    b_study = shared.as_account("Dr. B")
    assert _rows(b, "SELECT * FROM exam_grades WHERE grader_id <> :b", b=shared.actors["Dr. B"].id) == []
    ExamService(b_study, shared.actors["Dr. B"]).submit(key, NO)
    assert _rows(b, "SELECT grader_id FROM exam_grades WHERE grader_id = :a", a=a_id) == []  # images still to do
    b_grading = shared.grading("Dr. B", b_study)
    for image in shared.images:
        b_grading.submit(image, NO)
    assert [r[0] for r in _rows(b, "SELECT grader_id FROM exam_grades WHERE grader_id <> :b",
                                b=shared.actors["Dr. B"].id)] == [a_id]                # A's, never C's draft
    assert _rowcount(b, "UPDATE exam_grades SET stage = '0' WHERE grader_id = :a", a=a_id) == 0
    assert "row-level security" in _refused(b, "UPDATE exam_grades SET grader_id = :a", a=a_id)
    assert len(_rows(shared.psql("Dr. Judge"), "SELECT * FROM exam_grades")) == 3
    shared.owner("INSERT INTO study_settings (key, value) VALUES ('grading.reveal_after_submit', 'false')")
    assert _rows(b, "SELECT * FROM exam_grades WHERE grader_id = :a", a=a_id) == []
    with shared.study.engine.begin() as conn:  # the owner still sees everything
        assert conn.execute(text("SELECT count(*) FROM exam_grades")).scalar_one() == 3


def test_the_eye_level_reference_is_written_by_a_confirm_that_may_see_it_and_never_over_a_decision(
        shared: Shared) -> None:
    from rop_desktop.domain.votes import VoteSettings
    from rop_desktop.services.exam_reference import ExamReferenceService
    from rop_desktop.services.exams import set_vote_level
    from rop_desktop.services.reference import set_vote_settings

    _one_eye(shared)
    judge_study, judge = shared.as_account("Dr. Judge"), shared.actors["Dr. Judge"]
    set_vote_settings(shared.study, shared.admin, VoteSettings(quorum=2))
    set_vote_level(shared.study, shared.admin, "eye")
    key = ExamService(shared.as_account("Dr. A"), shared.actors["Dr. A"]).state(shared.images[0]).info.key
    for name in ("Dr. A", "Dr. B"):
        grading = shared.grading(name, shared.as_account(name))
        for image in shared.images:
            grading.submit(image, NO)
        ExamService(shared.as_account(name), shared.actors[name]).submit(key, EYE)
    b = shared.psql("Dr. B")
    assert [r[0] for r in _rows(b, "SELECT method FROM exam_references")] == ["unanimous"]  # B's confirm settled it
    ExamReferenceService(judge_study, judge).adjudicate(key.exam_id, key.eye, NO, expected_version=1)
    assert _rowcount(b, "UPDATE exam_references SET stage = '3'") == 0   # a decision: never a grader's to change
    assert _rowcount(b, "DELETE FROM exam_references") == 0
    c = shared.psql("Dr. C")
    assert _rows(c, "SELECT * FROM exam_references") == []                 # C graded nothing: blinded


def test_a_graders_attention_rows_are_their_own_and_the_references_are_the_reviewers(shared: Shared) -> None:
    """Migration 0011: ``eye_attention`` (and its pending patients) by basis. A grader's submit keeps
    their own rows and may mark the reference's pending, never read it; the reviewers read all."""
    _one_eye(shared)
    a_id, b_id = shared.actors["Dr. A"].id, shared.actors["Dr. B"].id
    shared.grading("Dr. A", shared.as_account("Dr. A")).submit(shared.images[0], EYE)
    shared.grading("Dr. B", shared.as_account("Dr. B")).submit(shared.images[0], NO)
    b = shared.psql("Dr. B")
    assert _rows(b, "SELECT * FROM eye_attention WHERE grader_id = :a", a=a_id) == []
    assert _rows(b, "SELECT * FROM eye_attention WHERE grader_id IS NULL") == []
    assert len(_rows(b, "SELECT * FROM eye_attention WHERE grader_id = :b", b=b_id)) == 1
    assert _rowcount(b, "UPDATE eye_attention SET needs = true WHERE grader_id = :a", a=a_id) == 0
    assert _rowcount(b, "DELETE FROM eye_attention WHERE grader_id IS NULL") == 0
    assert "row-level security" in _refused(
        b, "INSERT INTO eye_attention (patient_id, eye, grader_id, exam_id, needs, reasons, grade) "
           "SELECT e.patient_id, 'OD', :a, e.id, true, '[]', '{}' FROM exams e LIMIT 1", a=a_id)
    assert _rows(b, "SELECT * FROM eye_attention_pending WHERE grader_id IS NULL") == []  # marks, never reads
    judge = shared.psql("Dr. Judge")
    assert {r[0] for r in _rows(judge, "SELECT grader_id FROM eye_attention")} >= {a_id, b_id}
    # the app on A's own connection lists A's eye (treatment-warranted), the adjudicator's the reference
    assert [x.eye.value for x in ExamService(shared.as_account("Dr. A"), shared.actors["Dr. A"]).needs_attention()] \
        == ["OD"]
    assert ExamService(shared.as_account("Dr. B"), shared.actors["Dr. B"]).needs_attention() == []
    ExamService(shared.as_account("Dr. Judge"), shared.actors["Dr. Judge"]).reference_needs_attention()
    assert _rows(judge, "SELECT * FROM eye_attention_pending WHERE grader_id IS NULL") == []  # worked out
