"""The repository helpers the services build on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import event, insert
from sqlalchemy.exc import IntegrityError

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, LesionType, Quality, Role, RopPresence, Stage
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Exam, Image, Patient


@contextmanager
def count_statements(study: Study) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(study.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(study.engine, "before_cursor_execute", record)


def test_get_or_create_patient_and_exam(study: Study) -> None:
    with study.session() as s:
        patient = repo.get_or_create_patient(s, " P1 ", gestational_age_weeks=26.0)
        assert repo.get_or_create_patient(s, "P1", gestational_age_weeks=30.0) is patient
        assert patient.gestational_age_weeks == 26.0 and patient.code == "P1"
        exam = repo.get_or_create_exam(s, patient, date(2024, 1, 2), "RetCam", None)
        assert repo.get_or_create_exam(s, patient.id, date(2024, 1, 2), "RetCam", None) is exam
        assert repo.get_or_create_exam(s, patient, date(2024, 1, 2), "RetCam", "Site B") is not exam
        assert repo.get_or_create_exam(s, patient) is not exam
        with pytest.raises(ValueError, match="empty"):
            repo.get_or_create_patient(s, "  ")


def test_find_and_add_image(study: Study, make_image) -> None:
    with study.session() as s:
        image = make_image(s, n=7)
        assert repo.find_image_by_sha(s, image.sha256.upper()) is image
        assert repo.find_image_by_sha(s, "f" * 64) is None
        assert repo.count_images(s) == 1
    with pytest.raises(IntegrityError), study.session() as s:
        make_image(s, n=7)


def test_list_images_is_one_select_for_5000_images(study: Study) -> None:
    with study.session() as s:
        s.execute(insert(Patient), [{"code": f"P{i:03d}"} for i in range(50)])
        s.execute(insert(Exam), [{"patient_id": p, "camera": "RetCam"} for p in range(1, 51) for _ in range(2)])
        s.execute(insert(Image), [
            {"exam_id": 1 + i % 100, "file": f"{i:064x}.png", "original_name": f"{i}.png", "sha256": f"{i:064x}",
             "width": 640, "height": 480, "format": "png", "bytes": 1, "eye": Eye.OD if i % 2 else Eye.OS}
            for i in range(5000)])
    with study.session() as s, count_statements(study) as statements:
        images = repo.list_images(s)
        codes = {image.exam.patient.code for image in images}
        cameras = {image.exam.camera for image in images}
    assert len(images) == 5000 and len(codes) == 50 and cameras == {"RetCam"}
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
    assert "JOIN exams" in statements[0] and "JOIN patients" in statements[0]


def test_list_images_filters(study: Study, make_image, make_grader) -> None:
    with study.session() as s:
        a = make_image(s, "P1", 1, Eye.OD)
        b = make_image(s, "P1", 2, Eye.OS)
        c = make_image(s, "P2", 3, Eye.OD)
        grader = make_grader(s)
        repo.upsert_grade(s, a, grader, GradeValues(quality=Quality.GRADABLE), submitted=True)
        repo.upsert_grade(s, b, grader, GradeValues(quality=Quality.GRADABLE))  # a draft
        ids = lambda images: [i.id for i in images]  # noqa: E731
        assert ids(repo.list_images(s)) == [a.id, b.id, c.id]
        assert ids(repo.list_images(s, patient_codes=["P2"])) == [c.id]
        assert ids(repo.list_images(s, eye=Eye.OD)) == [a.id, c.id]
        assert ids(repo.list_images(s, exam_ids=[b.exam_id], image_ids=[b.id, c.id])) == [b.id]
        assert ids(repo.list_images(s, not_submitted_by=grader)) == [b.id, c.id]
        assert ids(repo.list_images(s, limit=1, offset=1)) == [b.id]


def test_upsert_grade_and_submission(study: Study, make_image, make_grader) -> None:
    values = GradeValues(rop=RopPresence.YES, stage=Stage.S2, quality=Quality.GRADABLE)
    with study.session() as s:
        image, grader = make_image(s), make_grader(s)
        assert repo.grade_for(s, image, grader) is None
        grade = repo.upsert_grade(s, image, grader, values)
        assert not grade.submitted and grade.submitted_at is None and grade.values == values
        again = repo.upsert_grade(s, image.id, grader.id, values.with_(stage=Stage.S3), submitted=True)
        assert again is grade and grade.stage is Stage.S3 and grade.submitted and grade.submitted_at is not None
        repo.upsert_grade(s, image, grader, values, submitted=False)
        assert not grade.submitted and grade.submitted_at is None
        other = make_grader(s, "Dr B")
        repo.upsert_grade(s, image, other, values, submitted=True)
        assert [g.grader.name for g in repo.grades_for_image(s, image)] == ["Dr A", "Dr B"]
        assert [g.grader_id for g in repo.grades_for_image(s, image, submitted_only=True)] == [other.id]
        assert repo.grades_by_grader(s, other) == repo.grades_by_grader(s, other, submitted_only=True)


def test_graders(study: Study) -> None:
    with study.session() as s:
        admin = repo.get_or_create_grader(s, "Admin", Role.ADMIN)
        assert repo.get_or_create_grader(s, "Admin", Role.GRADER).role is Role.ADMIN
        retired = repo.get_or_create_grader(s, "Retired")
        retired.active = False
        assert repo.list_graders(s) == [admin]
        assert [g.name for g in repo.list_graders(s, active_only=False)] == ["Admin", "Retired"]


def test_annotations_for_hides_soft_deleted(study: Study, make_image, make_grader) -> None:
    ring = [[[0, 0], [10, 0], [10, 10], [0, 0]]]
    with study.session() as s:
        image, a, b = make_image(s), make_grader(s, "A"), make_grader(s, "B")
        first = repo.add_annotation(s, image, a, ring, LesionType.DEMARCATION_LINE, stage=Stage.S1)
        gone = repo.add_annotation(s, image, a, ring, LesionType.RIDGE)
        theirs = repo.add_annotation(s, image, b, ring, LesionType.RIDGE, source="model")
        gone.deleted = True
        assert repo.annotations_for(s, image, a) == [first]
        assert repo.annotations_for(s, image, a, include_deleted=True) == [first, gone]
        assert repo.annotations_for(s, image) == [first, theirs]


def test_reference_standard_upsert(study: Study, make_image, make_grader) -> None:
    with study.session() as s:
        image, adjudicator = make_image(s), make_grader(s, "Adj", Role.ADJUDICATOR)
        ref = repo.set_reference(s, image, GradeValues(stage=Stage.S2), "majority", detail={"2": 3})
        assert ref.decided_by is None and ref.version_id == 1
        again = repo.set_reference(s, image, GradeValues(stage=Stage.S3), "adjudicated", decided_by=adjudicator)
        assert again is ref and ref.stage is Stage.S3 and ref.detail is None and ref.decided_by == adjudicator.id
        assert ref.version_id == 2
        assert repo.reference_for(s, image) is ref and repo.list_references(s) == [ref]


def test_model_versions_runs_and_predictions(study: Study, make_image) -> None:
    with study.session() as s:
        image = make_image(s)
        v1 = repo.add_model_version(s, name="v1", task="binary", architecture="rop_base_cnn", bundle_path="b/1")
        v2 = repo.add_model_version(s, name="v2", task="binary", architecture="rop_res_cnn", bundle_path="b/2")
        seg = repo.add_model_version(s, name="s", task="segmentation", architecture="maskrcnn", bundle_path="s/1")
        assert repo.active_model_version(s, "binary") is None
        for version in (v1, seg, v2):
            repo.activate_model_version(s, version)
        assert repo.active_model_version(s, "binary") is v2 and not v1.active
        assert repo.active_model_version(s, "segmentation") is seg
        assert {v.name for v in repo.list_model_versions(s, "binary")} == {"v1", "v2"}
        run = repo.start_run(s, task="binary", architecture="rop_res_cnn", config={"epochs": 2})
        assert run.status == "running" and run.finished_at is None
        repo.finish_run(s, run, "finished", model_version=v2)
        assert run.model_version_id == v2.id and run.finished_at is not None
        p = repo.upsert_prediction(s, image, v2, {"p_rop": 0.2})
        assert repo.upsert_prediction(s, image, v2, {"p_rop": 0.7}, mask_file="m/1.png") is p
        assert repo.prediction_for(s, image, v2).payload == {"p_rop": 0.7}
        assert repo.prediction_for(s, image, v1) is None and repo.predictions_of(s, v2) == [p]


def test_audit_trail_and_settings(study: Study, make_grader) -> None:
    with study.session() as s:
        grader = make_grader(s)
        repo.add_audit(s, "grade", 1, "create", grader=grader, after={"stage": "1"})
        repo.add_audit(s, "grade", 1, "update", grader=grader, before={"stage": "1"}, after={"stage": "2"})
        repo.add_audit(s, "reference", 1, "adjudicate")
        trail = repo.audit_trail(s, "grade", 1)
        assert [(e.action, e.before, e.after) for e in trail] == [
            ("create", None, {"stage": "1"}), ("update", {"stage": "1"}, {"stage": "2"})]
        assert trail[0].at.tzinfo is not None and len(repo.audit_trail(s)) == 3
        assert repo.get_setting(s, "grading.quorum", 3) == 3
        repo.set_setting(s, "grading.quorum", 4)
        repo.set_setting(s, "grading.quorum", 2)
        repo.set_setting(s, "grading.tie_rule", {"rule": "severity"})
        assert repo.get_setting(s, "grading.quorum") == 2
        assert repo.all_settings(s) == {"study.name": "Test study", "grading.quorum": 2,
                                        "grading.tie_rule": {"rule": "severity"}}
