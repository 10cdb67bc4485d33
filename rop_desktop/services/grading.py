"""Grading use cases for one grader: worklist, image, draft / submit, polygons, display settings.

Every edit is its own short transaction, committed when it is made (no Save button): a crash
loses at most the edit in flight. Grades and polygons keep an audit trail (who, when, before,
after). Blinding is enforced here, not only hidden in the window: before a grader submits an
image, :meth:`GradingService.others_visible` is False and the calls that would reveal other
graders' work or the hospital diagnosis refuse (:class:`BlindingError`).

The UI receives plain dataclasses and numpy arrays only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from rop_desktop.domain.grades import GradeValues, Issue, check_grade
from rop_desktop.domain.labels import Eye, Role
from rop_desktop.domain.shapes import Shape
from rop_desktop.imaging.decode import ImageDecodeError, decode_file
from rop_desktop.store import Study, repo
from rop_desktop.store.models import Annotation, Exam, Grade, Grader, Image, Patient

from .importer import thumbnail_file
from .policy import BLINDED_SETTING, AccessDenied, Action, Actor, allowed, current, guarded, open_operation


class GradingError(ValueError):
    """A grading action that cannot be done; the message is for the user."""


class GradeConflict(GradingError):
    """The grade changed on another workstation since this one showed it; ``current`` is the
    stored grade now (the edit was not written — never a silent overwrite)."""

    def __init__(self, current: "MyGrade") -> None:
        super().__init__("Your grade of this image was changed on another workstation; the window now shows "
                         "that version. Nothing was overwritten.")
        self.current = current


class ShapeConflict(GradingError):
    """A polygon was changed on another workstation since this one loaded it; nothing was written."""

    def __init__(self) -> None:
        super().__init__("This polygon was changed on another workstation; the image is reloaded with the "
                         "stored outlines. Nothing was overwritten.")


#: Another grader's work was asked for before this grader submitted the image: the policy's refusal.
BlindingError = AccessDenied


@dataclass(frozen=True)
class GraderInfo:
    id: int
    name: str
    role: Role


@dataclass(frozen=True)
class WorklistRow:
    image_id: int
    original_name: str
    patient: str
    eye: Eye | None
    exam_date: date | None
    camera: str | None
    site: str | None
    width: int
    height: int
    thumbnail: Path | None
    status: str  # "todo" | "draft" | "submitted"


@dataclass(frozen=True)
class ImageData:
    image_id: int
    rgb: np.ndarray
    original_name: str
    patient: str
    eye: Eye | None
    exam_date: date | None
    fov: tuple[float, float, float] | None


@dataclass(frozen=True)
class MyGrade:
    values: GradeValues
    submitted: bool
    submitted_at: datetime | None
    updated_at: datetime | None
    exists: bool
    version: int | None = None  #: the row version shown; pass it back as ``expected_version``


def _mine(grade: Grade | None) -> MyGrade:
    if grade is None:
        return MyGrade(GradeValues(), False, None, None, False, 0)
    return MyGrade(grade.values, grade.submitted, grade.submitted_at, grade.updated_at, True, grade.version_id)


def _geometry(shape: Shape) -> list[Any]:
    return [[[x, y] for x, y in shape.points]] + [[[x, y] for x, y in ring] for ring in shape.holes]


def shape_of(annotation: Annotation) -> Shape:
    """The stored annotation as a domain Shape (first polygon of a multipolygon geometry)."""
    rings = annotation.geometry
    if rings and rings[0] and isinstance(rings[0][0][0], list):  # list of polygons
        rings = rings[0]
    return Shape(id=annotation.uid, points=rings[0], holes=tuple(rings[1:]), lesion_type=annotation.lesion_type,
                 stage=annotation.stage, source=annotation.source)


class GradingService:
    """What one signed-in grader does in one study."""

    def __init__(self, study: Study, actor: Actor) -> None:
        self.study = study
        self.actor = current(study, actor, verb="grade")
        self._shape_versions: dict[str, int] = {}  # polygon uid → row version this workstation saw
        self.grader = GraderInfo(self.actor.id, self.actor.name, self.actor.role)

    # ------------------------------------------------------------------ worklist
    @guarded(Action.STUDY_BROWSE)
    def worklist(self, *, status: str | None = None, patient: str | None = None,
                 camera: str | None = None) -> list[WorklistRow]:
        """Images with this grader's status; two queries whatever the study's size.

        ``status`` filters "todo" (not submitted: to do or draft), "draft", "submitted".
        """
        with self.study.session() as session:
            images = repo.list_images(session, patient_codes=[patient] if patient else None)
            mine = dict(session.execute(select(Grade.image_id, Grade.submitted)
                                        .where(Grade.grader_id == self.grader.id)).all())
        rows: list[WorklistRow] = []
        for image in images:
            state = "todo" if image.id not in mine else ("submitted" if mine[image.id] else "draft")
            if status == "todo" and state == "submitted":
                continue
            if status in ("draft", "submitted") and state != status:
                continue
            if camera and (image.exam.camera or "") != camera:
                continue
            thumb = self.study.cache_path(thumbnail_file(image.sha256))
            rows.append(WorklistRow(image.id, image.original_name, image.exam.patient.code, image.eye,
                                    image.exam.exam_date, image.exam.camera, image.exam.site, image.width,
                                    image.height, thumb if thumb.exists() else None, state))
        return rows

    @guarded(Action.OWN_WORK_READ)
    def next_todo(self, after_image_id: int | None = None) -> int | None:
        """The next image (in worklist order, wrapping around) this grader has not submitted."""
        with self.study.session() as session:
            ids = [i.id for i in repo.list_images(session, not_submitted_by=self.grader.id)]
        if not ids:
            return None
        if after_image_id is None:
            return ids[0]
        later = [i for i in ids if i > after_image_id]
        if later:
            return later[0]
        earlier = [i for i in ids if i != after_image_id]
        return earlier[0] if earlier else None

    @guarded(Action.STUDY_BROWSE)
    def cameras(self) -> list[str]:
        with self.study.session() as session:
            return sorted(c for c in session.scalars(select(Exam.camera).distinct()) if c)

    @guarded(Action.STUDY_BROWSE)
    def patients(self) -> list[str]:
        with self.study.session() as session:
            return list(session.scalars(select(Patient.code).order_by(Patient.code)))

    # ------------------------------------------------------------------ image
    @guarded(Action.STUDY_BROWSE)
    def load_image(self, image_id: int) -> ImageData:
        """Decode the stored copy; raises GradingError with the reason when it cannot be read."""
        with self.study.session() as session:
            image = session.get(Image, image_id)
            if image is None:
                raise GradingError(f"image {image_id} is not in this study")
            path = self.study.image_path(image)
            meta = (image.original_name, image.exam.patient.code, image.eye, image.exam.exam_date)
            fov = (image.fov_cx, image.fov_cy, image.fov_r) if image.fov_r else None
        try:
            decoded = decode_file(path)
        except ImageDecodeError as exc:
            raise GradingError(f"{meta[0]} cannot be shown: {exc.reason}") from exc
        return ImageData(image_id, decoded.rgb, *meta, fov)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ grade
    @guarded(Action.OWN_WORK_READ)
    def my_grade(self, image_id: int) -> MyGrade:
        with self.study.session() as session:
            grade = repo.grade_for(session, image_id, self.grader.id)
            return _mine(grade)

    def _check_version(self, grade: Grade | None, expected_version: int | None) -> None:
        """Refuse to write over a version this workstation never showed (``None``: no check)."""
        if expected_version is None:
            return
        stored = grade.version_id if grade is not None else 0
        if stored != expected_version:
            raise GradeConflict(_mine(grade))

    @guarded(Action.OWN_WORK_WRITE)
    def save_draft(self, image_id: int, values: GradeValues, *, expected_version: int | None = None) -> MyGrade:
        """Write the grade as it is now (a draft, or an amendment of a submitted grade).

        With ``expected_version`` (the :attr:`MyGrade.version` the window shows; 0 for none yet), a
        grade changed meanwhile on another workstation raises :class:`GradeConflict` instead.
        """
        with self.study.session() as session:
            grade = repo.grade_for(session, image_id, self.grader.id)
            self._check_version(grade, expected_version)
            before = grade.values.as_dict() if grade is not None else None
            if before == values.as_dict():
                return _mine(grade)
            grade = repo.upsert_grade(session, image_id, self.grader.id, values)
            repo.add_audit(session, "grade", grade.id, "amend" if grade.submitted else "draft",
                           grader=self.grader.id, before=before, after=values.as_dict())
            session.flush()
            mine = _mine(grade)
        if mine.submitted:
            self._settle(image_id)
        return mine

    @guarded(Action.OWN_WORK_READ)
    def issues(self, image_id: int, values: GradeValues) -> list[Issue]:
        stages = [s.stage for s in self.my_shapes(image_id)]
        return check_grade(values, stages)

    @guarded(Action.OWN_WORK_WRITE)
    def submit(self, image_id: int, values: GradeValues, *, expected_version: int | None = None) -> MyGrade:
        """Submit the grade; refused (GradingError listing the reasons) while it has errors, and
        (:class:`GradeConflict`) when ``expected_version`` is given and the grade changed meanwhile."""
        errors = [i for i in self.issues(image_id, values) if i.severity == "error"]
        if errors:
            raise GradingError("Cannot submit: " + "; ".join(i.message for i in errors))
        with self.study.session() as session:
            grade = repo.grade_for(session, image_id, self.grader.id)
            self._check_version(grade, expected_version)
            before = grade.values.as_dict() if grade is not None else None
            grade = repo.upsert_grade(session, image_id, self.grader.id, values, submitted=True)
            repo.add_audit(session, "grade", grade.id, "submit", grader=self.grader.id, before=before,
                           after=values.as_dict())
            session.flush()
            mine = _mine(grade)
        self._settle(image_id)
        return mine

    def _settle(self, image_id: int) -> None:
        """The votes of the image changed: the system settles its reference again (one image)."""
        from .reference import settle_images  # reference builds on grading

        settle_images(self.study, [image_id])

    # ------------------------------------------------------------------ polygons
    @guarded(Action.OWN_WORK_READ)
    def my_shapes(self, image_id: int) -> list[Shape]:
        """This grader's polygons of the image; their row versions are remembered, so that an edit
        of a polygon changed meanwhile on another workstation is refused (:class:`ShapeConflict`)."""
        with self.study.session() as session:
            rows = repo.annotations_for(session, image_id, self.grader.id, include_deleted=True)
            for row in rows:
                self._shape_versions[row.uid] = row.version_id
            return [shape_of(a) for a in rows if not a.deleted]

    def _check_shape(self, row: Annotation) -> None:
        seen = self._shape_versions.get(row.uid)
        if seen is not None and seen != row.version_id:
            raise ShapeConflict()

    @guarded(Action.OWN_WORK_WRITE)
    def save_shape(self, image_id: int, shape: Shape) -> None:
        """Create or update this grader's shape (by its id); brings back a deleted one (redo)."""
        if not isinstance(shape.id, str):
            raise GradingError("a shape needs its app id (uuid) to be stored")
        with self.study.session() as session:
            row = repo.annotation_by_uid(session, shape.id)
            if row is None:
                row = repo.add_annotation(session, image_id, self.grader.id, _geometry(shape), shape.lesion_type,
                                          stage=shape.stage, source=shape.source, uid=shape.id)
                repo.add_audit(session, "annotation", row.id, "create", grader=self.grader.id,
                               after=shape.to_dict())
                self._shape_versions[row.uid] = row.version_id
                return
            if row.grader_id != self.grader.id or row.image_id != image_id:
                raise GradingError("this polygon belongs to another grader or image")
            self._check_shape(row)
            before = shape_of(row).to_dict() if not row.deleted else None
            row.geometry = _geometry(shape)
            row.lesion_type = shape.lesion_type
            row.stage = shape.stage
            row.source = shape.source
            action = "restore" if row.deleted else "update"
            row.deleted = False
            session.flush()
            self._shape_versions[row.uid] = row.version_id
            repo.add_audit(session, "annotation", row.id, action, grader=self.grader.id, before=before,
                           after=shape.to_dict())

    @guarded(Action.OWN_WORK_WRITE)
    def delete_shape(self, image_id: int, shape_id: str) -> None:
        """Soft-delete (undo brings it back with :meth:`save_shape`)."""
        with self.study.session() as session:
            row = repo.annotation_by_uid(session, shape_id)
            if row is None or row.deleted:
                return
            if row.grader_id != self.grader.id or row.image_id != image_id:
                raise GradingError("this polygon belongs to another grader or image")
            self._check_shape(row)
            row.deleted = True
            session.flush()
            self._shape_versions[row.uid] = row.version_id
            repo.add_audit(session, "annotation", row.id, "delete", grader=self.grader.id,
                           before=shape_of(row).to_dict())

    # ------------------------------------------------------------------ blinding
    @guarded(Action.STUDY_BROWSE)
    def blinded(self) -> bool:
        with self.study.session() as session:
            return bool(repo.get_setting(session, BLINDED_SETTING, True))

    @open_operation("asks the policy what this grader may see")
    def others_visible(self, image_id: int) -> bool:
        """May this grader see other graders' grades and polygons of the image (the policy decides)?"""
        return allowed(self.study, self.actor, Action.OTHERS_WORK_READ, image_id=image_id)

    @guarded(Action.OTHERS_WORK_READ, image="image_id")
    def hospital_diagnosis(self, image_id: int) -> str | None:
        with self.study.session() as session:
            image = session.get(Image, image_id)
            return image.hospital_diagnosis if image else None

    @guarded(Action.OTHERS_WORK_READ, image="image_id")
    def other_grades(self, image_id: int) -> dict[str, tuple[GradeValues, bool]]:
        """Other graders' grades of the image (values, submitted) — only once unblinded."""
        with self.study.session() as session:
            return {g.grader.name: (g.values, g.submitted) for g in repo.grades_for_image(session, image_id)
                    if g.grader_id != self.grader.id}

    # ------------------------------------------------------------------ where the grader was
    @guarded(Action.OWN_WORK_WRITE)
    def remember_image(self, image_id: int) -> None:
        """Remember the image on screen, so reopening the study comes back to it."""
        with self.study.session() as session:
            repo.set_setting(session, f"grader.{self.grader.id}.last_image", int(image_id))

    @guarded(Action.OWN_WORK_READ)
    def last_image(self) -> int | None:
        with self.study.session() as session:
            image_id = repo.get_setting(session, f"grader.{self.grader.id}.last_image")
            return int(image_id) if image_id is not None and session.get(Image, image_id) is not None else None

    # ------------------------------------------------------------------ display settings
    @guarded(Action.OWN_WORK_READ)
    def display_settings(self) -> dict[str, Any] | None:
        with self.study.session() as session:
            grader = session.get(Grader, self.grader.id)
            return dict(grader.display_settings) if grader and grader.display_settings else None

    @guarded(Action.OWN_WORK_WRITE)
    def save_display_settings(self, settings: dict[str, Any]) -> None:
        with self.study.session() as session:
            grader = session.get(Grader, self.grader.id)
            if grader is not None:
                grader.display_settings = dict(settings)


# ---------------------------------------------------------------------- graders (identity)
@open_operation("account names and roles: shown at sign-in, before anyone is signed in")
def list_graders(study: Study) -> list[GraderInfo]:
    with study.session() as session:
        return [GraderInfo(g.id, g.name, g.role) for g in repo.list_graders(session)]


@guarded(Action.STUDY_BROWSE)
def image_ids(study: Study, actor: Actor) -> list[int]:
    with study.session() as session:
        return [i.id for i in repo.list_images(session)]
