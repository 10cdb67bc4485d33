"""Graders, grades, annotations and the reference standard."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, contains_eager

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import LesionType, Role, Stage

from ..schema import Annotation, Grade, Grader, Image, QueueTally, Reference
from ..types import utcnow
from ._refs import id_of


def get_or_create_grader(session: Session, name: str, role: Role = Role.GRADER) -> Grader:
    """The grader called ``name``; created with ``role`` if new (an existing one keeps its role)."""
    name = name.strip()
    if not name:
        raise ValueError("a grader name cannot be empty")
    grader = session.scalar(select(Grader).where(Grader.name == name))
    if grader is None:
        grader = Grader(name=name, role=role)
        session.add(grader)
        session.flush()
    return grader


def list_graders(session: Session, *, active_only: bool = True) -> list[Grader]:
    """Graders by name."""
    stmt = select(Grader).order_by(Grader.name)
    if active_only:
        stmt = stmt.where(Grader.active.is_(True))
    return list(session.scalars(stmt))


def grade_for(session: Session, image: Image | int, grader: Grader | int) -> Grade | None:
    """This grader's grade of this image, if any."""
    return session.scalar(select(Grade).where(Grade.image_id == id_of(image), Grade.grader_id == id_of(grader)))


def upsert_grade(
    session: Session, image: Image | int, grader: Grader | int, values: GradeValues, *, submitted: bool | None = None
) -> Grade:
    """Create or overwrite the grader's grade of the image with ``values`` and flush.

    ``submitted=True`` marks it submitted now, ``False`` reopens it, ``None`` leaves it as is.
    A concurrent change from another session raises ``StaleDataError`` at flush.
    """
    grade = grade_for(session, image, grader)
    if grade is None:
        grade = Grade(image_id=id_of(image), grader_id=id_of(grader), submitted=False)
        session.add(grade)
    grade.set_values(values)
    if submitted is not None and submitted != grade.submitted:
        grade.submitted = submitted
        grade.submitted_at = utcnow() if submitted else None
    session.flush()
    return grade


def grades_for_image(session: Session, image: Image | int, *, submitted_only: bool = False) -> list[Grade]:
    """Every grader's grade of the image, with ``grade.grader`` loaded, by grader name."""
    stmt = (
        select(Grade)
        .join(Grade.grader)
        .options(contains_eager(Grade.grader))
        .where(Grade.image_id == id_of(image))
        .order_by(Grader.name)
    )
    if submitted_only:
        stmt = stmt.where(Grade.submitted.is_(True))
    return list(session.scalars(stmt))


def grades_by_grader(session: Session, grader: Grader | int, *, submitted_only: bool = False) -> list[Grade]:
    """All grades of one grader, in image order."""
    stmt = select(Grade).where(Grade.grader_id == id_of(grader)).order_by(Grade.image_id)
    if submitted_only:
        stmt = stmt.where(Grade.submitted.is_(True))
    return list(session.scalars(stmt))


def annotations_for(
    session: Session, image: Image | int, grader: Grader | int | None = None, *, include_deleted: bool = False
) -> list[Annotation]:
    """The image's annotations (one grader's, or everyone's), oldest first."""
    stmt = select(Annotation).where(Annotation.image_id == id_of(image)).order_by(Annotation.id)
    if grader is not None:
        stmt = stmt.where(Annotation.grader_id == id_of(grader))
    if not include_deleted:
        stmt = stmt.where(Annotation.deleted.is_(False))
    return list(session.scalars(stmt))


def add_annotation(
    session: Session,
    image: Image | int,
    grader: Grader | int,
    geometry: list[Any],
    lesion_type: LesionType,
    *,
    stage: Stage | None = None,
    source: str = "drawn",
    uid: str | None = None,
) -> Annotation:
    """Add an annotation (geometry as JSON-ready rings, see ``models.Annotation``) and flush.

    ``uid`` is the shape's id in the app (uuid4 string); a fresh one is made when omitted.
    """
    annotation = Annotation(
        image_id=id_of(image),
        grader_id=id_of(grader),
        geometry=geometry,
        lesion_type=lesion_type,
        stage=stage,
        source=source,
        deleted=False,
    )
    if uid is not None:
        annotation.uid = uid
    session.add(annotation)
    session.flush()
    return annotation


def annotation_by_uid(session: Session, uid: str) -> Annotation | None:
    """The annotation with this app-side id (deleted ones included)."""
    return session.scalar(select(Annotation).where(Annotation.uid == uid))


def reference_for(session: Session, image: Image | int) -> Reference | None:
    """The image's reference standard, if decided."""
    return session.scalar(select(Reference).where(Reference.image_id == id_of(image)))


def set_reference(
    session: Session,
    image: Image | int,
    values: GradeValues,
    method: str,
    *,
    detail: dict[str, Any] | None = None,
    decided_by: Grader | int | None = None,
    leave_queue: bool = True,
) -> Reference:
    """Create or replace the image's reference standard and flush. A new reference takes its image
    out of the adjudication queue (``images.queue_status``, see ``store.repo.queue``) unless
    ``leave_queue`` is False: the caller stores the status itself (a settle does, once per batch)."""
    reference = reference_for(session, image)
    created = reference is None
    if reference is None:
        reference = Reference(image_id=id_of(image))
        session.add(reference)
    reference.set_values(values)
    reference.method = method
    reference.detail = detail
    reference.decided_by = id_of(decided_by) if decided_by is not None else None
    reference.decided_at = utcnow()
    session.flush()
    if created and leave_queue:
        session.execute(
            update(Image).where(Image.id == id_of(image), Image.queue_status.is_not(None)).values(queue_status=None)
        )
        session.execute(
            delete(QueueTally).where(QueueTally.image_id == id_of(image)).execution_options(synchronize_session=False)
        )
    return reference


def list_references(session: Session) -> list[Reference]:
    """Every decided reference standard, in image order."""
    return list(session.scalars(select(Reference).order_by(Reference.image_id)))
