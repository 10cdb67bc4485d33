"""The eyes that need attention, kept as the study changes (issue 18).

An eye needs attention when its latest visit that says something got worse than the visit
before (``domain.progression``) or is treatment-warranted. That is worked out per *basis*: one
grader's own work (their eye-level grade of a visit, else the roll-up of their image grades,
drafts included — what their progression view shows) or the reference standard (the eye-level
reference, else the roll-up of the images' references). Working it out for the whole study at
every click of the *Needs attention* filter would cost work in proportion to the study, so the
outcome is stored per eye and basis in ``eye_attention`` and read with one indexed statement
(:func:`attention_exams`, :func:`attention_rows`).

Kept by every writer without each having to remember it: a SQLAlchemy session listener notes
the patients whose grades, landmarks (the posterior-pole image, hence plus, depends on them),
eye-level grades, references, eye-level references, images or exams a flush touches, and before
the transaction commits works out those patients' eyes again — a handful of statements over
that patient's images, whatever the size of the study. Where the session may not read what the
reference is worked out from (a grader's connection on a shared PostgreSQL study, whose submit
settled a reference), the patient is marked in ``eye_attention_pending`` instead and worked
out by the next reader of that basis; so is every patient of a study migrated to this table.
*Recompute votes* rebuilds every row (:func:`rebuild_attention`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, event, insert, inspect, or_, select, text, union
from sqlalchemy.orm import Session

from rop_desktop.domain.etrop import ImageEvidence, roll_up
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye
from rop_desktop.domain.progression import Visit, eye_history, needs_attention
from rop_desktop.domain.zones import Landmarks
from rop_desktop.store import Study
from rop_desktop.store.schema import (
    Exam,
    ExamGrade,
    ExamReference,
    EyeAttention,
    EyeAttentionPending,
    Grade,
    Image,
    Landmark,
    Patient,
    Reference,
)

from .policy import Action, Actor, guarded, open_operation

_DIRTY = "rop_attention_dirty"
"""``Session.info`` key of what the flushes of the open transaction touched (:class:`_Dirty`)."""


@dataclass(frozen=True)
class AttentionRow:
    """One eye on the *Needs attention* list of one basis: its latest visit and why."""

    patient: str
    eye: Eye
    exam_id: int
    date: date | None
    reasons: tuple[str, ...]
    image_ids: tuple[int, ...]
    values: GradeValues


# ---------------------------------------------------------------------------- reading
def attention_exams(session: Session, actor: Actor) -> frozenset[tuple[int, Eye]]:
    """The latest visits (exam id, eye) of the eyes that need attention, as the worklist's *Needs
    attention* filter lists them: from the grader's own grades, or for adjudicators and admins
    from the reference standard. One indexed statement (the partial index of the eyes that need
    attention), after any patients marked pending for that basis are worked out."""
    basis = None if actor.elevated else actor.id
    _catch_up(session, basis)
    rows = session.execute(select(EyeAttention.exam_id, EyeAttention.eye).where(_basis(basis), _needs())).all()
    return frozenset((exam_id, eye) for exam_id, eye in rows)


def attention_rows(session: Session, grader_id: int | None) -> list[AttentionRow]:
    """The eyes that need attention from one basis (a grader's id; None: the reference standard),
    most recent first: two indexed statements (the eyes, the images of their latest visits)."""
    _catch_up(session, grader_id)
    found = session.execute(
        select(EyeAttention, Patient.code, Exam.exam_date)
        .join(Patient, Patient.id == EyeAttention.patient_id)
        .join(Exam, Exam.id == EyeAttention.exam_id)
        .where(_basis(grader_id), _needs())
    ).all()
    images: dict[tuple[int, Eye | None], list[int]] = defaultdict(list)
    exam_ids = sorted({row.exam_id for row, _, _ in found})
    if exam_ids:
        for image_id, exam_id, eye in session.execute(
            select(Image.id, Image.exam_id, Image.eye)
            .where(Image.exam_id.in_(exam_ids), Image.eye.is_not(None))
            .order_by(Image.id)
        ):
            images[(exam_id, eye)].append(image_id)
    out = [
        AttentionRow(
            code,
            row.eye,
            row.exam_id,
            when,
            tuple(row.reasons),
            tuple(images[(row.exam_id, row.eye)]),
            GradeValues.from_dict(row.grade),
        )
        for row, code, when in found
    ]
    out.sort(key=lambda a: (a.date is None, -(a.date.toordinal() if a.date else 0), a.patient, a.eye.value))
    return out


def _basis(grader_id: int | None) -> ColumnElement[bool]:
    return EyeAttention.grader_id.is_(None) if grader_id is None else EyeAttention.grader_id == grader_id


def _needs() -> ColumnElement[bool]:
    # rendered "needs = 1" on SQLite and "needs" on PostgreSQL: the partial index's own predicate
    return EyeAttention.needs.expression


def _catch_up(session: Session, grader_id: int | None) -> None:
    """Work out the patients marked pending for this basis (none, almost always: one statement)."""
    pending = (
        EyeAttentionPending.grader_id.is_(None) if grader_id is None else EyeAttentionPending.grader_id == grader_id
    )
    patients = set(session.scalars(select(EyeAttentionPending.patient_id).where(pending)))
    if not patients:
        return
    if grader_id is None:
        _recompute(session, patients, own=None, reference=True)
    else:
        _recompute(session, patients, own={grader_id}, reference=False)
    session.execute(delete(EyeAttentionPending).where(pending, EyeAttentionPending.patient_id.in_(sorted(patients))))


# ---------------------------------------------------------------------------- working it out
#: Patients worked out per transaction by a rebuild: a few thousand images' grades in memory at
#: once, and no single read long enough to stall the window's thread (the GIL) while it runs.
REBUILD_STEP = 500


@guarded(Action.REFERENCE_DECIDE)
def rebuild_attention(study: Study, actor: Actor) -> int:
    """Work out every eye of every basis again (what *Recompute votes* ends with); the number of
    eyes that need attention. Reads the whole study, in steps: not for a click."""
    needs = 0
    for count in rebuild_attention_steps(study):
        needs += count
    return needs


@open_operation(
    "the system works out the eyes again at the end of a whole-study recompute (itself guarded), "
    "from what the votes already settled; it shows nothing to the caller"
)
def rebuild_attention_steps(study: Study, step: int = REBUILD_STEP) -> Iterator[int]:
    """:func:`rebuild_attention` in steps of ``step`` patients, one transaction each (their rows
    replaced, their pending marks cleared); yields each step's number of eyes that need
    attention. Stopping between two steps leaves every patient's rows whole: done again, or as
    they were."""
    last = 0
    while True:
        with study.session() as session:
            ids = list(session.scalars(select(Patient.id).where(Patient.id > last).order_by(Patient.id).limit(step)))
            if not ids:
                return
            rows = _recompute(session, ids, own=None, reference=True)
            session.execute(delete(EyeAttentionPending).where(EyeAttentionPending.patient_id.in_(ids)))
        last = ids[-1]
        yield sum(1 for r in rows if r["needs"])


#: Which patients: their ids, a statement selecting them, or None for every patient.
_Patients = Collection[int] | Select[Any] | None


def _recompute(
    session: Session,
    patients: _Patients,
    *,
    own: Collection[int] | None,
    reference: bool,
) -> list[dict[str, Any]]:
    """Work out the eyes of ``patients`` (None: every patient) from the own work of the graders
    ``own`` (None: every grader) and, if ``reference``, from the reference standard, and store
    them in place of their rows: a fixed number of statements whatever the number of patients."""
    images = _images(session, patients)
    if not images:
        _delete(session, patients, own, reference)
        return []
    ids = [i.id for i in images]
    exam_ids = sorted({i.exam_id for i in images})
    landmark_rows = session.scalars(
        _where_graders(
            select(Landmark).where(Landmark.image_id.in_(ids)), Landmark.grader_id, None if reference else own
        ).order_by(Landmark.grader_id)
    )
    marks: dict[tuple[int, int], Landmarks] = {(m.image_id, m.grader_id): _landmarks(m) for m in landmark_rows}
    visits = _visits(images)
    rows: list[dict[str, Any]] = []
    if own is None or own:
        grades = session.scalars(_where_graders(select(Grade).where(Grade.image_id.in_(ids)), Grade.grader_id, own))
        eye_grades = session.scalars(
            _where_graders(select(ExamGrade).where(ExamGrade.exam_id.in_(exam_ids)), ExamGrade.grader_id, own)
        )
        rows += _own_rows(visits, list(grades), list(eye_grades), marks, own or ())
    if reference:
        refs = {r.image_id: r.values for r in session.scalars(select(Reference).where(Reference.image_id.in_(ids)))}
        eye_refs = {
            (r.exam_id, r.eye): r.values
            for r in session.scalars(select(ExamReference).where(ExamReference.exam_id.in_(exam_ids)))
        }
        first: dict[int, Landmarks] = {}
        for (image_id, _), lm in marks.items():  # ordered by grader: the first complete set of each image
            if lm.complete and image_id not in first:
                first[image_id] = lm
        rows += _reference_rows(visits, refs, eye_refs, first)
    _delete(session, patients, own, reference)
    if rows:
        session.execute(insert(EyeAttention), rows)
    return rows


def _delete(session: Session, patients: _Patients, own: Collection[int] | None, reference: bool) -> None:
    """Delete the rows of ``patients`` of these bases, in one statement."""
    bases = []
    if own is None or own:
        bases.append(EyeAttention.grader_id.is_not(None) if own is None else EyeAttention.grader_id.in_(sorted(own)))
    if reference:
        bases.append(EyeAttention.grader_id.is_(None))
    if bases:
        which = [] if patients is None else [_in(EyeAttention.patient_id, patients)]
        session.execute(delete(EyeAttention).where(or_(*bases), *which))


def _in(column: Any, patients: Collection[int] | Select[Any]) -> ColumnElement[bool]:
    return column.in_(patients if isinstance(patients, Select) else sorted(patients))


def _where_graders(stmt: Any, column: Any, graders: Collection[int] | None) -> Any:
    return stmt if graders is None else stmt.where(column.in_(sorted(graders)))


@dataclass(frozen=True)
class _Image:
    id: int
    exam_id: int
    eye: Eye
    name: str
    size: tuple[int, int]
    patient_id: int
    date: date | None


def _images(session: Session, patients: _Patients) -> list[_Image]:
    stmt = (
        select(
            Image.id,
            Image.exam_id,
            Image.eye,
            Image.original_name,
            Image.width,
            Image.height,
            Exam.patient_id,
            Exam.exam_date,
        )
        .join(Exam, Exam.id == Image.exam_id)
        .where(Image.eye.is_not(None))
        .order_by(Image.id)
    )
    if patients is not None:
        stmt = stmt.where(_in(Exam.patient_id, patients))
    # the statement selects images with an eye only
    return [_Image(r[0], r[1], r[2] or Eye.OD, r[3], (r[4], r[5]), r[6], r[7]) for r in session.execute(stmt)]


def _landmarks(row: Landmark) -> Landmarks:
    from .landmarks import landmarks_of  # landmarks builds on the policy, which this module is loaded with

    return landmarks_of(row)


#: (patient id, eye) → exam id → the visit's images (in import order) and date
_Visits = dict[tuple[int, Eye], dict[int, list[_Image]]]


def _visits(images: Iterable[_Image]) -> _Visits:
    visits: _Visits = defaultdict(lambda: defaultdict(list))
    for image in images:
        visits[(image.patient_id, image.eye)][image.exam_id].append(image)
    return visits


def _own_rows(
    visits: _Visits,
    grades: list[Grade],
    eye_grades: list[ExamGrade],
    marks: dict[tuple[int, int], Landmarks],
    graders: Collection[int],
) -> list[dict[str, Any]]:
    """As ``services.exams`` shows a grader's visits: their eye-level grade where it says
    something, else the roll-up of their image grades; visits they did not grade are left out."""
    by_grader: dict[int, dict[int, Grade]] = defaultdict(dict)
    for g in grades:
        by_grader[g.grader_id][g.image_id] = g
    eye_by_grader: dict[int, dict[tuple[int, Eye], GradeValues]] = defaultdict(dict)
    for e in eye_grades:
        if e.values != GradeValues():
            eye_by_grader[e.grader_id][(e.exam_id, e.eye)] = e.values
    rows = []
    for grader_id in sorted(set(by_grader) | set(eye_by_grader) | set(graders)):  # those asked for: a row each
        mine, eyes = by_grader[grader_id], eye_by_grader[grader_id]
        for (patient_id, eye), exams in visits.items():
            seen = []
            for exam_id, images in exams.items():
                values = eyes.get((exam_id, eye))
                if values is None:
                    evidence = [
                        ImageEvidence(
                            i.name, mine[i.id].values, marks.get((i.id, grader_id)), (), i.size, mine[i.id].submitted
                        )
                        for i in images
                        if i.id in mine
                    ]
                    if not evidence:
                        continue
                    values = roll_up(evidence).values
                seen.append(Visit(exam_id, eye, images[0].date, values))
            rows += _row(patient_id, eye, grader_id, seen, exams)
    return rows


def _reference_rows(
    visits: _Visits,
    refs: dict[int, GradeValues],
    eye_refs: dict[tuple[int, Eye], GradeValues],
    marks: dict[int, Landmarks],
) -> list[dict[str, Any]]:
    """As ``services.exams`` shows the reference's visits: the eye-level reference, else the
    roll-up of the images' references (landmarks: the first complete set of each image)."""
    rows = []
    for (patient_id, eye), exams in visits.items():
        seen = []
        for exam_id, images in exams.items():
            values = eye_refs.get((exam_id, eye))
            if values is None:
                evidence = [
                    ImageEvidence(i.name, refs[i.id], marks.get(i.id), (), i.size) for i in images if i.id in refs
                ]
                values = roll_up(evidence).values if evidence else GradeValues()
            seen.append(Visit(exam_id, eye, images[0].date, values))
        rows += _row(patient_id, eye, None, seen, exams)
    return rows


def _row(
    patient_id: int, eye: Eye, grader_id: int | None, visits: list[Visit], exams: dict[int, list[_Image]]
) -> list[dict[str, Any]]:
    """The stored row of one eye from one basis: every eye with images has one, so that keeping it
    writes the same statements whatever was graded (an eye no visit says anything about yet
    points at its latest visit, needing nothing)."""
    history = eye_history(visits)
    known = [h.visit for h in history if h.visit.values != GradeValues()]
    reasons = needs_attention(history)
    if known:
        exam_id, values = known[-1].exam_id, known[-1].values
    else:
        exam_id = max(
            exams, key=lambda e: (exams[e][0].date is None, exams[e][0].date or date.min, e)
        )  # eye_history's order
        values = GradeValues()
    return [
        {
            "patient_id": patient_id,
            "eye": eye,
            "grader_id": grader_id,
            "exam_id": exam_id,
            "needs": bool(reasons),
            "reasons": list(reasons),
            "grade": values.as_dict(),
        }
    ]


# ---------------------------------------------------------------------------- kept by every writer
@dataclass
class _Dirty:
    """What the flushes of one transaction touched: image and exam ids by basis, and patients
    whose images or exams themselves changed (every basis)."""

    own_images: set[tuple[int, int]]
    ref_images: set[int]
    own_exams: set[tuple[int, int]]
    ref_exams: set[int]
    all_exams: set[int]
    all_patients: set[int]

    def __bool__(self) -> bool:
        return any(vars(self).values())


def _dirty(session: Session) -> _Dirty:
    found = session.info.get(_DIRTY)
    if found is None:
        found = session.info[_DIRTY] = _Dirty(set(), set(), set(), set(), set(), set())
    return found


def _changed(obj: Any, *names: str) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


@event.listens_for(Session, "before_flush")
def _note(session: Session, _context: Any, _instances: Any) -> None:
    """Note what this flush changes that an eye's attention is worked out from."""
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Grade):
            _dirty(session).own_images.add((obj.image_id, obj.grader_id))
        elif isinstance(obj, Landmark):  # the grader's roll-up, and the reference's pole image
            _dirty(session).own_images.add((obj.image_id, obj.grader_id))
            _dirty(session).ref_images.add(obj.image_id)
        elif isinstance(obj, Reference):
            _dirty(session).ref_images.add(obj.image_id)
        elif isinstance(obj, ExamGrade):
            _dirty(session).own_exams.add((obj.exam_id, obj.grader_id))
        elif isinstance(obj, ExamReference):
            _dirty(session).ref_exams.add(obj.exam_id)
        elif (
            isinstance(obj, Image)
            and obj not in session.new
            and (obj in session.deleted or _changed(obj, "eye", "exam_id"))
        ):
            before = inspect(obj).attrs["exam_id"].history.deleted
            _dirty(session).all_exams.update(x for x in (obj.exam_id, *before) if x is not None)
        elif (
            isinstance(obj, Exam)
            and obj not in session.new
            and (obj in session.deleted or _changed(obj, "exam_date", "patient_id"))
        ):
            before = inspect(obj).attrs["patient_id"].history.deleted
            _dirty(session).all_patients.update(p for p in (obj.patient_id, *before) if p is not None)


@event.listens_for(Session, "before_commit")
def _keep(session: Session) -> None:
    """Work out again, in the committing transaction, the eyes of the patients it touched: one
    pass over those patients' images (a fixed handful of statements), the patients found through
    the ids the flushes noted."""
    dirty = session.info.pop(_DIRTY, None)
    if not dirty:
        return
    session.flush()  # what is still pending is noted too (and noted again by the next flush)
    more = session.info.pop(_DIRTY, None)
    if more:
        for name, items in vars(more).items():
            getattr(dirty, name).update(items)
    structural = bool(dirty.all_exams or dirty.all_patients)
    own: set[int] | None = None if structural else {g for _, g in dirty.own_images | dirty.own_exams}
    reference = structural or bool(dirty.ref_images or dirty.ref_exams)
    readable = not reference or _may_read_reference(session)
    found = _recompute(session, _patients_of(dirty), own=own, reference=reference and readable)
    if not readable:  # the reference rows of these patients: worked out by the next reviewer reading them
        patients = sorted({row["patient_id"] for row in found} | _noted_patients(session, dirty))
        # plain SQL: no RETURNING of the new ids, which row-level security would refuse a grader
        mark = text("INSERT INTO eye_attention_pending (patient_id, grader_id) VALUES (:patient_id, NULL)")
        session.execute(mark, [{"patient_id": p} for p in patients])
    session.info.pop(_DIRTY, None)  # the rows written here change nothing they are worked out from


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_DIRTY, None)


def _patients_of(dirty: _Dirty) -> Select[Any]:
    """A statement selecting the patients of what ``dirty`` names (read as part of the pass)."""
    images = sorted({i for i, _ in dirty.own_images} | dirty.ref_images)
    exams = sorted({e for e, _ in dirty.own_exams} | dirty.ref_exams | dirty.all_exams)
    parts: list[Select[Any]] = [select(Patient.id).where(Patient.id.in_(sorted(dirty.all_patients)))]
    if images:
        parts.append(select(Exam.patient_id).join(Image, Image.exam_id == Exam.id).where(Image.id.in_(images)))
    if exams:
        parts.append(select(Exam.patient_id).where(Exam.id.in_(exams)))
    return select(union(*parts).subquery().c[0]) if len(parts) > 1 else parts[0]


def _noted_patients(session: Session, dirty: _Dirty) -> set[int]:
    return set(session.scalars(_patients_of(dirty)))


def _may_read_reference(session: Session) -> bool:
    """Whether this connection reads everything the reference is worked out from: always on
    SQLite; on PostgreSQL the study's owner and adjudicators and admins (row-level security
    shows a grader only what they may see, migration 0004)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT NOT row_security_active('reference_standard') OR rop_is_reviewer()")))


__all__ = ["AttentionRow", "attention_exams", "attention_rows", "rebuild_attention", "rebuild_attention_steps"]
