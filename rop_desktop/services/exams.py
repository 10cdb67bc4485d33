"""Eye-level exams: one eye of one patient at one visit, graded as clinicians diagnose ROP.

An *exam* here is (``Exam.id``, ``eye``): the images of one eye taken in one examination session
(:class:`ExamKey`). For the signed-in grader this service

* shows an exam — its images (the strip beside the canvas), the roll-up of the grader's own
  image grades (``domain.etrop.roll_up``), their eye-level grade and its treatment class
  (:meth:`ExamService.state`);
* stores the eye-level grade, draft or submitted, with the roll-up it was pre-filled from (every
  edit its own transaction with an audit event, version-checked like image grades);
* lists an eye's visits in date order with what got worse (:meth:`ExamService.progression`), and
  the eyes that need attention (:meth:`ExamService.needs_attention`: the latest visit worsened,
  or it is treatment-warranted) — from the grader's own grades, or, for adjudicators, from the
  reference standard, as ``services.attention`` keeps them per eye;
* aggregates the active models' per-image outputs per eye (max P(ROP), highest predicted stage),
  marked as the model's.

Blinding at eye level: another grader's eye-level grade of an exam is shown to a grader only
where the study shows others' work (``Action.OTHERS_WORK_READ``) and the grader has submitted
their own eye-level grade *and* every image of that exam — seeing someone's verdict on the eye
must not bias the grades of its images. PostgreSQL enforces the same (migration 0007).

Which level votes is a study setting (:data:`VOTE_LEVEL_KEY`: "image", the papers' protocol and
the default, or "eye", the clinical protocol). At eye level a confirm (and an amendment of a
confirmed grade) settles the exam's eye-level reference in its own transaction
(``services.exam_reference``), and the reference views read that reference where it exists.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rop_desktop.domain.etrop import (
    Classification,
    ImageEvidence,
    RollUp,
    TreatmentClass,
    check_eye_grade,
    classify,
    posterior_pole_image,
    roll_up,
)
from rop_desktop.domain.grades import GradeValues, Issue
from rop_desktop.domain.labels import Eye, Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.domain.progression import Visit, VisitChange, eye_history
from rop_desktop.domain.zones import Landmarks
from rop_desktop.services.errors import ServiceError
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import (
    Annotation,
    Exam,
    ExamGrade,
    Grade,
    Grader,
    Image,
    Landmark,
    ModelVersion,
    Patient,
    Prediction,
    Reference,
)
from rop_desktop.store.types import utcnow

from .accounts import set_study_setting
from .agreement import FieldAgreement, PairAgreement
from .attention import AttentionRow, attention_exams, attention_rows
from .exam_reference import VOTE_LEVEL_KEY, VOTE_LEVELS, exam_references_in, may_settle, settle_exams, settle_exams_in
from .importer import thumbnail_file
from .landmarks import landmarks_of
from .outline_rows import shape_of
from .policy import BLINDED_SETTING, REVEAL_SETTING, AccessDenied, Action, Actor, allowed, current, guarded

if TYPE_CHECKING:  # training.report loads torch; the report section imports it when run
    from training.report import ReportSection


class ExamError(ServiceError):
    """An eye-level action that cannot be done; ``reason`` is a sentence for the user."""


class ExamGradeConflict(ExamError):
    """The eye-level grade changed on another workstation; ``current`` is what is stored now."""

    def __init__(self, current: MyExamGrade) -> None:
        super().__init__(
            "Your eye-level grade of this exam was changed on another workstation; the window now "
            "shows that version. Nothing was overwritten."
        )
        self.current = current


@dataclass(frozen=True)
class ExamKey:
    """One eye at one visit: the examination session and the eye."""

    exam_id: int
    eye: Eye


@dataclass(frozen=True)
class ExamImage:
    """One image of the exam as the strip shows it (``status``: this grader's, as the worklist)."""

    image_id: int
    name: str
    thumbnail: Path | None
    status: str  # "todo" | "draft" | "submitted"
    width: int
    height: int


@dataclass(frozen=True)
class ExamInfo:
    key: ExamKey
    patient: str
    exam_date: date | None
    pma_weeks: float | None
    camera: str | None
    images: tuple[ExamImage, ...]

    @property
    def title(self) -> str:
        when = self.exam_date.isoformat() if self.exam_date else "undated"
        return f"{self.patient} · {self.key.eye.value} · {when}"


@dataclass(frozen=True)
class MyExamGrade:
    values: GradeValues
    submitted: bool = False
    submitted_at: datetime | None = None
    exists: bool = False
    version: int = 0  #: pass back as ``expected_version`` (0: none stored yet)


@dataclass(frozen=True)
class ExamState:
    """Everything the exam view shows for the signed-in grader, read in one call."""

    info: ExamInfo
    rollup: RollUp
    grade: MyExamGrade
    #: the class of the eye-level grade when one is stored, else of the roll-up
    classification: Classification

    @property
    def prefill(self) -> GradeValues:
        """What the eye-level form starts from: the stored grade, or the roll-up."""
        return self.grade.values if self.grade.exists else self.rollup.values


@dataclass(frozen=True)
class VisitRow:
    """One visit of one eye in the progression view."""

    key: ExamKey
    date: date | None
    pma_weeks: float | None
    values: GradeValues
    basis: str
    classification: Classification
    flags: tuple[str, ...]
    image_ids: tuple[int, ...]
    #: the image shown for the visit side by side (the posterior-pole image when identified)
    image_id: int | None
    landmarks: Landmarks | None


@dataclass(frozen=True)
class Progression:
    patient: str
    eyes: dict[Eye, tuple[VisitRow, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Attention:
    """An eye on the *Needs attention* list: its latest visit and why."""

    patient: str
    eye: Eye
    key: ExamKey
    date: date | None
    reasons: tuple[str, ...]
    image_ids: tuple[int, ...]
    classification: Classification


@dataclass(frozen=True)
class ModelEyeSummary:
    """The active models' outputs of one exam, aggregated per eye (clearly the model's)."""

    max_probability: float | None
    highest_stage: Stage | None
    images: int
    predicted: int
    classification: Classification


# ---------------------------------------------------------------------------- reading the study
def _mine(row: ExamGrade | None) -> MyExamGrade:
    if row is None:
        return MyExamGrade(GradeValues())
    return MyExamGrade(row.values, row.submitted, row.submitted_at, True, row.version_id)


def _exam_images(session: Session, key: ExamKey) -> list[Image]:
    return list(
        session.scalars(
            select(Image)
            .where(Image.exam_id == key.exam_id, Image.eye == key.eye)
            .order_by(Image.original_name, Image.id)
        )
    )


def _selected_key(exam_id: int, eye: Eye | None) -> ExamKey:
    """The key of an image row that a query selected with ``Image.eye IS NOT NULL``."""
    if eye is None:
        raise ExamError(f"an image of exam {exam_id} without an eye was read as one with an eye")
    return ExamKey(exam_id, eye)


def _key_of(session: Session, image_id: int) -> tuple[ExamKey, Image]:
    image = session.get(Image, image_id)
    if image is None:
        raise ExamError(f"Image {image_id} is not in this study.")
    if image.eye is None:
        raise ExamError(f"{image.original_name} has no eye (OD / OS) recorded: it belongs to no eye-level exam.")
    return ExamKey(image.exam_id, image.eye), image


def _grade_row(session: Session, key: ExamKey, grader_id: int) -> ExamGrade | None:
    return session.scalar(
        select(ExamGrade).where(
            ExamGrade.exam_id == key.exam_id, ExamGrade.eye == key.eye, ExamGrade.grader_id == grader_id
        )
    )


def _evidence(session: Session, images: Sequence[Image], grader_id: int) -> list[ImageEvidence]:
    """One grader's grades, landmarks and outlines of ``images`` (three queries)."""
    ids = [i.id for i in images]
    grades = {
        g.image_id: g
        for g in session.scalars(select(Grade).where(Grade.image_id.in_(ids), Grade.grader_id == grader_id))
    }
    marks = {
        m.image_id: m
        for m in session.scalars(select(Landmark).where(Landmark.image_id.in_(ids), Landmark.grader_id == grader_id))
    }
    outlines: dict[int, list[tuple[tuple[float, float], ...]]] = defaultdict(list)
    for a in session.scalars(
        select(Annotation)
        .where(Annotation.image_id.in_(ids), Annotation.grader_id == grader_id, Annotation.deleted.is_(False))
        .order_by(Annotation.id)
    ):
        outlines[a.image_id].append(tuple(shape_of(a).points))
    out = []
    for image in images:
        grade = grades.get(image.id)
        if grade is None:
            continue
        lm = landmarks_of(marks.get(image.id)) if image.id in marks else None
        out.append(
            ImageEvidence(
                image.original_name,
                grade.values,
                lm,
                tuple(outlines[image.id]),
                (image.width, image.height),
                grade.submitted,
            )
        )
    return out


def _pole_image(images: Sequence[Image], evidence: Sequence[ImageEvidence]) -> int | None:
    pole = posterior_pole_image(evidence)
    by_name = {i.original_name: i.id for i in images}
    if pole is not None:
        return by_name.get(pole.name)
    return images[0].id if images else None


# ---------------------------------------------------------------------------- the service
class ExamService:
    """What one signed-in grader does with eye-level exams in one study."""

    def __init__(self, study: Study, actor: Actor) -> None:
        self.study = study
        self.actor = current(study, actor, verb="grade exams")

    # ------------------------------------------------------------------ one exam
    @guarded(Action.OWN_WORK_READ)
    def state(self, image_id: int) -> ExamState:
        """The exam ``image_id`` belongs to, as this grader sees it (images, roll-up of their own
        image grades, their eye-level grade, its class)."""
        with self.study.session() as session:
            key, _ = _key_of(session, image_id)
            return self._state(session, key)

    @guarded(Action.OWN_WORK_READ)
    def exam_state(self, key: ExamKey) -> ExamState:
        """:meth:`state` for an exam named by its key."""
        with self.study.session() as session:
            return self._state(session, key)

    def _state(self, session: Session, key: ExamKey) -> ExamState:
        images = _exam_images(session, key)
        if not images:
            raise ExamError("This exam has no images of that eye.")
        exam = session.get(Exam, key.exam_id)
        assert exam is not None
        mine = {
            g.image_id: g.submitted
            for g in session.scalars(
                select(Grade).where(Grade.image_id.in_([i.id for i in images]), Grade.grader_id == self.actor.id)
            )
        }
        strip = tuple(
            ExamImage(
                i.id,
                i.original_name,
                self.study.cache_path(thumbnail_file(i.sha256)),
                "submitted" if mine.get(i.id) else ("draft" if i.id in mine else "todo"),
                i.width,
                i.height,
            )
            for i in images
        )
        info = ExamInfo(key, exam.patient.code, exam.exam_date, exam.pma_weeks, exam.camera, strip)
        rollup = roll_up(_evidence(session, images, self.actor.id))
        grade = _mine(_grade_row(session, key, self.actor.id))
        return ExamState(info, rollup, grade, classify(grade.values if grade.exists else rollup.values))

    @guarded(Action.OWN_WORK_READ)
    def issues(self, values: GradeValues) -> list[Issue]:
        return check_eye_grade(values)

    @guarded(Action.OWN_WORK_WRITE)
    def save_draft(self, key: ExamKey, values: GradeValues, *, expected_version: int | None = None) -> MyExamGrade:
        """Store the eye-level grade as it is now (a draft, or an amendment of a submitted one)."""
        return self._write(key, values, expected_version, submit=False)

    @guarded(Action.OWN_WORK_WRITE)
    def submit(self, key: ExamKey, values: GradeValues, *, expected_version: int | None = None) -> MyExamGrade:
        """Submit the eye-level grade; refused (:class:`ExamError`) while it has errors."""
        errors = [i for i in check_eye_grade(values) if i.severity == "error"]
        if errors:
            raise ExamError("Cannot submit the eye-level grade: " + "; ".join(i.message for i in errors))
        return self._write(key, values, expected_version, submit=True)

    def _write(self, key: ExamKey, values: GradeValues, expected_version: int | None, *, submit: bool) -> MyExamGrade:
        if not isinstance(values, GradeValues):
            raise ExamError("An eye-level grade must be a GradeValues.")
        with self.study.session() as session:
            images = _exam_images(session, key)
            if not images:
                raise ExamError("This exam has no images of that eye.")
            row = _grade_row(session, key, self.actor.id)
            stored = row.version_id if row is not None else 0
            if expected_version is not None and stored != expected_version:
                raise ExamGradeConflict(_mine(row))
            before = row.values.as_dict() if row is not None else None
            if row is not None and before == values.as_dict() and (row.submitted or not submit):
                return _mine(row)
            if row is None:
                row = ExamGrade(exam_id=key.exam_id, eye=key.eye, grader_id=self.actor.id, submitted=False)
                session.add(row)
            row.set_values(values)
            row.prefill = roll_up(_evidence(session, images, self.actor.id)).as_dict()
            if submit and not row.submitted:
                row.submitted, row.submitted_at = True, utcnow()
            session.flush()
            action = "submit" if submit else ("amend" if row.submitted else "draft")
            repo.add_audit(
                session,
                "exam_grade",
                row.id,
                action,
                grader=self.actor.id,
                before=before,
                after={**values.as_dict(), "exam_id": key.exam_id, "eye": key.eye.value},
            )
            if row.submitted and may_settle(session, self.actor, key.exam_id, key.eye):
                settle_exams_in(session, [(key.exam_id, key.eye)])  # no-op unless the study votes per eye
            return _mine(row)

    @guarded(Action.OTHERS_WORK_READ, image="image_id")
    def others(self, image_id: int) -> dict[str, tuple[GradeValues, bool]]:
        """Other graders' submitted eye-level grades of the exam of ``image_id`` (values, submitted),
        by name. A grader must first submit their own eye-level grade and every image of the exam."""
        with self.study.session() as session:
            key, _ = _key_of(session, image_id)
            if not self.actor.elevated:
                self._check_exam_unblinded(session, key)
            rows = session.execute(
                select(ExamGrade, Grader.name)
                .join(Grader, Grader.id == ExamGrade.grader_id)
                .where(
                    ExamGrade.exam_id == key.exam_id,
                    ExamGrade.eye == key.eye,
                    ExamGrade.grader_id != self.actor.id,
                    ExamGrade.submitted.is_(True),
                )
                .order_by(Grader.name)
            ).all()
            return {name: (row.values, row.submitted) for row, name in rows}

    def _check_exam_unblinded(self, session: Session, key: ExamKey) -> None:
        if not bool(repo.get_setting(session, BLINDED_SETTING, True)):
            return
        if not bool(repo.get_setting(session, REVEAL_SETTING, True)):
            raise AccessDenied("Blinded grading: this study does not reveal other graders' work.")
        own = _grade_row(session, key, self.actor.id)
        images = [i.id for i in _exam_images(session, key)]
        done = set(
            session.scalars(
                select(Grade.image_id).where(
                    Grade.image_id.in_(images), Grade.grader_id == self.actor.id, Grade.submitted.is_(True)
                )
            )
        )
        if own is None or not own.submitted or set(images) - done:
            raise AccessDenied(
                "Blinded grading: submit your own grades of every image of this exam and your eye-level grade first."
            )

    # ------------------------------------------------------------------ progression
    @guarded(Action.OWN_WORK_READ)
    def progression(self, image_id: int) -> Progression:
        """The patient of ``image_id``: each eye's visits in date order as this grader graded them
        (their eye-level grade, else the roll-up of their image grades), with what got worse."""
        with self.study.session() as session:
            _, image = _key_of(session, image_id)
            patient = image.exam.patient
            visits = _own_visits(session, self.actor.id, patient.id)
            return _progression(session, patient.code, visits, self.actor.id)

    @guarded(Action.REFERENCE_READ)
    def reference_progression(self, image_id: int) -> Progression:
        """:meth:`progression` from the reference standard (the roll-up of the images' references)."""
        with self.study.session() as session:
            _, image = _key_of(session, image_id)
            patient = image.exam.patient
            visits = _reference_visits(session, patient.id)
            return _progression(session, patient.code, visits, self.actor.id)

    @guarded(Action.OWN_WORK_READ)
    def needs_attention(self) -> list[Attention]:
        """Eyes whose latest visit, as this grader graded it, got worse than the visit before or is
        treatment-warranted (most recent first). Reads this grader's own work only: the state
        ``services.attention`` keeps per eye, not the study's visits."""
        with self.study.session() as session:
            return [_attention(row) for row in attention_rows(session, self.actor.id)]

    @guarded(Action.REFERENCE_READ)
    def reference_needs_attention(self) -> list[Attention]:
        """:meth:`needs_attention` from the reference standard."""
        with self.study.session() as session:
            return [_attention(row) for row in attention_rows(session, None)]

    # ------------------------------------------------------------------ the model's view of the eye
    @guarded(Action.MODEL_OUTPUT_READ, image="image_id")
    def model_summary(
        self, image_id: int, *, zone: Zone | None = None, plus: Plus | None = None
    ) -> ModelEyeSummary | None:
        """The active models' outputs over the exam of ``image_id``: max P(ROP) and the highest
        predicted stage, and the class they give with ``zone`` and ``plus`` (the models predict
        neither; the window passes the eye-level grade's). None without an active model or a
        prediction. A grader sees it only where the models' output of every image is visible."""
        with self.study.session() as session:
            key, _ = _key_of(session, image_id)
            images = [i.id for i in _exam_images(session, key)]
        if not self.actor.elevated:
            for other in images:
                if not allowed(self.study, self.actor, Action.MODEL_OUTPUT_READ, image_id=other):
                    raise AccessDenied(
                        "Blinded grading: submit your own grades of every image of this exam to see "
                        "the models' view of the eye."
                    )
        with self.study.session() as session:
            active = list(session.scalars(select(ModelVersion.id).where(ModelVersion.active.is_(True))))
            if not active:
                return None
            rows = list(
                session.scalars(
                    select(Prediction).where(Prediction.image_id.in_(images), Prediction.model_version_id.in_(active))
                )
            )
        probabilities = [p.probability for p in rows if p.probability is not None]
        stages: list[Stage] = []
        for p in rows:
            try:
                stage = Stage.parse(p.predicted_class) if p.predicted_class else None
            except ValueError:
                stage = None
            if stage is not None and stage is not Stage.NA:
                stages.append(stage)
        if not rows:
            return None
        highest = max(stages, key=lambda s: s.severity or 0) if stages else None
        if highest is None and probabilities:
            rop = RopPresence.YES if max(probabilities) >= 0.5 else RopPresence.NO
            values = GradeValues(
                rop=rop,
                stage=Stage.S0 if rop is RopPresence.NO else None,
                zone=zone,
                plus=plus,
                quality=Quality.GRADABLE,
            )
        else:
            values = GradeValues(stage=highest, zone=zone, plus=plus, quality=Quality.GRADABLE)
        predicted = len({p.image_id for p in rows})
        return ModelEyeSummary(
            max(probabilities) if probabilities else None, highest, len(images), predicted, classify(values)
        )


# ---------------------------------------------------------------------------- visits
@dataclass
class _VisitData:
    key: ExamKey
    patient: str
    date: date | None
    pma: float | None
    images: list[Image]
    values: GradeValues | None = None
    basis: str = ""
    evidence: list[ImageEvidence] = field(default_factory=list)


def _exams_of(session: Session, patient_id: int | None) -> dict[ExamKey, _VisitData]:
    stmt = (
        select(Image, Exam, Patient.code)
        .join(Exam, Exam.id == Image.exam_id)
        .join(Patient, Patient.id == Exam.patient_id)
        .where(Image.eye.is_not(None))
        .order_by(Image.id)
    )
    if patient_id is not None:
        stmt = stmt.where(Exam.patient_id == patient_id)
    visits: dict[ExamKey, _VisitData] = {}
    for image, exam, code in session.execute(stmt):
        key = _selected_key(exam.id, image.eye)
        if key not in visits:
            visits[key] = _VisitData(key, code, exam.exam_date, exam.pma_weeks, [])
        visits[key].images.append(image)
    return visits


def _own_visits(session: Session, grader_id: int, patient_id: int | None) -> dict[ExamKey, _VisitData]:
    """The visits this grader graded: their eye-level grade where stored, else the roll-up of
    their image grades; visits they did not grade at all are left out."""
    visits = _exams_of(session, patient_id)
    eye_grades = {
        ExamKey(r.exam_id, r.eye): r for r in session.scalars(select(ExamGrade).where(ExamGrade.grader_id == grader_id))
    }
    for key, visit in list(visits.items()):
        visit.evidence = _evidence(session, visit.images, grader_id)
        row = eye_grades.get(key)
        if row is not None and row.values != GradeValues():
            visit.values, visit.basis = row.values, ("eye grade" if row.submitted else "eye grade (draft)")
        elif visit.evidence:
            visit.values, visit.basis = roll_up(visit.evidence).values, "roll-up of image grades"
        else:
            del visits[key]
    return visits


def _reference_visits(session: Session, patient_id: int | None) -> dict[ExamKey, _VisitData]:
    visits = _exams_of(session, patient_id)
    ids = [i.id for v in visits.values() for i in v.images]
    refs = {r.image_id: r for r in session.scalars(select(Reference).where(Reference.image_id.in_(ids)))} if ids else {}
    marks: dict[int, Landmarks] = {}
    if ids:
        for m in session.scalars(select(Landmark).where(Landmark.image_id.in_(ids)).order_by(Landmark.grader_id)):
            lm = landmarks_of(m)
            if lm.complete and m.image_id not in marks:
                marks[m.image_id] = lm
    eye_refs = exam_references_in(session, {k.exam_id for k in visits}) if visits else {}
    for key, visit in visits.items():
        evidence = [
            ImageEvidence(i.original_name, refs[i.id].values, marks.get(i.id), (), (i.width, i.height))
            for i in visit.images
            if i.id in refs
        ]
        visit.evidence = evidence
        eye_ref = eye_refs.get((key.exam_id, key.eye))
        if eye_ref is not None:  # the eye-level reference (a study that votes per eye)
            visit.values, visit.basis = eye_ref.values, "reference standard (eye level)"
        elif evidence:
            visit.values, visit.basis = roll_up(evidence).values, "reference standard (images)"
        else:  # listed, so the visit is seen; compared with nothing until it settles
            visit.values, visit.basis = GradeValues(), "reference not settled yet (votes pending)"
    return visits


def _histories(visits: dict[ExamKey, _VisitData]) -> dict[tuple[str, Eye], list[VisitChange]]:
    by_eye: dict[tuple[str, Eye], list[Visit]] = defaultdict(list)
    for key, v in visits.items():
        assert v.values is not None
        by_eye[(v.patient, key.eye)].append(
            Visit(key.exam_id, key.eye, v.date, v.values, v.basis, tuple(i.id for i in v.images))
        )
    return {k: eye_history(vs) for k, vs in by_eye.items()}


def _progression(session: Session, patient: str, visits: dict[ExamKey, _VisitData], grader_id: int) -> Progression:
    eyes: dict[Eye, tuple[VisitRow, ...]] = {}
    for (_, eye), history in sorted(_histories(visits).items(), key=lambda kv: kv[0][1].value):
        rows = []
        for change in history:
            v = visits[ExamKey(change.visit.exam_id, eye)]
            shown = _pole_image(v.images, v.evidence)
            rows.append(
                VisitRow(
                    v.key,
                    v.date,
                    v.pma,
                    change.visit.values,
                    change.visit.basis,
                    change.visit.classification,
                    change.flags,
                    change.visit.image_ids,
                    shown,
                    _landmarks_for_alignment(session, shown, grader_id),
                )
            )
        eyes[eye] = tuple(rows)
    return Progression(patient, eyes)


def _landmarks_for_alignment(session: Session, image_id: int | None, grader_id: int) -> Landmarks | None:
    """The landmarks that align an image with another visit: the grader's own, else (reference
    views) the first complete set another grader placed."""
    if image_id is None:
        return None
    rows = list(session.scalars(select(Landmark).where(Landmark.image_id == image_id).order_by(Landmark.grader_id)))
    own = next((landmarks_of(r) for r in rows if r.grader_id == grader_id), None)
    if own is not None and own.complete:
        return own
    return next((lm for lm in map(landmarks_of, rows) if lm.complete), own)


def _attention(row: AttentionRow) -> Attention:
    key = ExamKey(row.exam_id, row.eye)
    return Attention(row.patient, row.eye, key, row.date, row.reasons, row.image_ids, classify(row.values))


# ---------------------------------------------------------------------------- the worklist
def worklist_classes(session: Session, actor: Actor, image_ids: Sequence[int]) -> dict[int, Classification]:
    """The treatment class of each listed image's exam, for the worklist's badge column: one page
    of images, a fixed handful of queries over the page's exams. A grader sees their own view of
    the eye (their eye-level grade, else the roll-up of their image grades, drafts included, as
    in the exam panel); adjudicators and admins the reference standard's (the eye-level reference,
    else the roll-up of the images' references). An exam nobody graded yet has no class."""
    if not image_ids:
        return {}
    page = {
        i: _selected_key(e, eye)
        for i, e, eye in session.execute(
            select(Image.id, Image.exam_id, Image.eye).where(Image.id.in_(list(image_ids)), Image.eye.is_not(None))
        )
    }
    if not page:
        return {}
    exam_ids = sorted({k.exam_id for k in page.values()})
    images: dict[ExamKey, list[Image]] = defaultdict(list)
    for image in session.scalars(
        select(Image).where(Image.exam_id.in_(exam_ids), Image.eye.is_not(None)).order_by(Image.id)
    ):
        images[_selected_key(image.exam_id, image.eye)].append(image)
    ids = [i.id for found in images.values() for i in found]
    marks: dict[int, Landmarks] = {}
    values: dict[ExamKey, GradeValues] = {}
    if actor.elevated:
        graded = {r.image_id: r.values for r in session.scalars(select(Reference).where(Reference.image_id.in_(ids)))}
        for m in session.scalars(select(Landmark).where(Landmark.image_id.in_(ids)).order_by(Landmark.grader_id)):
            if m.image_id not in marks and landmarks_of(m).complete:
                marks[m.image_id] = landmarks_of(m)
        values.update({ExamKey(*k): ref.values for k, ref in exam_references_in(session, exam_ids).items()})
    else:
        graded = {
            g.image_id: g.values
            for g in session.scalars(select(Grade).where(Grade.image_id.in_(ids), Grade.grader_id == actor.id))
        }
        marks = {
            m.image_id: landmarks_of(m)
            for m in session.scalars(select(Landmark).where(Landmark.image_id.in_(ids), Landmark.grader_id == actor.id))
        }
        values.update(
            {
                ExamKey(r.exam_id, r.eye): r.values
                for r in session.scalars(
                    select(ExamGrade).where(ExamGrade.exam_id.in_(exam_ids), ExamGrade.grader_id == actor.id)
                )
                if r.values != GradeValues()
            }
        )
    classes: dict[ExamKey, Classification] = {}
    for key in set(page.values()):
        if key not in values:
            evidence = [
                ImageEvidence(i.original_name, graded[i.id], marks.get(i.id), (), (i.width, i.height))
                for i in images[key]
                if i.id in graded
            ]
            if not evidence:
                continue
            values[key] = roll_up(evidence).values
        classes[key] = classify(values[key])
    return {image_id: classes[key] for image_id, key in page.items() if key in classes}


# ---------------------------------------------------------------------------- exports of the reference
@dataclass(frozen=True)
class ReferenceEye:
    """What the reference exports add to an image: its landmarks and its eye at that visit."""

    landmarks: Landmarks | None
    key: ExamKey | None
    values: GradeValues | None
    basis: str
    classification: Classification | None

    def exam_dict(self, patient: str, exam_date: date | None) -> dict[str, Any] | None:
        """The snapshot record's ``exam`` field (``training/README.md``)."""
        if self.key is None or self.values is None or self.classification is None:
            return None
        when = exam_date.isoformat() if exam_date else "undated"
        grade = {
            k: v
            for k, v in self.values.as_dict().items()
            if k in ("rop", "stage", "zone", "plus", "arop", "extent_clock_hours", "quality")
        }
        return {
            "key": f"{patient}-{self.key.eye.value}-{when}",
            "grade": grade,
            "treatment_class": self.classification.klass.value,
            "etrop": self.classification.etrop,
            "basis": self.basis,
        }


def reference_eyes(session: Session) -> dict[int, ReferenceEye]:
    """Image id → its reference landmarks (the first complete set a grader placed, as the
    reference progression aligns visits) and its eye's reference at that visit (the eye-level
    reference, else the roll-up of the images' references) with the treatment class. Images of
    no eye (no OD / OS) get their landmarks only. Read by ``services.export``."""
    visits = _reference_visits(session, None)
    marks: dict[int, Landmarks] = {}
    for m in session.scalars(select(Landmark).order_by(Landmark.grader_id)):
        lm = landmarks_of(m)
        if lm.complete and m.image_id not in marks:
            marks[m.image_id] = lm
        elif m.image_id not in marks and not lm.empty:
            marks.setdefault(-m.image_id, lm)  # an incomplete set, used when no complete one exists
    out: dict[int, ReferenceEye] = {}
    for key, visit in visits.items():
        settled = visit.values is not None and visit.values != GradeValues()
        for image in visit.images:
            out[image.id] = ReferenceEye(
                marks.get(image.id) or marks.get(-image.id),
                key,
                visit.values if settled else None,
                visit.basis,
                classify(visit.values) if settled and visit.values is not None else None,
            )
    for image_id, lm in marks.items():
        if abs(image_id) not in out:
            out[abs(image_id)] = ReferenceEye(marks.get(abs(image_id)) or lm, None, None, "", None)
    return out


# ---------------------------------------------------------------------------- settings and exports
@guarded(Action.STUDY_BROWSE)
def vote_level(study: Study, actor: Actor) -> str:
    """What votes and settles in this study: "image" (the papers' protocol, the default) or "eye"."""
    with study.session() as session:
        level = repo.get_setting(session, VOTE_LEVEL_KEY, "image")
    return level if level in VOTE_LEVELS else "image"


@guarded(Action.SETTINGS_WRITE)
def set_vote_level(study: Study, actor: Actor, level: str) -> None:
    """Choose what votes and settles: "image" or "eye" (admins; audited)."""
    if level not in VOTE_LEVELS:
        raise ExamError(f"The vote level must be one of {', '.join(VOTE_LEVELS)}, not {level!r}.")
    set_study_setting(study, actor, VOTE_LEVEL_KEY, level)
    settle_exams(study, actor_id=actor.id)  # at eye level: the confirmed eye grades vote from now on


#: The treatment classes in order of severity: the categories of the treatment-decision kappa.
CLASS_ORDER = (TreatmentClass.ROUTINE.value, TreatmentClass.FOLLOW_UP.value, TreatmentClass.TREAT.value)


@guarded(Action.AGREEMENT_READ)
def treatment_agreement(study: Study, actor: Actor) -> FieldAgreement:
    """Agreement between graders on the treatment decision, exam by exam: each grader's class
    from their submitted eye-level grade, else from the roll-up of their submitted image grades of
    that exam; an undetermined class counts as not rated. Percent agreement and Cohen's kappa per
    pair (linear and quadratic weights: routine < close follow-up < treatment-warranted), Fleiss'
    kappa over the exams every grader rated — the clinically important kappa."""
    with study.session() as session:
        visits = _exams_of(session, None)
        keys = sorted(visits, key=lambda k: (k.exam_id, k.eye.value))
        eye_grades: dict[tuple[ExamKey, int], GradeValues] = {
            (ExamKey(r.exam_id, r.eye), r.grader_id): r.values
            for r in session.scalars(select(ExamGrade).where(ExamGrade.submitted.is_(True)))
        }
        names = {g.id: g.name for g in session.scalars(select(Grader))}
        by_grader: dict[int, dict[ExamKey, str | None]] = defaultdict(dict)
        rolled = _submitted_rollups(session, visits)
        graders = {gid for (_, gid) in eye_grades} | {gid for (_, gid) in rolled}
        for key in keys:
            for grader_id in graders:
                values = eye_grades.get((key, grader_id))
                if values is None:
                    values = rolled.get((key, grader_id))
                if values is None:
                    continue
                klass = classify(values).klass
                by_grader[grader_id][key] = klass.value if klass is not TreatmentClass.UNDETERMINED else None
    labels = {names[g]: [by_grader[g].get(k) for k in keys] for g in sorted(by_grader, key=lambda g: names[g])}
    return _class_agreement(labels)


def _submitted_rollups(session: Session, visits: dict[ExamKey, _VisitData]) -> dict[tuple[ExamKey, int], GradeValues]:
    """(exam, grader) → the roll-up of that grader's submitted image grades of the exam, for every
    exam in ``visits``: two queries over the study (grades, landmarks), not three per exam and
    grader. Outlines are left out: the treatment class does not depend on the extent."""
    where = {i.id: (key, i) for key, visit in visits.items() for i in visit.images}
    marks = {(m.image_id, m.grader_id): landmarks_of(m) for m in session.scalars(select(Landmark))}
    evidence: dict[tuple[ExamKey, int], list[ImageEvidence]] = defaultdict(list)
    for grade in session.scalars(select(Grade).where(Grade.submitted.is_(True)).order_by(Grade.image_id)):
        found = where.get(grade.image_id)
        if found is None:
            continue
        key, image = found
        evidence[(key, grade.grader_id)].append(
            ImageEvidence(
                image.original_name,
                grade.values,
                marks.get((image.id, grade.grader_id)),
                (),
                (image.width, image.height),
            )
        )
    return {k: roll_up(found).values for k, found in evidence.items()}


def _class_agreement(labels: dict[str, list[str | None]]) -> FieldAgreement:
    # imported here: training.metrics loads torch (~2 s), which the window must not wait for (issue 17)
    from training.metrics import cohen_kappa, fleiss_kappa, percent_agreement

    cats = list(CLASS_ORDER)
    graders = list(labels)
    pairs = []
    for i, a in enumerate(graders):
        for b in graders[i + 1 :]:
            la, lb = labels[a], labels[b]
            n = sum(x is not None and y is not None for x, y in zip(la, lb, strict=True))
            pairs.append(
                PairAgreement(
                    "treatment class",
                    a,
                    b,
                    n,
                    percent_agreement(la, lb, cats),
                    cohen_kappa(la, lb, None, cats),
                    cohen_kappa(la, lb, "linear", cats),
                    cohen_kappa(la, lb, "quadratic", cats),
                )
            )
    items = len(next(iter(labels.values()))) if labels else 0
    complete = [i for i in range(items) if all(labels[g][i] is not None for g in graders)]
    notes: list[str] = []
    fleiss = None
    if len(graders) >= 2 and complete:
        counts = [[sum(labels[g][i] == c for g in graders) for c in cats] for i in complete]
        fleiss = fleiss_kappa(counts)
    else:
        notes.append("no exam was classed by every grader: Fleiss' kappa undefined")
    return FieldAgreement("treatment class", True, cats, pairs, fleiss, len(complete), notes)


@guarded(Action.AGREEMENT_READ)
def treatment_report_section(study: Study, actor: Actor) -> ReportSection:
    """The evaluation report's treatment-class section: how many eyes at a visit the reference
    standard puts in each ETROP class, and the graders' agreement on that decision."""
    from training.report import ReportSection, html_table  # loads torch: only when a report is written

    with study.session() as session:
        eyes = reference_eyes(session)
    per_exam = {e.key: e for e in eyes.values() if e.key is not None and e.classification is not None}
    counts = Counter(e.classification.klass for e in per_exam.values() if e.classification is not None)
    classes = html_table(
        ["Treatment class (reference standard)", "ETROP", "Eyes at a visit"],
        [
            [
                k.label,
                {TreatmentClass.TREAT: "Type 1, A-ROP, stage 4–5", TreatmentClass.FOLLOW_UP: "Type 2"}.get(k, ""),
                counts.get(k, 0),
            ]
            for k in (
                TreatmentClass.TREAT,
                TreatmentClass.FOLLOW_UP,
                TreatmentClass.ROUTINE,
                TreatmentClass.UNDETERMINED,
            )
        ],
    )
    agreement = treatment_agreement(study, actor)
    pairs = html_table(
        ["Grader A", "Grader B", "Exams", "% agreement", "Cohen's kappa", "Weighted kappa (quad.)"],
        [[p.grader_a, p.grader_b, p.n_items, p.percent_agreement, p.kappa, p.kappa_quadratic] for p in agreement.pairs],
    )
    fleiss = "undefined" if agreement.fleiss_kappa is None else f"{agreement.fleiss_kappa:.2f}"
    body = (
        f"<p>{len(per_exam)} eyes at a visit have a reference (the eye-level reference, else the roll-up of "
        f"the images' references).</p>{classes}<h3>Agreement on the treatment decision</h3>"
        f"<p>Fleiss' kappa {fleiss} over {agreement.fleiss_items} exams every grader classed.</p>{pairs}"
    )
    return ReportSection("Treatment classes (ETROP)", body)


EXAM_COLUMNS = (
    "patient",
    "eye",
    "exam_date",
    "pma_weeks",
    "grader",
    "submitted",
    "rop",
    "stage",
    "zone",
    "plus",
    "arop",
    "extent_clock_hours",
    "treatment_class",
    "etrop",
    "class_reason",
    "prefilled_stage",
    "prefilled_zone",
    "prefilled_plus",
    "images",
)


@guarded(Action.EXPORT_ALL)
def export_exam_grades_csv(study: Study, actor: Actor, path: str | Path) -> int:
    """Every grader's eye-level grades with their treatment class and what was pre-filled, as CSV
    (one row per exam, eye and grader; pseudonymous codes only); the number of rows."""
    path = Path(path)
    with study.session() as session:
        rows = session.execute(
            select(ExamGrade, Exam, Patient.code, Grader.name)
            .join(Exam, Exam.id == ExamGrade.exam_id)
            .join(Patient, Patient.id == Exam.patient_id)
            .join(Grader, Grader.id == ExamGrade.grader_id)
            .order_by(Patient.code, Exam.exam_date, ExamGrade.eye, Grader.name)
        ).all()
        records: list[dict[str, Any]] = []
        for grade, exam, code, grader in rows:
            names = [i.original_name for i in _exam_images(session, ExamKey(exam.id, grade.eye))]
            values = grade.values
            klass = classify(values)
            prefill = (grade.prefill or {}).get("values", {})
            records.append(
                {
                    **{k: ("" if v is None else v) for k, v in values.as_dict().items() if k in EXAM_COLUMNS},
                    "patient": code,
                    "eye": grade.eye.value,
                    "exam_date": exam.exam_date.isoformat() if exam.exam_date else "",
                    "pma_weeks": "" if exam.pma_weeks is None else exam.pma_weeks,
                    "grader": grader,
                    "submitted": "yes" if grade.submitted else "no",
                    "treatment_class": klass.klass.value,
                    "etrop": klass.etrop or "",
                    "class_reason": klass.reason,
                    "prefilled_stage": prefill.get("stage") or "",
                    "prefilled_zone": prefill.get("zone") or "",
                    "prefilled_plus": prefill.get("plus") or "",
                    "images": " ".join(names),
                }
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(EXAM_COLUMNS))
        writer.writeheader()
        writer.writerows(records)
    return len(records)


__all__ = [
    "Attention",
    "ExamError",
    "ExamGradeConflict",
    "ExamImage",
    "ExamInfo",
    "ExamKey",
    "ExamService",
    "ExamState",
    "ModelEyeSummary",
    "MyExamGrade",
    "Progression",
    "ReferenceEye",
    "TreatmentClass",
    "VisitRow",
    "attention_exams",
    "export_exam_grades_csv",
    "reference_eyes",
    "set_vote_level",
    "treatment_agreement",
    "treatment_report_section",
    "vote_level",
    "worklist_classes",
]
