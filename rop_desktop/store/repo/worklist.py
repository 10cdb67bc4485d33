"""The worklist and next-to-do as indexed queries over one page (issue 15: a click costs the same
at 100 and at 100,000 images).

Every function here is one SQL statement (or a fixed handful) that reads the rows of one page
and walks the B-tree indexes of migration ``0005`` to reach them; nothing loads the study into
Python and nothing stats a file. Plain SQLAlchemy Core, the same on SQLite and PostgreSQL.

A list is a :class:`ListFilter` (whose work: one grader's; which images: status, patient code
prefix, camera) in one of :data:`SORTS`. The default order, ``"order"``, is the images' import
order (their ids) — the order "next to do" follows. Each other sort breaks its ties in index
order (exam, then image), so that a page is read in index order and never sorted whole; the
exceptions are the model-score sorts (a sort of the whole list in the database: the score a
grader may see depends on what they submitted, which no index holds).

NULL values (no eye, no exam date, no score) sort where the database's indexes keep them:
first in an ascending list on SQLite, last on PostgreSQL; :func:`position` follows the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    case,
    exists,
    false,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session, aliased

from ..schema import Exam, Grade, Image, Patient, Prediction
from .ml import payload_numbers

TODO, DRAFT, SUBMITTED = "todo", "draft", "submitted"
STATUSES = (TODO, DRAFT, SUBMITTED)
#: The sort keys of a list: import order, a column, this grader's status, a model score.
SORTS = ("order", "patient", "eye", "exam_date", "camera", "file", "status", "probability", "uncertainty")
SCORE_SORTS = ("probability", "uncertainty")
#: A code prefix that matches more patients than this (a one-letter prefix of a 25,000-patient
#: study) filters by walking the images in list order and checking each one's patient; a narrower
#: one reads its patients' images through the exams (see :func:`_where`).
BROAD_PREFIX = 2000
_HIGHEST = "\U0010ffff"


@dataclass(frozen=True)
class ListFilter:
    """Which images a list holds, seen by one grader.

    ``status``: None (every image), ``"todo"`` (not submitted by the grader: never graded or a
    draft), ``"draft"`` or ``"submitted"``. ``patient``: a prefix of the pseudonymous patient
    code (as typed, or in capitals). ``camera``: exactly that camera.
    """

    grader_id: int
    status: str | None = None
    patient: str | None = None
    camera: str | None = None
    #: Set by the queries themselves (:func:`_resolved`): the prefix matches many patients.
    broad_prefix: bool = False
    #: Only the images of these eyes at these visits ((exam id, eye) pairs; the *Needs attention*
    #: filter, ``services.exams.attention_exams``): the exams' images through ``ix_images_exam_id``.
    exams: frozenset[tuple[int, Any]] | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {', '.join(STATUSES)}")
        object.__setattr__(self, "patient", (self.patient or "").strip() or None)


@dataclass(frozen=True)
class Scores:
    """The model scores a list shows: one model version's, and for whom.

    ``submitted_only``: a blinded grader sees (and sorts by) the score of an image only once
    they have submitted it; everyone else sees every score.
    """

    version_id: int
    submitted_only: bool = False


@dataclass(frozen=True)
class PageRow:
    """One worklist row as the database holds it (the service adds paths and names)."""

    image_id: int
    original_name: str
    sha256: str
    eye: Any  # domain.labels.Eye or None
    width: int
    height: int
    patient: str
    exam_date: Any
    camera: str | None
    site: str | None
    status: str
    probability: float | None = None
    uncertainty: float | None = None


# ---------------------------------------------------------------------------- filters
def _submitted(flag: bool) -> ColumnElement[bool]:
    """``grades.submitted = <flag>``: an equality, which both databases' indexes serve (``IS TRUE``
    is not indexable on PostgreSQL)."""
    return Grade.submitted == flag


def _graded(grader_id: int, submitted: bool | None) -> ColumnElement[bool]:
    """EXISTS a grade of this grader for the outer image (submitted or not, or any)."""
    clause = exists().where(Grade.image_id == Image.id, Grade.grader_id == grader_id)
    if submitted is not None:
        clause = clause.where(_submitted(submitted))
    return clause


def _status_clause(grader_id: int, status: str | None) -> ColumnElement[bool]:
    if status == TODO:
        return ~_graded(grader_id, True)
    if status == DRAFT:
        return _graded(grader_id, False)
    if status == SUBMITTED:
        return _graded(grader_id, True)
    return true()


def _prefix_ranges(prefix: str) -> list[tuple[str, str]]:
    """Index ranges of the codes that start with ``prefix`` as typed or in capitals."""
    return [(p, p + _HIGHEST) for p in dict.fromkeys((prefix, prefix.upper()))]


def _code_starts(prefix: str, code: Any = Patient.code) -> ColumnElement[bool]:
    return or_(*[and_(code >= low, code < high) for low, high in _prefix_ranges(prefix)])


def patient_ids(prefix: str) -> Select[int]:
    """The patients whose code starts with ``prefix`` (an index range of ``patients.code``)."""
    return select(Patient.id).where(_code_starts(prefix))


def _resolved(session: Session, f: ListFilter) -> ListFilter:
    """The filter with ``broad_prefix`` known: does the code prefix match many patients? (An index
    range count that stops past :data:`BROAD_PREFIX`.)"""
    if f.patient is None:
        return f
    matches = (
        session.scalar(select(func.count()).select_from(patient_ids(f.patient).limit(BROAD_PREFIX + 1).subquery())) or 0
    )
    return replace(f, broad_prefix=matches > BROAD_PREFIX)


def _where(f: ListFilter, *, status: bool = True) -> list[ColumnElement[bool]]:
    """The filter's conditions on ``images`` (the patient and camera through the exam).

    A narrow patient prefix reads its few patients' exams and their images (``images.exam_id IN``
    …); a broad one (:data:`BROAD_PREFIX`) is checked image by image while the list is walked in
    its order, which finds a page of matches after a few more rows than the page."""
    conditions: list[ColumnElement[bool]] = []
    if status and f.status is not None:
        conditions.append(_status_clause(f.grader_id, f.status))
    if f.exams is not None:
        conditions.append(_exams_clause(f.exams))
    if f.patient is not None and f.broad_prefix:
        exam, patient = aliased(Exam), aliased(Patient)  # not the list's own joins (sorted by patient)
        conditions.append(
            exists().where(
                exam.id == Image.exam_id, patient.id == exam.patient_id, _code_starts(f.patient, patient.code)
            )
        )
    if (f.patient is not None and not f.broad_prefix) or f.camera is not None:
        exams = select(Exam.id)
        if f.patient is not None and not f.broad_prefix:
            exams = exams.where(Exam.patient_id.in_(patient_ids(f.patient).scalar_subquery()))
        if f.camera is not None:
            exams = exams.where(Exam.camera == f.camera)
        conditions.append(Image.exam_id.in_(exams.scalar_subquery()))
    return conditions


def _exams_clause(exams: frozenset[tuple[int, Any]]) -> ColumnElement[bool]:
    """The images of these (exam id, eye) pairs: exams whose both eyes are listed by exam id
    alone, the others by exam id and eye — ``images.exam_id IN`` lists, an index range each."""
    eyes: dict[int, set[Any]] = {}
    for exam_id, eye in exams:
        eyes.setdefault(exam_id, set()).add(eye)
    whole = sorted(e for e, which in eyes.items() if len(which) > 1)
    parts: list[ColumnElement[bool]] = [Image.exam_id.in_(whole)] if whole else []
    for eye in sorted({next(iter(w)) for w in eyes.values() if len(w) == 1}, key=str):
        ids = sorted(e for e, which in eyes.items() if which == {eye})
        parts.append(and_(Image.exam_id.in_(ids), Image.eye == eye))
    return or_(*parts) if parts else false()


# ---------------------------------------------------------------------------- orders
@dataclass(frozen=True)
class _Term:
    column: Any
    nullable: bool


def _terms(sort: str, grader_id: int, scores: Scores | None) -> tuple[list[_Term], set[str]]:
    """The ORDER BY terms of a sort (ties broken in index order) and the tables it joins."""
    image_id = _Term(Image.id, False)
    exam_then_image = [_Term(Exam.id, False), image_id]
    if sort == "patient":
        return [_Term(Patient.code, False), *exam_then_image], {"exam", "patient"}
    if sort == "eye":
        return [_Term(Image.eye, True), image_id], set()
    if sort == "exam_date":
        return [_Term(Exam.exam_date, True), *exam_then_image], {"exam"}
    if sort == "camera":
        return [_Term(Exam.camera, True), *exam_then_image], {"exam"}
    if sort == "file":
        return [_Term(Image.original_name, False), image_id], set()
    if sort in SCORE_SORTS and scores is not None:
        column: SQLColumnExpression[float | None] = (
            Prediction.probability if sort == "probability" else Prediction.uncertainty
        )
        if scores.submitted_only:  # a hidden score sorts as no score: the order reveals nothing
            column = case((_graded(grader_id, True), column), else_=None)
        return [_Term(column, True), image_id], {"score"}
    return [image_id], set()


def _base(joins: set[str], scores: Scores | None, *columns: Any) -> Select[Any]:
    stmt = select(*columns).select_from(Image)
    if joins & {"exam", "patient"}:
        stmt = stmt.join(Exam, Exam.id == Image.exam_id)
    if "patient" in joins:
        stmt = stmt.join(Patient, Patient.id == Exam.patient_id)
    if "score" in joins and scores is not None:
        stmt = stmt.outerjoin(
            Prediction, and_(Prediction.image_id == Image.id, Prediction.model_version_id == scores.version_id)
        )
    return stmt


def _order(terms: Sequence[_Term], descending: bool) -> list[Any]:
    return [t.column.desc() if descending else t.column.asc() for t in terms]


# ---------------------------------------------------------------------------- pages
def count(session: Session, f: ListFilter) -> int:
    """How many images the list holds: index-only counts (the to-do list is every image less the
    submitted ones), never a walk over the images unless a camera narrows the list."""
    return counts(session, f)[0]


def counts(session: Session, f: ListFilter, totals: GraderTotals | None = None) -> tuple[int, int]:
    """(images the list holds, images of its patient / camera filter the grader submitted).

    ``totals`` (the grader's :func:`grader_totals`, read anyway for the footer) answers an
    unfiltered list without counting again: index-only counts still walk an index of the whole
    study, so each one saved is a few milliseconds at 100,000 images."""
    f = _resolved(session, f)
    if totals is not None and f.patient is None and f.camera is None and f.exams is None:
        if f.status in (None, TODO, SUBMITTED):
            held = {None: totals.images, TODO: totals.todo, SUBMITTED: totals.submitted}[f.status]
            return held, totals.submitted
        if f.status == DRAFT:
            return totals.drafts, totals.submitted
    submitted = _count(session, replace(f, status=SUBMITTED))
    if f.status == TODO:
        return _count(session, replace(f, status=None)) - submitted, submitted
    if f.status == SUBMITTED:
        return submitted, submitted
    return _count(session, f), submitted


@dataclass(frozen=True)
class GraderTotals:
    """One grader's work in the whole study, whatever list the window shows.

    ``todo`` counts every image not submitted (drafts included, as the "To do for me" list);
    ``drafts`` those of them the grader has started."""

    images: int
    drafts: int
    submitted: int

    @property
    def todo(self) -> int:
        return max(0, self.images - self.submitted)


def grader_totals(session: Session, grader_id: int) -> GraderTotals:
    """The grader's totals for the study in ONE statement: three index-only counts (the images'
    primary key, and the grader's own ``(grader_id, submitted, image_id)`` index twice) as scalar
    subqueries, so the footer costs the same statement at 100 and at 100,000 images."""

    def mine(submitted: bool) -> Any:
        return (
            select(func.count())
            .select_from(Grade)
            .where(Grade.grader_id == grader_id, _submitted(submitted))
            .scalar_subquery()
        )

    images = select(func.count()).select_from(Image).scalar_subquery()
    total, drafts, submitted = session.execute(select(images, mine(False), mine(True))).one()
    return GraderTotals(int(total or 0), int(drafts or 0), int(submitted or 0))


def _count(session: Session, f: ListFilter) -> int:
    if f.patient is None and f.camera is None and f.exams is None:
        if f.status is None:
            return int(session.scalar(select(func.count()).select_from(Image)) or 0)
        if f.status in (DRAFT, SUBMITTED):
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(Grade)
                    .where(Grade.grader_id == f.grader_id, _submitted(f.status == SUBMITTED))
                )
                or 0
            )
    return int(session.scalar(select(func.count()).select_from(Image).where(*_where(f))) or 0)


def page_ids(
    session: Session,
    f: ListFilter,
    sort: str = "order",
    *,
    descending: bool = False,
    offset: int = 0,
    limit: int | None = None,
    scores: Scores | None = None,
) -> list[int]:
    """The image ids of one page of the list, in list order."""
    _check_sort(sort)
    f = _resolved(session, f)
    if sort == "status":
        return _status_page(session, f, descending, offset, limit)
    if f.status in (DRAFT, SUBMITTED) and sort == "order":
        return _graded_page(session, f, f.status == SUBMITTED, descending, offset, limit)
    terms, joins = _terms(sort, f.grader_id, scores)
    stmt = (
        _base(joins, scores, Image.id)
        .where(*_where(f))
        .order_by(*_order(terms, descending))
        .offset(offset or None)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def _graded_page(
    session: Session, f: ListFilter, submitted: bool, descending: bool, offset: int, limit: int | None
) -> list[int]:
    """Drafts or submitted images in import order, walked on the grader's own index."""
    stmt = (
        select(Grade.image_id)
        .join(Image, Image.id == Grade.image_id)
        .where(Grade.grader_id == f.grader_id, _submitted(submitted), *_where(f, status=False))
        .order_by(Grade.image_id.desc() if descending else Grade.image_id.asc())
        .offset(offset or None)
        .limit(limit)
    )
    return list(session.scalars(stmt))


# ---------------------------------------------------------------------------- sorted by status
#: The segments of the status sort, first to last: never graded, drafts, submitted.
_SEGMENTS = ("new", DRAFT, SUBMITTED)


def _segments(f: ListFilter, descending: bool) -> list[str]:
    allowed = {None: _SEGMENTS, TODO: ("new", DRAFT), DRAFT: (DRAFT,), SUBMITTED: (SUBMITTED,)}[f.status]
    return list(reversed(allowed)) if descending else list(allowed)


def _segment_filter(f: ListFilter, segment: str) -> ColumnElement[bool]:
    if segment == "new":
        return ~_graded(f.grader_id, None)
    return _graded(f.grader_id, segment == SUBMITTED)


def _segment_count(session: Session, f: ListFilter, segment: str) -> int:
    if segment == "new":  # every image less the graded ones (drafts and submitted)
        everyone = replace(f, status=None)
        return (
            _count(session, everyone)
            - _count(session, replace(f, status=DRAFT))
            - _count(session, replace(f, status=SUBMITTED))
        )
    return _count(session, replace(f, status=segment))


def _segment_ids(
    session: Session, f: ListFilter, segment: str, descending: bool, offset: int, limit: int | None
) -> list[int]:
    if segment != "new":
        return _graded_page(session, f, segment == SUBMITTED, descending, offset, limit)
    stmt = (
        select(Image.id)
        .where(_segment_filter(f, segment), *_where(f, status=False))
        .order_by(Image.id.desc() if descending else Image.id.asc())
        .offset(offset or None)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def _status_page(session: Session, f: ListFilter, descending: bool, offset: int, limit: int | None) -> list[int]:
    out: list[int] = []
    for segment in _segments(f, descending):
        size = _segment_count(session, f, segment)
        if offset >= size:
            offset -= size
            continue
        want = None if limit is None else limit - len(out)
        out += _segment_ids(session, f, segment, descending, offset, want)
        offset = 0
        if limit is not None and len(out) >= limit:
            break
    return out


# ---------------------------------------------------------------------------- rows of a page
def page_rows(
    session: Session, grader_id: int, image_ids: Sequence[int], scores: Scores | None = None
) -> list[PageRow]:
    """The worklist rows of ``image_ids`` (one page), in that order: one query by primary keys."""
    if not image_ids:
        return []
    mine = (
        select(Grade.image_id, Grade.submitted)
        .where(Grade.grader_id == grader_id, Grade.image_id.in_(list(image_ids)))
        .subquery()
    )
    columns: list[Any] = [
        Image.id,
        Image.original_name,
        Image.sha256,
        Image.eye,
        Image.width,
        Image.height,
        Patient.code,
        Exam.exam_date,
        Exam.camera,
        Exam.site,
        mine.c.submitted,
    ]
    stmt = (
        select(*columns)
        .select_from(Image)
        .join(Exam, Exam.id == Image.exam_id)
        .join(Patient, Patient.id == Exam.patient_id)
        .outerjoin(mine, mine.c.image_id == Image.id)
        .where(Image.id.in_(list(image_ids)))
    )
    scored: dict[int, tuple[float | None, float | None]] = {}
    if scores is not None:
        query = select(Prediction.image_id, Prediction.probability, Prediction.uncertainty, Prediction.payload).where(
            Prediction.model_version_id == scores.version_id, Prediction.image_id.in_(list(image_ids))
        )
        for i, p, u, payload in session.execute(query):
            if p is None and u is None:  # a row without its numbers in columns: from its payload
                numbers = payload_numbers(payload)
                p, u = numbers["probability"], numbers["uncertainty"]
            scored[i] = (p, u)
    by_id = {}
    for image_id, name, sha, eye, width, height, code, exam_date, camera, site, submitted in session.execute(stmt):
        status = TODO if submitted is None else (SUBMITTED if submitted else DRAFT)
        probability, uncertainty = scored.get(image_id, (None, None))
        if scores is not None and scores.submitted_only and status != SUBMITTED:
            probability = uncertainty = None
        by_id[image_id] = PageRow(
            image_id, name, sha, eye, width, height, code, exam_date, camera, site, status, probability, uncertainty
        )
    return [by_id[i] for i in image_ids if i in by_id]


# ---------------------------------------------------------------------------- where an image is
def position(
    session: Session,
    f: ListFilter,
    image_id: int,
    sort: str = "order",
    *,
    descending: bool = False,
    scores: Scores | None = None,
) -> int | None:
    """The row of ``image_id`` in the list (0-based), or None when the list does not hold it.

    A count of the rows before it (an index walk up to the image, like the page that holds it)."""
    _check_sort(sort)
    f = _resolved(session, f)
    if not session.scalar(select(true()).select_from(Image).where(Image.id == image_id, *_where(f))):
        return None
    if sort == "status":
        return _status_position(session, f, image_id, descending)
    terms, joins = _terms(sort, f.grader_id, scores)
    values = session.execute(_base(joins, scores, *[t.column for t in terms]).where(Image.id == image_id)).one()
    before = _before(terms, list(values), descending, nulls_low=session.get_bind().dialect.name == "sqlite")
    if sort == "order" and f.status == TODO and f.patient is None and f.camera is None and f.exams is None:
        # every image before it less the submitted ones: two index-only counts
        images = session.scalar(select(func.count()).select_from(Image).where(before)) or 0
        done = (
            session.scalar(
                select(func.count())
                .select_from(Grade)
                .where(
                    Grade.grader_id == f.grader_id,
                    _submitted(True),
                    (Grade.image_id > image_id) if descending else (Grade.image_id < image_id),
                )
            )
            or 0
        )
        return int(images) - int(done)
    stmt = _base(joins, scores, func.count()).where(*_where(f), before)
    return int(session.scalar(stmt) or 0)


def _status_position(session: Session, f: ListFilter, image_id: int, descending: bool) -> int:
    offset = 0
    for segment in _segments(f, descending):
        inside = session.scalar(
            select(true()).select_from(Image).where(Image.id == image_id, _segment_filter(f, segment))
        )
        if not inside:
            offset += _segment_count(session, f, segment)
            continue
        earlier = (Image.id > image_id) if descending else (Image.id < image_id)
        stmt = (
            select(func.count())
            .select_from(Image)
            .where(_segment_filter(f, segment), earlier, *_where(f, status=False))
        )
        return offset + int(session.scalar(stmt) or 0)
    return offset


def _before(terms: Sequence[_Term], values: Sequence[Any], descending: bool, *, nulls_low: bool) -> Any:
    """Rows that come before the row whose sort values are ``values`` (lexicographic, NULL-aware)."""
    term, value = terms[0], values[0]
    # ascending on SQLite (and descending on PostgreSQL), NULL comes first
    null_first = nulls_low != descending
    if value is None:
        same: Any = term.column.is_(None)
        earlier: Any = false() if null_first else term.column.is_not(None)
    else:
        same = term.column == value
        earlier = (term.column > value) if descending else (term.column < value)
        if term.nullable and null_first:
            earlier = or_(earlier, term.column.is_(None))
    if len(terms) == 1:
        return earlier
    return or_(earlier, and_(same, _before(terms[1:], values[1:], descending, nulls_low=nulls_low)))


def _check_sort(sort: str) -> None:
    if sort not in SORTS:
        raise ValueError(f"sort {sort!r} is not one of {', '.join(SORTS)}")


# ---------------------------------------------------------------------------- next to do
def next_not_submitted(session: Session, grader_id: int, after: int | None = None) -> int | None:
    """The first image (in import order) after ``after`` the grader has not submitted; wrapping
    around to the start (never ``after`` itself); None when every image is submitted.

    A grader works through the list: the next image to do is almost always among the next few,
    found by a walk of at most :data:`NEXT_WINDOW` index entries. Otherwise two index-only counts
    answer "nothing left" before a longer walk (from ``after`` to the end, then from the start)."""
    todo = ~_graded(grader_id, True)
    if after is not None:
        near = session.scalar(
            select(Image.id).where(Image.id > after, Image.id <= after + NEXT_WINDOW, todo).order_by(Image.id).limit(1)
        )
        if near is not None:
            return int(near)
    if _count(session, ListFilter(grader_id)) - _count(session, ListFilter(grader_id, SUBMITTED)) <= 0:
        return None
    if after is not None:
        later = session.scalar(select(Image.id).where(Image.id > after + NEXT_WINDOW, todo).order_by(Image.id).limit(1))
        if later is not None:
            return int(later)
    first = select(Image.id).where(todo).order_by(Image.id).limit(1)
    if after is not None:
        first = first.where(Image.id != after)
    found = session.scalar(first)
    return int(found) if found is not None else None


#: How far past the current image "next to do" looks before it counts what is left.
NEXT_WINDOW = 256


# ---------------------------------------------------------------------------- the query planner
#: Below this many images every plan is fast: no statistics are gathered.
STATISTICS_FROM = 2000


def refresh_planner_statistics(session: Session) -> bool:
    """SQLite: gather the query planner's statistics (a sampled ``ANALYZE``) when it has none or
    the study has more than doubled since; True when gathered.

    Without them SQLite cannot tell a 100,000-image table from a 25,000-patient one and may sort
    a whole list to show its first page (the worklist sorted by patient). A sample of at most
    1,000 rows per index takes tens of milliseconds. PostgreSQL keeps its own (autovacuum)."""
    if session.get_bind().dialect.name != "sqlite":
        return False
    images = int(session.scalar(select(func.count()).select_from(Image)) or 0)
    if images < STATISTICS_FROM:
        return False
    known = 0
    if session.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")).first():
        stat = session.scalar(text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'images' AND idx = 'ix_images_exam_id'"))
        known = int(str(stat).split()[0]) if stat else 0
    if known and images <= 2 * known:
        return False
    session.execute(text("PRAGMA analysis_limit = 1000"))
    session.execute(text("ANALYZE"))
    session.execute(text("PRAGMA analysis_limit = 0"))
    return True
