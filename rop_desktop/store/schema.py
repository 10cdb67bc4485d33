"""The study database as SQLAlchemy 2.0 typed models.

Enum-valued columns keep the domain enums' string values (``rop_desktop.domain.labels``);
timestamps are timezone-aware UTC; JSON columns hold plain Python values. Children that cannot
outlive their parent are deleted with it (``ON DELETE CASCADE``); graders are never deleted with
their work (deactivate them instead). Grades, annotations and reference decisions carry a
``version_id`` for optimistic locking: a stale concurrent update raises
``sqlalchemy.orm.exc.StaleDataError``.

Nothing here is SQLite-specific: the same models run on PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from rop_desktop.domain.grades import GRADE_FIELDS, GradeValues
from rop_desktop.domain.labels import Eye, LesionType, Plus, Quality, Role, RopPresence, Stage, Zone

from .types import UTCDateTime, enum_column, json_column, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Every constraint has a name, so later migrations (batch mode on SQLite) can alter it."""

ANNOTATION_SOURCES = ("drawn", "traced", "imported", "model")
MODEL_TASKS = ("binary", "stage", "segmentation")
RUN_STATUSES = ("running", "finished", "failed", "cancelled")
REFERENCE_METHODS = (
    "unanimous",
    "majority",
    "adjudicated",
    "hospital_tiebreak",
    "severity_tiebreak",
    "ungradable_majority",
    "imported",
)
IMAGE_FORMATS = ("png", "jpeg", "bmp", "tiff", "dicom")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class Patient(Base):
    """An infant, known only by a pseudonymous code."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    gestational_age_weeks: Mapped[float | None] = mapped_column(Float)
    birth_weight_g: Mapped[int | None] = mapped_column(Integer)
    sex: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created()

    exams: Mapped[list[Exam]] = relationship(
        back_populates="patient", cascade="all, delete-orphan", passive_deletes=True, order_by="Exam.id"
    )


class Exam(Base):
    """One examination session of a patient (a date, a camera, a site)."""

    __tablename__ = "exams"
    #: The worklist sorted by camera or exam date walks these (then the images of each exam).
    __table_args__ = (Index("ix_exams_camera_id", "camera", "id"), Index("ix_exams_exam_date_id", "exam_date", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    exam_date: Mapped[date | None] = mapped_column(Date)
    pma_weeks: Mapped[float | None] = mapped_column(Float)  # post-menstrual age at the exam
    camera: Mapped[str | None] = mapped_column(String(64))
    site: Mapped[str | None] = mapped_column(String(128))

    patient: Mapped[Patient] = relationship(back_populates="exams")
    images: Mapped[list[Image]] = relationship(
        back_populates="exam", cascade="all, delete-orphan", passive_deletes=True, order_by="Image.id"
    )


class Image(Base):
    """A fundus image: a content-addressed copy under the study's ``images/`` folder."""

    __tablename__ = "images"
    #: The worklist sorted by file name or eye reads a page of these, never the whole table.
    __table_args__ = (
        Index("ix_images_original_name_id", "original_name", "id"),
        Index("ix_images_eye_id", "eye", "id"),
        #: The adjudication queue: only the images no reference settles (issue 15).
        Index(
            "ix_images_queue_status_id",
            "queue_status",
            "id",
            sqlite_where=text("queue_status IS NOT NULL"),
            postgresql_where=text("queue_status IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    eye: Mapped[Eye | None] = mapped_column(enum_column(Eye))
    file: Mapped[str] = mapped_column(String(512))  # relative to images/, e.g. "ab/abcd….png"
    #: The image's pseudonymous name in the study (``P0001-OD-20260201-001``, see
    #: ``services.identity``); the file's own name, which may hold a patient's name or hospital
    #: number, is kept in :class:`Identity` only. (Called ``original_name`` for history's sake.)
    original_name: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))  # one of IMAGE_FORMATS
    hospital_diagnosis: Mapped[str | None] = mapped_column(Text)  # free text, e.g. "stage 2", "no ROP"
    fov_cx: Mapped[float | None] = mapped_column(Float)
    fov_cy: Mapped[float | None] = mapped_column(Float)
    fov_r: Mapped[float | None] = mapped_column(Float)
    imported_at: Mapped[datetime] = _created()
    source_path: Mapped[str | None] = mapped_column(String(2048))  # None: the path is in Identity
    bytes: Mapped[int] = mapped_column(Integer)  # size of the stored file
    #: The image's place in the adjudication queue: "needs_adjudication", "insufficient" (a new
    #: image), or NULL once a reference settles it. Kept by the transaction that settles the
    #: votes (``services.reference``) and by ``repo.set_reference`` (``store.repo.queue``).
    queue_status: Mapped[str | None] = mapped_column(String(20), server_default="insufficient")

    exam: Mapped[Exam] = relationship(back_populates="images")
    grades: Mapped[list[Grade]] = relationship(
        back_populates="image", cascade="all, delete-orphan", passive_deletes=True
    )
    annotations: Mapped[list[Annotation]] = relationship(
        back_populates="image", cascade="all, delete-orphan", passive_deletes=True
    )
    reference: Mapped[Reference | None] = relationship(
        back_populates="image", cascade="all, delete-orphan", passive_deletes=True
    )
    predictions: Mapped[list[Prediction]] = relationship(
        back_populates="image", cascade="all, delete-orphan", passive_deletes=True
    )


class Grader(Base):
    """A person who grades, adjudicates or administers the study."""

    __tablename__ = "graders"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[Role] = mapped_column(enum_column(Role), default=Role.GRADER)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created()
    display_settings: Mapped[dict[str, Any] | None] = mapped_column(json_column(nullable=True))
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The PostgreSQL login role this account connects as on a shared study (``store.pg_roles``);
    #: the row-level security policies identify a connection's account by it. None on SQLite.
    db_role: Mapped[str | None] = mapped_column(String(63), unique=True)


class GradeFields:
    """The columns of ``domain.grades.GradeValues``, shared by grades and the reference standard."""

    rop: Mapped[RopPresence | None] = mapped_column(enum_column(RopPresence))
    stage: Mapped[Stage | None] = mapped_column(enum_column(Stage))
    zone: Mapped[Zone | None] = mapped_column(enum_column(Zone))
    plus: Mapped[Plus | None] = mapped_column(enum_column(Plus))
    arop: Mapped[bool | None] = mapped_column(Boolean)
    extent_clock_hours: Mapped[int | None] = mapped_column(Integer)
    quality: Mapped[Quality | None] = mapped_column(enum_column(Quality))
    confidence: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")

    @property
    def values(self) -> GradeValues:
        """The fields as a ``GradeValues``."""
        return GradeValues(**{name: getattr(self, name) for name in GRADE_FIELDS})

    def set_values(self, values: GradeValues) -> None:
        """Copy every field of ``values`` onto this row."""
        for name in GRADE_FIELDS:
            setattr(self, name, getattr(values, name))


class Grade(GradeFields, Base):
    """One grader's image-level grade of one image (at most one per image and grader)."""

    __tablename__ = "grades"
    __table_args__ = (
        UniqueConstraint("image_id", "grader_id"),
        #: One grader's work: next to do, the worklist's status filters and counts (index-only).
        Index("ix_grades_grader_id_submitted_image_id", "grader_id", "submitted", "image_id"),
        #: The votes of an image: the adjudication queue counts them without reading the rows.
        Index("ix_grades_image_id_submitted", "image_id", "submitted"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    grader_id: Mapped[int] = mapped_column(ForeignKey("graders.id"))
    submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)

    image: Mapped[Image] = relationship(back_populates="grades")
    grader: Mapped[Grader] = relationship()

    __mapper_args__ = {"version_id_col": version_id}


class Annotation(Base):
    """A lesion outline drawn by a grader: polygon rings in image pixel coordinates.

    ``geometry`` is a list of rings ``[[x, y], ...]`` (exterior first, then holes), or a list of
    such polygons (a MultiPolygon). ``deleted`` is a soft delete, so undo can bring it back.
    """

    __tablename__ = "annotations"
    __table_args__ = (Index("ix_annotations_image_id_grader_id", "image_id", "grader_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stable id the app gives a shape when it is drawn (uuid4), so edits and undo find the row.
    uid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    grader_id: Mapped[int] = mapped_column(ForeignKey("graders.id"), index=True)
    geometry: Mapped[list[Any]] = mapped_column(json_column(nullable=False))
    lesion_type: Mapped[LesionType] = mapped_column(enum_column(LesionType))
    stage: Mapped[Stage | None] = mapped_column(enum_column(Stage))
    source: Mapped[str] = mapped_column(String(16), default="drawn")  # one of ANNOTATION_SOURCES
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)

    image: Mapped[Image] = relationship(back_populates="annotations")
    grader: Mapped[Grader] = relationship()

    __mapper_args__ = {"version_id_col": version_id}


class Reference(GradeFields, Base):
    """The reference standard of one image and how it was reached."""

    __tablename__ = "reference_standard"

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), unique=True)
    method: Mapped[str] = mapped_column(String(32))  # one of REFERENCE_METHODS
    detail: Mapped[dict[str, Any] | None] = mapped_column(json_column(nullable=True))  # e.g. the vote tally
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("graders.id", ondelete="SET NULL"), index=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)

    image: Mapped[Image] = relationship(back_populates="reference")
    decided_by_grader: Mapped[Grader | None] = relationship()

    __mapper_args__ = {"version_id_col": version_id}


class QueueTally(Base):
    """The vote tally of an image the votes leave open, as its last settle worked it out: what an
    adjudication-queue row shows (``store.repo.queue``), so a page of the queue is read, not
    re-tallied. ``votes``/``mark`` say which submitted votes it was worked out from and ``rules``
    under which vote settings (and hospital diagnosis): a row they no longer match is worked out
    again when read. Rows exist only for open images; a settle that settles the image deletes it.
    """

    __tablename__ = "queue_tallies"

    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    votes: Mapped[int] = mapped_column(Integer)  #: how many submitted votes
    mark: Mapped[int] = mapped_column(BigInteger)  #: ``store.repo.queue.vote_marks`` of those votes
    rules: Mapped[str] = mapped_column(String(32))  #: digest of the vote settings and hospital diagnosis
    detail: Mapped[dict[str, Any]] = mapped_column(json_column(nullable=False))  #: tally, reasons, dissenters


class ModelVersion(Base):
    """A trained model bundle registered in the study (a folder under ``models/``)."""

    __tablename__ = "model_versions"
    __table_args__ = (Index("ix_model_versions_task_active", "task", "active"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    task: Mapped[str] = mapped_column(String(32))  # one of MODEL_TASKS
    architecture: Mapped[str] = mapped_column(String(64))
    bundle_path: Mapped[str] = mapped_column(String(512), unique=True)  # relative to models/
    card: Mapped[dict[str, Any]] = mapped_column(json_column(nullable=False), default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(json_column(nullable=False), default=dict)
    snapshot_hash: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created()

    predictions: Mapped[list[Prediction]] = relationship(
        back_populates="model_version", cascade="all, delete-orphan", passive_deletes=True
    )


class TrainingRun(Base):
    """One training attempt, successful or not."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(32))
    architecture: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(json_column(nullable=False), default=dict)
    status: Mapped[str] = mapped_column(String(16), default="running")  # one of RUN_STATUSES
    reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"), index=True
    )
    snapshot_hash: Mapped[str | None] = mapped_column(String(64))

    model_version: Mapped[ModelVersion | None] = relationship()


class Prediction(Base):
    """A model version's cached output for one image.

    The numbers the worklist shows and sorts by are columns (a batch prediction stores only
    these); ``payload`` keeps the full output, ``mask_file`` the maps of an image that was shown.
    """

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("image_id", "model_version_id"),
        #: "Most uncertain first" walks one version's predictions from the most uncertain.
        Index("ix_predictions_model_version_id_uncertainty", "model_version_id", "uncertainty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(json_column(nullable=False))  # probabilities etc.
    mask_file: Mapped[str | None] = mapped_column(String(512))  # relative to cache/
    #: P(ROP) of a binary model.
    probability: Mapped[float | None] = mapped_column(Float)
    #: 1 at the operating threshold, 0 when certain (binary); 1 − max p (stage models).
    uncertainty: Mapped[float | None] = mapped_column(Float)
    #: The predicted class (stage models: the stage; line models: "line" / "no line").
    predicted_class: Mapped[str | None] = mapped_column(String(64))
    #: Line models: the share of the image covered by the predicted line mask (0–1).
    mask_area: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = _created()

    image: Mapped[Image] = relationship(back_populates="predictions")
    model_version: Mapped[ModelVersion] = relationship(back_populates="predictions")


IDENTITY_KINDS = (
    "patient_id",
    "patient_name",
    "birth_date",
    "issuer_of_patient_id",
    "other_patient_id",
    "other_patient_name",
    "contact",
    "file_name",
    "source_path",
)
IDENTITY_SOURCES = ("manifest", "dicom", "file", "study")


class Identity(Base):
    """One value that identifies a patient or an image outside the study, kept apart from the rest.

    Everything else in the study knows a patient by ``Patient.code`` and an image by its
    pseudonymous name; what the hospital knows them by (a hospital number, a name, a birth date,
    the file's own name and folder) is only here. ``kind`` is one of :data:`IDENTITY_KINDS`,
    ``source`` where the value came from (:data:`IDENTITY_SOURCES`; "study" for values moved here
    from an older study). Patient-level values have no ``image_id``. On PostgreSQL only the
    admins' roles read or write this table (migration 0006).
    """

    __tablename__ = "identities"
    #: The import finds a patient by a hospital number: (kind, digest), never an index on long text.
    __table_args__ = (Index("ix_identities_kind_digest", "kind", "digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the value (UTF-8), hex
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created()


class AuditEvent(Base):
    """Who changed what, when, with the values before and after."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_entity_entity_id", "entity", "entity_id"),
        #: An image's history (the adjudication view) reads its events through this, never the trail.
        Index("ix_audit_events_image_id_at", "image_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    grader_id: Mapped[int | None] = mapped_column(ForeignKey("graders.id"), index=True)
    entity: Mapped[str] = mapped_column(String(32))  # "grade", "reference", "annotation", …
    entity_id: Mapped[int] = mapped_column(Integer)
    #: The image an event of one image's work is about (grade, outline, reference, landmarks, its
    #: manifest fields); None for study-wide events. No foreign key: the trail outlives its rows.
    image_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(32))  # "create", "update", "submit", "delete", …
    before: Mapped[Any] = mapped_column(json_column(nullable=True), nullable=True)  # None: no "before"
    after: Mapped[Any] = mapped_column(json_column(nullable=True), nullable=True)  # None: deleted

    grader: Mapped[Grader | None] = relationship()


class StudySetting(Base):
    """A study-wide setting (blinded grading, vote quorum, tie rule…) as a JSON value."""

    __tablename__ = "study_settings"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(json_column(nullable=False))


ZONE_DECISIONS = ("accepted", "overridden")


class Landmark(Base):
    """One grader's landmarks on one image: optic disc centre (and radius), fovea centre, in
    image pixels (``domain.zones.Landmarks``), with the zone suggestion they gave and what the
    grader did with it.

    ``suggested_zone`` / ``suggestion`` are what the app suggested from these landmarks and the
    grader's ridge outline when the grader last decided the image's zone; ``zone_decision`` is
    "accepted" or "overridden" (:data:`ZONE_DECISIONS`) and ``decided_zone`` the zone chosen then.
    Like outlines, a grader's landmarks are their own work: blinded until others may see it.
    """

    __tablename__ = "landmarks"
    __table_args__ = (UniqueConstraint("image_id", "grader_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    grader_id: Mapped[int] = mapped_column(ForeignKey("graders.id"), index=True)
    disc_x: Mapped[float | None] = mapped_column(Float)
    disc_y: Mapped[float | None] = mapped_column(Float)
    disc_r: Mapped[float | None] = mapped_column(Float)
    fovea_x: Mapped[float | None] = mapped_column(Float)
    fovea_y: Mapped[float | None] = mapped_column(Float)
    suggested_zone: Mapped[Zone | None] = mapped_column(enum_column(Zone))
    suggestion: Mapped[dict[str, Any] | None] = mapped_column(json_column(nullable=True))
    zone_decision: Mapped[str | None] = mapped_column(String(16))  # one of ZONE_DECISIONS
    decided_zone: Mapped[Zone | None] = mapped_column(enum_column(Zone))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)

    image: Mapped[Image] = relationship()
    grader: Mapped[Grader] = relationship()

    __mapper_args__ = {"version_id_col": version_id}


class ExamGrade(GradeFields, Base):
    """One grader's eye-level grade of one eye at one visit: an *exam* in the clinical sense is
    (``exam_id``, ``eye``) — the images of that eye in one examination session.

    ``prefill`` keeps the roll-up of the grader's image grades shown when the grade was last
    saved (``domain.etrop.RollUp.as_dict``), so what was pre-filled and what was confirmed are
    both on record.
    """

    __tablename__ = "exam_grades"
    __table_args__ = (
        UniqueConstraint("exam_id", "eye", "grader_id"),
        #: One grader's eye-level work (their progression, Needs attention).
        Index("ix_exam_grades_grader_id_submitted", "grader_id", "submitted"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"))
    eye: Mapped[Eye] = mapped_column(enum_column(Eye))
    grader_id: Mapped[int] = mapped_column(ForeignKey("graders.id"))
    submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    prefill: Mapped[dict[str, Any] | None] = mapped_column(json_column(nullable=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)

    exam: Mapped[Exam] = relationship()
    grader: Mapped[Grader] = relationship()

    __mapper_args__ = {"version_id_col": version_id}


class ExamReference(GradeFields, Base):
    """The eye-level reference standard of one eye at one visit (``exam_id``, ``eye``), settled
    from the graders' submitted eye-level grades when the study votes at eye level
    (``services.exam_reference``), or decided by an adjudicator.

    ``method`` is one of :data:`REFERENCE_METHODS` (a vote method, or "adjudicated");
    ``detail`` keeps the vote outcome (tally, reasons) and, for a decision, what it was made on.
    """

    __tablename__ = "exam_references"
    __table_args__ = (UniqueConstraint("exam_id", "eye"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"))
    eye: Mapped[Eye] = mapped_column(enum_column(Eye))
    method: Mapped[str] = mapped_column(String(32))  # one of REFERENCE_METHODS
    detail: Mapped[dict[str, Any] | None] = mapped_column(json_column(nullable=True))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("graders.id", ondelete="SET NULL"), index=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)

    exam: Mapped[Exam] = relationship()

    __mapper_args__ = {"version_id_col": version_id}


class EyeAttention(Base):
    """Whether one eye needs attention, from one basis: a grader's own grades (``grader_id``)
    or the reference standard (``grader_id`` NULL) — what the *Needs attention* list and the
    worklist filter read (``services.attention``). Kept by the transaction that changes what it
    is worked out from (a grade, landmarks, an eye-level grade, a reference of that patient's
    eye); ``exam_id`` is the eye's latest visit that says something, ``grade`` its values
    (``GradeValues.as_dict``), ``reasons`` why it needs attention (empty: it does not).
    """

    __tablename__ = "eye_attention"
    __table_args__ = (
        Index("ix_eye_attention_patient_id_eye_grader_id", "patient_id", "eye", "grader_id"),
        #: The filter: only the eyes that need attention, per basis.
        Index(
            "ix_eye_attention_grader_id_exam_id",
            "grader_id",
            "exam_id",
            sqlite_where=text("needs = 1"),
            postgresql_where=text("needs"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    eye: Mapped[Eye] = mapped_column(enum_column(Eye))
    grader_id: Mapped[int | None] = mapped_column(ForeignKey("graders.id", ondelete="CASCADE"))
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    needs: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list[str]] = mapped_column(json_column(nullable=False))
    grade: Mapped[dict[str, Any]] = mapped_column(json_column(nullable=False))


class EyeAttentionPending(Base):
    """A patient whose :class:`EyeAttention` rows of one basis (``grader_id``; NULL: the
    reference) are to be worked out again before they are next read: written where the
    transaction that changed their inputs may not read all of them (a grader's session on a
    shared study, whose votes settled a reference) and by the migration that made the table."""

    __tablename__ = "eye_attention_pending"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    grader_id: Mapped[int | None] = mapped_column(ForeignKey("graders.id", ondelete="CASCADE"), index=True)
