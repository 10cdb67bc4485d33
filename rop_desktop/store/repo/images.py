"""Patients, exams and images."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, contains_eager

from rop_desktop.domain.labels import Eye

from ..schema import Exam, Grade, Grader, Image, Patient
from ..types import utcnow
from ._refs import id_of


def get_or_create_patient(
    session: Session,
    code: str,
    *,
    gestational_age_weeks: float | None = None,
    birth_weight_g: int | None = None,
    sex: str | None = None,
) -> Patient:
    """The patient with this pseudonymous ``code``; created (with the given details) if new.

    An existing patient is returned unchanged.
    """
    code = code.strip()
    if not code:
        raise ValueError("a patient code cannot be empty")
    patient = session.scalar(select(Patient).where(Patient.code == code))
    if patient is None:
        patient = Patient(
            code=code, gestational_age_weeks=gestational_age_weeks, birth_weight_g=birth_weight_g, sex=sex
        )
        session.add(patient)
        session.flush()
    return patient


def get_or_create_exam(
    session: Session,
    patient: Patient | int,
    exam_date: date | None = None,
    camera: str | None = None,
    site: str | None = None,
    *,
    pma_weeks: float | None = None,
) -> Exam:
    """The patient's exam on ``exam_date`` with ``camera`` at ``site`` (``None`` matches ``None``)."""
    patient_id = id_of(patient)
    exam = session.scalar(
        select(Exam)
        .where(
            Exam.patient_id == patient_id,
            Exam.exam_date.is_not_distinct_from(exam_date),
            Exam.camera.is_not_distinct_from(camera),
            Exam.site.is_not_distinct_from(site),
        )
        .order_by(Exam.id)
        .limit(1)
    )
    if exam is None:
        exam = Exam(patient_id=patient_id, exam_date=exam_date, camera=camera, site=site, pma_weeks=pma_weeks)
        session.add(exam)
        session.flush()
    return exam


def find_image_by_sha(session: Session, sha256: str) -> Image | None:
    """The image whose stored bytes have this SHA-256, if already imported."""
    return session.scalar(select(Image).where(Image.sha256 == sha256.lower()))


def add_image(
    session: Session,
    *,
    exam: Exam | int,
    file: str,
    original_name: str,
    sha256: str,
    width: int,
    height: int,
    format: str,
    bytes: int,
    eye: Eye | None = None,
    hospital_diagnosis: str | None = None,
    fov: tuple[float, float, float] | None = None,
    source_path: str | None = None,
    imported_at: datetime | None = None,
) -> Image:
    """Add an image row (its file already stored with ``Study.store_image_bytes``) and flush it.

    ``fov`` is the field-of-view circle (cx, cy, r) in pixels. A duplicate ``sha256`` raises
    ``sqlalchemy.exc.IntegrityError``: check with ``find_image_by_sha`` first.
    """
    cx, cy, r = fov if fov is not None else (None, None, None)
    image = Image(
        exam_id=id_of(exam),
        file=file,
        original_name=original_name,
        sha256=sha256.lower(),
        width=width,
        height=height,
        format=format,
        bytes=bytes,
        eye=eye,
        hospital_diagnosis=hospital_diagnosis,
        fov_cx=cx,
        fov_cy=cy,
        fov_r=r,
        source_path=source_path,
        imported_at=imported_at or utcnow(),
    )
    session.add(image)
    session.flush()
    return image


def list_images(
    session: Session,
    *,
    patient_codes: Iterable[str] | None = None,
    exam_ids: Iterable[int] | None = None,
    image_ids: Iterable[int] | None = None,
    eye: Eye | None = None,
    not_submitted_by: Grader | int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Image]:
    """Images in import order with ``image.exam`` and ``image.exam.patient`` already loaded.

    One SELECT with joins, whatever the number of rows (no query per row). Filters combine with
    AND; ``not_submitted_by`` keeps the images that grader has not submitted a grade for.
    """
    stmt = (
        select(Image)
        .join(Image.exam)
        .join(Exam.patient)
        .options(contains_eager(Image.exam).contains_eager(Exam.patient))
        .order_by(Image.id)
    )
    if patient_codes is not None:
        stmt = stmt.where(Patient.code.in_(list(patient_codes)))
    if exam_ids is not None:
        stmt = stmt.where(Image.exam_id.in_(list(exam_ids)))
    if image_ids is not None:
        stmt = stmt.where(Image.id.in_(list(image_ids)))
    if eye is not None:
        stmt = stmt.where(Image.eye == eye)
    if not_submitted_by is not None:
        stmt = stmt.where(
            ~exists().where(
                Grade.image_id == Image.id, Grade.grader_id == id_of(not_submitted_by), Grade.submitted.is_(True)
            )
        )
    if limit is not None:
        stmt = stmt.limit(limit)
    if offset:
        stmt = stmt.offset(offset)
    return list(session.scalars(stmt))


def count_images(session: Session) -> int:
    """How many images the study holds."""
    return session.scalar(select(func.count()).select_from(Image)) or 0
