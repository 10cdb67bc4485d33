"""Every model round-trips through a real SQLite file; constraints, cascades and locking hold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm.exc import StaleDataError

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, LesionType, Plus, Quality, Role, RopPresence, Stage, Zone
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import (
    Annotation,
    AuditEvent,
    Exam,
    Grade,
    Grader,
    Image,
    ModelVersion,
    Patient,
    Prediction,
    Reference,
    StudySetting,
    TrainingRun,
)

FULL_GRADE = GradeValues(rop=RopPresence.YES, stage=Stage.S4A, zone=Zone.POSTERIOR_II, plus=Plus.PRE_PLUS,
                         arop=False, extent_clock_hours=5, quality=Quality.GRADABLE, confidence=4,
                         comment="ridge temporal")
RING = [[[1.5, 2.0], [30.0, 2.0], [30.0, 20.0], [1.5, 2.0]]]
T0 = datetime(2024, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))  # 10:30 UTC


def _fill_every_table(study: Study) -> dict[str, int]:
    with study.session() as s:
        patient = Patient(code="P-7", gestational_age_weeks=27.5, birth_weight_g=910, sex="F")
        exam = Exam(patient=patient, exam_date=date(2024, 3, 1), pma_weeks=34.0, camera="RetCam 3", site="Site A")
        image = Image(exam=exam, eye=Eye.OS, file="ab/abc.png", original_name="x.png", sha256="ab" * 32,
                      width=640, height=480, format="png", bytes=999, hospital_diagnosis="stage 2",
                      fov_cx=320.0, fov_cy=240.0, fov_r=230.5, imported_at=T0, source_path="/data/x.png")
        grader = Grader(name="Dr Ada", role=Role.ADJUDICATOR, password_hash="hash", active=True,
                        display_settings={"clahe": True, "gamma": 1.2})
        grade = Grade(image=image, grader=grader, submitted=True, submitted_at=T0)
        grade.set_values(FULL_GRADE)
        annotation = Annotation(image=image, grader=grader, geometry=RING, lesion_type=LesionType.RIDGE,
                                stage=Stage.S2, source="traced")
        reference = Reference(image=image, method="majority", detail={"votes": {"2": 3, "3": 1}},
                              decided_by_grader=grader, decided_at=T0)
        reference.set_values(FULL_GRADE.with_(stage=Stage.S2))
        version = ModelVersion(name="resnet v1", task="binary", architecture="rop_res_cnn",
                               bundle_path="binary/v1", card={"classes": ["no", "yes"]}, metrics={"f1": 0.9},
                               snapshot_hash="f" * 64, active=True)
        run = TrainingRun(task="binary", architecture="rop_res_cnn", config={"lr": 1e-4}, status="finished",
                          reason=None, finished_at=T0, model_version=version, snapshot_hash="f" * 64)
        prediction = Prediction(image=image, model_version=version, payload={"p": [0.1, 0.9]},
                                mask_file="masks/1.png")
        audit = AuditEvent(grader=grader, entity="grade", entity_id=1, action="submit",
                           before=None, after=FULL_GRADE.as_dict())
        setting = StudySetting(key="grading.blinded", value=True)
        s.add_all([patient, exam, image, grader, grade, annotation, reference, version, run, prediction,
                   audit, setting])
        s.flush()
        return {"image": image.id, "grader": grader.id, "grade": grade.id, "annotation": annotation.id,
                "reference": reference.id, "version": version.id, "run": run.id, "prediction": prediction.id,
                "audit": audit.id, "patient": patient.id, "exam": exam.id}


def test_every_model_round_trips_through_the_file(study: Study) -> None:
    ids = _fill_every_table(study)
    study.close()
    with Study.open(study.root) as again, again.session() as s:
        image = s.get(Image, ids["image"])
        assert image is not None
        assert (image.eye, image.file, image.width, image.height, image.bytes) == (Eye.OS, "ab/abc.png", 640, 480, 999)
        assert (image.fov_cx, image.fov_cy, image.fov_r, image.hospital_diagnosis) == (320.0, 240.0, 230.5, "stage 2")
        assert image.imported_at == T0 and image.imported_at.tzinfo is UTC
        assert image.exam.patient.code == "P-7" and image.exam.patient.birth_weight_g == 910
        assert image.exam.exam_date == date(2024, 3, 1) and image.exam.pma_weeks == 34.0
        grader = s.get(Grader, ids["grader"])
        assert grader is not None and grader.role is Role.ADJUDICATOR
        assert grader.display_settings == {"clahe": True, "gamma": 1.2}
        grade = s.get(Grade, ids["grade"])
        assert grade is not None and grade.values == FULL_GRADE and grade.submitted
        assert grade.version_id == 1 and grade.created_at.tzinfo is UTC
        annotation = s.get(Annotation, ids["annotation"])
        assert annotation is not None and annotation.geometry == RING
        assert (annotation.lesion_type, annotation.stage, annotation.source, annotation.deleted) == (
            LesionType.RIDGE, Stage.S2, "traced", False)
        reference = s.get(Reference, ids["reference"])
        assert reference is not None and reference.values.stage is Stage.S2
        assert reference.detail == {"votes": {"2": 3, "3": 1}} and reference.decided_by == grader.id
        version = s.get(ModelVersion, ids["version"])
        assert version is not None and version.card == {"classes": ["no", "yes"]} and version.active
        run = s.get(TrainingRun, ids["run"])
        assert run is not None and run.model_version_id == version.id and run.config == {"lr": 1e-4}
        assert run.finished_at == T0
        prediction = s.get(Prediction, ids["prediction"])
        assert prediction is not None and prediction.payload == {"p": [0.1, 0.9]}
        audit = s.get(AuditEvent, ids["audit"])
        assert audit is not None and audit.before is None and audit.after == FULL_GRADE.as_dict()
        assert repo.get_setting(s, "grading.blinded") is True


def test_enums_are_stored_as_their_values(study: Study) -> None:
    ids = _fill_every_table(study)
    with study.engine.connect() as conn:
        row = conn.execute(text("SELECT rop, stage, zone, plus, quality FROM grades WHERE id = :i"),
                           {"i": ids["grade"]}).one()
        assert tuple(row) == ("yes", "4A", "posterior II", "pre-plus", "gradable")
        assert conn.execute(text("SELECT eye FROM images")).scalar_one() == "OS"
        assert conn.execute(text("SELECT role FROM graders")).scalar_one() == "adjudicator"
        # Nullable JSON: Python None is SQL NULL, not the text 'null'.
        assert conn.execute(text("SELECT before IS NULL FROM audit_events")).scalar_one() == 1


def test_naive_datetimes_are_refused(study: Study, make_image) -> None:
    with pytest.raises(StatementError, match="naive datetime"), study.session() as s:
        image = make_image(s)
        image.imported_at = datetime(2024, 1, 1)
        s.flush()


@pytest.mark.parametrize("duplicate", ["patient", "image_sha", "grader", "grade", "reference", "prediction"])
def test_unique_constraints(study: Study, make_image, make_grader, duplicate: str) -> None:
    with study.session() as s:
        image = make_image(s)
        grader = make_grader(s)
        version = repo.add_model_version(s, name="m", task="binary", architecture="a", bundle_path="b")
        s.add_all([Grade(image=image, grader=grader), Reference(image=image, method="imported"),
                   Prediction(image=image, model_version=version, payload={})])
    clones = {
        "patient": lambda: Patient(code="P001"),
        "image_sha": lambda: Image(exam_id=image.exam_id, file="x", original_name="y", sha256=image.sha256,
                                   width=1, height=1, format="png", bytes=1),
        "grader": lambda: Grader(name="Dr A"),
        "grade": lambda: Grade(image_id=image.id, grader_id=grader.id),
        "reference": lambda: Reference(image_id=image.id, method="majority"),
        "prediction": lambda: Prediction(image_id=image.id, model_version_id=version.id, payload={}),
    }
    with pytest.raises(IntegrityError), study.session() as s:
        s.add(clones[duplicate]())
        s.flush()


def test_deleting_a_patient_cascades_in_the_database(study: Study) -> None:
    _fill_every_table(study)
    with study.engine.begin() as conn:  # plain SQL: the database itself must cascade
        conn.execute(text("DELETE FROM patients"))
    with study.session() as s:
        for model in (Exam, Image, Grade, Annotation, Reference, Prediction):
            assert s.scalars(select(model)).all() == [], model.__name__
        assert s.scalars(select(Grader)).one().name == "Dr Ada"  # graders outlive images
        assert s.scalars(select(ModelVersion)).one().name == "resnet v1"
        assert len(s.scalars(select(AuditEvent)).all()) == 1  # the audit trail is kept


def test_orm_delete_of_a_model_version_cascades_and_unlinks_runs(study: Study) -> None:
    ids = _fill_every_table(study)
    with study.session() as s:
        s.delete(s.get(ModelVersion, ids["version"]))
    with study.session() as s:
        assert s.get(Prediction, ids["prediction"]) is None
        run = s.get(TrainingRun, ids["run"])
        assert run is not None and run.model_version_id is None


def test_a_grader_with_work_cannot_be_deleted(study: Study) -> None:
    ids = _fill_every_table(study)
    with pytest.raises(IntegrityError), study.session() as s:
        s.execute(text("DELETE FROM graders WHERE id = :i"), {"i": ids["grader"]})
    with study.session() as s:
        assert s.get(Grade, ids["grade"]) is not None


@pytest.mark.parametrize("model, field", [(Grade, "comment"), (Annotation, "deleted"), (Reference, "method")])
def test_concurrent_edit_raises_stale_data(study: Study, model, field: str) -> None:
    ids = _fill_every_table(study)
    row_id = ids[{Grade: "grade", Annotation: "annotation", Reference: "reference"}[model]]
    first, second = study.session_factory(), study.session_factory()
    try:
        mine, theirs = first.get(model, row_id), second.get(model, row_id)
        setattr(theirs, field, True if field == "deleted" else "theirs")
        second.commit()
        setattr(mine, field, True if field == "deleted" else "mine")
        with pytest.raises(StaleDataError):
            first.commit()
        first.rollback()
    finally:
        first.close()
        second.close()
    with study.session() as s:
        row = s.get(model, row_id)
        assert row is not None and row.version_id == 2


def test_updated_at_moves_and_version_increments(study: Study) -> None:
    ids = _fill_every_table(study)
    with study.session() as s:
        grade = s.get(Grade, ids["grade"])
        before = grade.updated_at
        grade.comment = "changed"
    with study.session() as s:
        grade = s.get(Grade, ids["grade"])
        assert grade.version_id == 2 and grade.updated_at >= before and grade.updated_at.tzinfo is UTC
