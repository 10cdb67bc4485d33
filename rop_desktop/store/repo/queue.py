"""The adjudication queue and the votes of a page of images, as indexed queries (issue 15).

Every image carries its place in the queue, ``images.queue_status`` (``store.schema.Image``):
``"needs_adjudication"`` (quorum reached, the votes disagree), ``"insufficient"`` (fewer votes
than the quorum; a new image starts so) or NULL (a reference settles it: the votes, an
adjudicator or an import). The transaction that settles an image's votes
(``services.reference``) writes it, and :func:`~rop_desktop.store.repo.set_reference` clears it
when a reference is made. A partial index over the images that are not settled,
``(queue_status, id) WHERE queue_status IS NOT NULL``, serves the queue: a page is one range of
that index, and the counts are an index-only count of the open images — never a walk over the
settled ones, which a screening programme accumulates by the hundred thousand.

What a queue row shows of an open image — its vote tally, reasons and dissenters — is kept by the
same settle in ``queue_tallies`` (:func:`store_tallies`), with the marks of the votes it was worked
out from (:func:`vote_marks`), so a page of the queue reads it back (:func:`tallies_of`) instead
of settling every row's votes again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, cast, delete, func, insert, select, true, update
from sqlalchemy.orm import Session

from rop_desktop.domain.grades import GRADE_FIELDS, GradeValues

from ..schema import Exam, Grade, Grader, Image, Patient, QueueTally

#: The values of ``images.queue_status`` of an image the votes leave open.
OPEN_STATUSES = ("needs_adjudication", "insufficient")


def unsettled_ids(session: Session, status: str, *, after: int | None = None, limit: int | None = None) -> list[int]:
    """Images whose queue status is ``status`` (one of :data:`OPEN_STATUSES`), in id order after
    ``after``: one range of the partial index."""
    stmt = select(Image.id).where(Image.queue_status == status).order_by(Image.id).limit(limit)
    if after is not None:
        stmt = stmt.where(Image.id > after)
    return list(session.scalars(stmt))


def count_unsettled(session: Session) -> dict[str, int]:
    """How many images have each open queue status (one index-only count over the open images;
    a status no image has is 0)."""
    stmt = select(Image.queue_status, func.count()).where(Image.queue_status.is_not(None)).group_by(Image.queue_status)
    counts = dict.fromkeys(OPEN_STATUSES, 0)
    counts.update({str(status): int(n) for status, n in session.execute(stmt)})
    return counts


class SettleRow(NamedTuple):
    """What settling an image reads of its row: the hospital's diagnosis (a tie rule may use it)
    and the queue status stored now (written again only when it changes)."""

    image_id: int
    hospital_diagnosis: str | None
    queue_status: str | None


def settle_rows_after(session: Session, after: int, size: int) -> list[SettleRow]:
    """The next ``size`` images after ``after``: a keyset page, for walking the whole study in
    steps (a recompute)."""
    stmt = (
        select(Image.id, Image.hospital_diagnosis, Image.queue_status)
        .where(Image.id > after)
        .order_by(Image.id)
        .limit(size)
    )
    return [SettleRow(int(i), h, q) for i, h, q in session.execute(stmt)]


def settle_rows_of(session: Session, image_ids: Sequence[int]) -> list[SettleRow]:
    """These images, in id order."""
    stmt = (
        select(Image.id, Image.hospital_diagnosis, Image.queue_status)
        .where(Image.id.in_(list(image_ids)))
        .order_by(Image.id)
    )
    return [SettleRow(int(i), h, q) for i, h, q in session.execute(stmt)]


def set_queue_statuses(session: Session, statuses: Mapping[int, str | None]) -> None:
    """Store new queue statuses (image id → status or None): one UPDATE per distinct status."""
    by_status: dict[str | None, list[int]] = {}
    for image_id, status in statuses.items():
        by_status.setdefault(status, []).append(image_id)
    for status, ids in by_status.items():
        session.execute(
            update(Image)
            .where(Image.id.in_(ids))
            .values(queue_status=status)
            .execution_options(synchronize_session=False)
        )


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
    stmt = (
        select(Image.id, Image.original_name, Patient.code, Image.eye, Image.hospital_diagnosis)
        .join(Exam, Exam.id == Image.exam_id)
        .join(Patient, Patient.id == Exam.patient_id)
        .where(Image.id.in_(list(image_ids)))
    )
    return {row[0]: ImageHeader(*row) for row in session.execute(stmt)}


def submitted_votes(
    session: Session, image_ids: Sequence[int] | None = None
) -> dict[int, dict[str, tuple[int, GradeValues]]]:
    """image id → grader name → (grader id, submitted grade), graders by name; one query that
    reads the grade columns (no ORM objects: a recompute reads the whole study through this)."""
    fields = [getattr(Grade, name) for name in GRADE_FIELDS]
    stmt = (
        select(Grade.image_id, Grade.grader_id, Grader.name, *fields)
        .join(Grader, Grader.id == Grade.grader_id)
        .where(Grade.submitted == true())
        .order_by(Grade.image_id, Grader.name)
    )
    if image_ids is not None:
        stmt = stmt.where(Grade.image_id.in_(list(image_ids)))
    out: dict[int, dict[str, tuple[int, GradeValues]]] = {}
    for image_id, grader_id, name, *values in session.execute(stmt):
        out.setdefault(image_id, {})[name] = (grader_id, GradeValues(**dict(zip(GRADE_FIELDS, values, strict=True))))
    return out


def image_batch(session: Session, after: int, size: int) -> list[tuple[int, str | None]]:
    """(id, hospital diagnosis) of the next ``size`` images after ``after``: a keyset page, for
    walking the whole study in steps (batch prediction)."""
    stmt = select(Image.id, Image.hospital_diagnosis).where(Image.id > after).order_by(Image.id).limit(size)
    return [(int(i), h) for i, h in session.execute(stmt)]


# ---------------------------------------------------------------------------- kept tallies
#: ``grader_id`` scaled so that ``grader_id * _GRADER_SCALE + version_id`` names one vote's version.
_GRADER_SCALE = 1_000_000


class VoteMark(NamedTuple):
    """Which submitted votes an image has: how many, and a sum that changes with any of them (a
    vote added, withdrawn or resubmitted with other values bumps its grade's ``version_id``)."""

    votes: int
    mark: int


def vote_marks(session: Session, image_ids: Sequence[int]) -> dict[int, VoteMark]:
    """image id → :class:`VoteMark` of its submitted votes (images without a vote are absent);
    one grouped query over the grades of the images."""
    if not image_ids:
        return {}
    mark = func.sum(cast(Grade.grader_id, BigInteger) * _GRADER_SCALE + Grade.version_id)
    stmt = (
        select(Grade.image_id, func.count(), mark)
        .where(Grade.image_id.in_(list(image_ids)), Grade.submitted == true())
        .group_by(Grade.image_id)
    )
    return {int(i): VoteMark(int(n), int(m)) for i, n, m in session.execute(stmt)}


class KeptTally(NamedTuple):
    """A ``queue_tallies`` row: the outcome an image's last settle worked out, and from what."""

    votes: int
    mark: int
    rules: str
    detail: dict[str, Any]


def tallies_of(session: Session, image_ids: Sequence[int]) -> dict[int, KeptTally]:
    """The kept tallies of these images (one query by primary keys; an image without one is absent)."""
    if not image_ids:
        return {}
    stmt = select(QueueTally.image_id, QueueTally.votes, QueueTally.mark, QueueTally.rules, QueueTally.detail).where(
        QueueTally.image_id.in_(list(image_ids))
    )
    return {int(i): KeptTally(int(v), int(m), r, d) for i, v, m, r, d in session.execute(stmt)}


def store_tallies(session: Session, tallies: Mapping[int, KeptTally | None]) -> None:
    """Replace the kept tallies of these images (None: the image settled, its row goes): one
    DELETE and one multi-row INSERT."""
    if not tallies:
        return
    session.execute(
        delete(QueueTally).where(QueueTally.image_id.in_(list(tallies))).execution_options(synchronize_session=False)
    )
    rows = [{"image_id": i, **t._asdict()} for i, t in tallies.items() if t is not None]
    if rows:
        session.execute(insert(QueueTally), rows)
