"""The adjudication queue and the votes of a page of images, as indexed queries (issue 15).

An image the votes settled has a reference row; one an adjudicator decided has one too. So an
image *without* a reference row is unsettled, and its number of submitted votes says why: fewer
than the quorum — too few votes; as many or more — the votes disagree (it needs an adjudicator).
That holds because the reference is kept in step with the votes: every submit and amendment
settles its image, and a change of the vote rules recomputes the study
(``services.reference``). Each query walks the images in id order and stops at the page's end;
per image it probes ``reference_standard (image_id)`` and counts ``grades (image_id, submitted)``
inside one index entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from rop_desktop.domain.grades import GRADE_FIELDS, GradeValues

from ..models import Exam, Grade, Grader, Image, Patient, Reference


def submitted_vote_count() -> Any:
    """The number of submitted votes of the outer image (a correlated index-only count)."""
    submitted = Grade.submitted == True  # noqa: E712 - an equality the index serves (IS TRUE is not, on PostgreSQL)
    return (select(func.count()).select_from(Grade).where(Grade.image_id == Image.id, submitted)
            .correlate(Image).scalar_subquery())


def _unsettled(quorum: int, enough_votes: bool) -> list[ColumnElement[bool]]:
    votes = submitted_vote_count()
    return [~exists().where(Reference.image_id == Image.id), votes >= quorum if enough_votes else votes < quorum]


def unsettled_ids(session: Session, quorum: int, *, enough_votes: bool, after: int | None = None,
                  limit: int | None = None) -> list[int]:
    """Images without a reference, in id order after ``after``: with at least ``quorum`` submitted
    votes (``enough_votes``: the votes disagree) or fewer (too few votes)."""
    stmt = select(Image.id).where(*_unsettled(quorum, enough_votes)).order_by(Image.id).limit(limit)
    if after is not None:
        stmt = stmt.where(Image.id > after)
    return list(session.scalars(stmt))


def count_unsettled(session: Session, quorum: int, *, enough_votes: bool) -> int:
    """How many images :func:`unsettled_ids` would list: a walk over every image's index entries
    (run it off the UI thread on a large study)."""
    return int(session.scalar(select(func.count()).select_from(Image).where(*_unsettled(quorum, enough_votes))) or 0)


@dataclass(frozen=True)
class ImageHeader:
    """What a queue row names of its image."""

    image_id: int
    original_name: str
    patient: str
    eye: Any  # domain.labels.Eye or None
    hospital_diagnosis: str | None


def image_headers(session: Session, image_ids: Sequence[int]) -> dict[int, ImageHeader]:
    """The headers of a page of images, by id (one query by primary keys)."""
    if not image_ids:
        return {}
    stmt = (select(Image.id, Image.original_name, Patient.code, Image.eye, Image.hospital_diagnosis)
            .join(Exam, Exam.id == Image.exam_id).join(Patient, Patient.id == Exam.patient_id)
            .where(Image.id.in_(list(image_ids))))
    return {row[0]: ImageHeader(*row) for row in session.execute(stmt)}


def submitted_votes(session: Session, image_ids: Sequence[int] | None = None
                    ) -> dict[int, dict[str, tuple[int, GradeValues]]]:
    """image id → grader name → (grader id, submitted grade), graders by name; one query that
    reads the grade columns (no ORM objects: a recompute reads the whole study through this)."""
    fields = [getattr(Grade, name) for name in GRADE_FIELDS]
    stmt = (select(Grade.image_id, Grade.grader_id, Grader.name, *fields).join(Grader, Grader.id == Grade.grader_id)
            .where(Grade.submitted == True).order_by(Grade.image_id, Grader.name))  # noqa: E712
    if image_ids is not None:
        stmt = stmt.where(Grade.image_id.in_(list(image_ids)))
    out: dict[int, dict[str, tuple[int, GradeValues]]] = {}
    for image_id, grader_id, name, *values in session.execute(stmt):
        out.setdefault(image_id, {})[name] = (grader_id, GradeValues(**dict(zip(GRADE_FIELDS, values))))
    return out


def image_batch(session: Session, after: int, size: int) -> list[tuple[int, str | None]]:
    """(id, hospital diagnosis) of the next ``size`` images after ``after``: a keyset page, for
    walking the whole study in steps (a recompute)."""
    stmt = select(Image.id, Image.hospital_diagnosis).where(Image.id > after).order_by(Image.id).limit(size)
    return [(int(i), h) for i, h in session.execute(stmt)]


def hospital_diagnoses(session: Session, image_ids: Sequence[int]) -> list[tuple[int, str | None]]:
    """(id, hospital diagnosis) of these images, in id order."""
    stmt = select(Image.id, Image.hospital_diagnosis).where(Image.id.in_(list(image_ids))).order_by(Image.id)
    return [(int(i), h) for i, h in session.execute(stmt)]
