"""Grading use cases for one grader: worklist, image, draft / submit, polygons, display settings.

Every edit is its own short transaction, committed when it is made (no Save button): a crash
loses at most the edit in flight. Grades and polygons keep an audit trail (who, when, before,
after). Blinding is enforced here, not only hidden in the window: before a grader submits an
image, :meth:`GradingService.others_visible` is False and the calls that would reveal other
graders' work or the hospital diagnosis refuse (:class:`BlindingError`).

The UI receives plain dataclasses and numpy arrays only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from rop_desktop.domain.etrop import Classification
from rop_desktop.domain.grades import GradeValues, Issue, check_grade
from rop_desktop.domain.labels import Eye
from rop_desktop.domain.shapes import Shape
from rop_desktop.imaging.decode import ImageDecodeError, decode_file
from rop_desktop.store import Study, repo
from rop_desktop.store.repo import worklist as lists
from rop_desktop.store.repo.worklist import GraderTotals
from rop_desktop.store.schema import Annotation, Exam, Grade, Grader, Image, Patient

from .accounts import GraderInfo
from .attention import attention_exams
from .importer import thumbnail_file
from .outline_rows import geometry_of, shape_of
from .policy import (
    ASSIST_SETTING,
    BLINDED_SETTING,
    REVEAL_SETTING,
    AccessDenied,
    Action,
    Actor,
    allowed,
    current,
    guarded,
    open_operation,
)

#: Rows per worklist page: what the window asks for at a time (a screenful is ~20).
PAGE_SIZE = 200
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: The worklist's sort keys (``WorklistQuery.sort``): import order, a column, my status, a model score.
SORTS = lists.SORTS


class GradingError(ValueError):
    """A grading action that cannot be done; the message is for the user."""


class GradeConflict(GradingError):
    """The grade changed on another workstation since this one showed it; ``current`` is the
    stored grade now (the edit was not written — never a silent overwrite)."""

    def __init__(self, current: MyGrade) -> None:
        super().__init__(
            "Your grade of this image was changed on another workstation; the window now shows "
            "that version. Nothing was overwritten."
        )
        self.current = current


class ShapeConflict(GradingError):
    """A polygon was changed on another workstation since this one loaded it; nothing was written."""

    def __init__(self) -> None:
        super().__init__(
            "This polygon was changed on another workstation; the image is reloaded with the "
            "stored outlines. Nothing was overwritten."
        )


#: Another grader's work was asked for before this grader submitted the image: the policy's refusal.
BlindingError = AccessDenied


@dataclass(frozen=True)
class WorklistRow:
    """One image of the worklist as this grader sees it.

    ``thumbnail`` is where the thumbnail should be (it is not looked for: the window loads it
    off the UI thread, or shows none). ``probability`` / ``uncertainty``: the active ROP model's
    score where this account may see it now; ``scores_hidden``: a model is active but its
    output for this image is blinded (whether or not it was predicted is not said either).
    """

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
    probability: float | None = None
    uncertainty: float | None = None
    scores_hidden: bool = False
    #: The ETROP treatment class of the image's exam (the badge; ``services.exams.worklist_classes``).
    treatment: Classification | None = None


@dataclass(frozen=True)
class WorklistQuery:
    """Which images the worklist shows, in which order.

    ``status``: None (every image), "todo" (not submitted by me: to do or draft), "draft",
    "submitted". ``patient``: the start of a patient code (as typed or in capitals). ``camera``:
    exactly that camera. ``sort``: one of :data:`SORTS` ("order" = import order, the order
    "next to do" follows; "status" = to do, drafts, submitted), ``descending`` reverses it.
    ``attention``: only the latest visits of the eyes that need attention (``services.attention``).
    """

    status: str | None = None
    patient: str | None = None
    camera: str | None = None
    sort: str = "order"
    descending: bool = False
    attention: bool = False

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in lists.STATUSES:
            raise GradingError(f"worklist status {self.status!r} is not one of {', '.join(lists.STATUSES)}")
        if self.sort not in SORTS:
            raise GradingError(f"worklist sort {self.sort!r} is not one of {', '.join(SORTS)}")
        object.__setattr__(self, "patient", (self.patient or "").strip() or None)


@dataclass(frozen=True)
class WorklistPage:
    """One page of the worklist with what the window shows around it (one guarded call).

    ``total``: rows the query matches; ``submitted``: of the images the patient / camera filter
    keeps, how many this grader submitted; ``position``: the row of the image asked to be
    located (None: not in this list, or not asked); ``totals``: the grader's own totals for the
    whole study, whatever the filter (the footer: to do / drafts / submitted).
    """

    query: WorklistQuery
    total: int
    submitted: int
    offset: int
    rows: tuple[WorklistRow, ...]
    position: int | None = None
    totals: GraderTotals | None = None


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


@dataclass(frozen=True)
class ShownImage:
    """What :meth:`GradingService.show` returns for the image put on screen."""

    image_id: int
    shapes: list[Shape]
    grade: MyGrade
    upcoming: int | None  #: the next image to do after it (None: nothing else left)


def _mine(grade: Grade | None) -> MyGrade:
    if grade is None:
        return MyGrade(GradeValues(), False, None, None, False, 0)
    return MyGrade(grade.values, grade.submitted, grade.submitted_at, grade.updated_at, True, grade.version_id)


class GradingService:
    """What one signed-in grader does in one study."""

    def __init__(self, study: Study, actor: Actor) -> None:
        self.study = study
        self.actor = current(study, actor, verb="grade")
        self._shape_versions: dict[str, int] = {}  # polygon uid → row version this workstation saw
        self._attention: frozenset[tuple[int, Eye]] | None = None  # the Needs attention filter's exams
        self.grader = GraderInfo(self.actor.id, self.actor.name, self.actor.role)
        with study.session() as session:  # the worklist's plans need them (SQLite; once per sign-in)
            lists.refresh_planner_statistics(session)

    # ------------------------------------------------------------------ worklist
    @guarded(Action.STUDY_BROWSE)
    def worklist(
        self,
        status: str | None = None,
        patient: str | None = None,
        camera: str | None = None,
        *,
        sort: str = "order",
        descending: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[WorklistRow]:
        """Rows ``offset`` to ``offset + limit`` of the worklist (all of it without ``limit``).

        One page costs the same in any study: indexed queries over the page's rows (see
        ``store.repo.worklist``). ``status`` filters "todo" (not submitted: to do or draft),
        "draft", "submitted"; ``patient`` is the start of a patient code; ``camera`` exact.
        """
        query = WorklistQuery(status, patient, camera, sort, descending)
        with self.study.session() as session:
            return self._rows(session, query, offset, limit)

    @guarded(Action.STUDY_BROWSE)
    def worklist_page(
        self, query: WorklistQuery, offset: int = 0, limit: int | None = PAGE_SIZE, *, locate: int | None = None
    ) -> WorklistPage:
        """A page of the worklist with its counts, and where ``locate`` (an image id) is in it:
        what the window needs when a filter or the order changes, in one guarded call."""
        self._attention = None  # a list (re)loaded: the eyes that need attention are read again
        with self.study.session() as session:
            f = self._filter(query)
            totals = lists.grader_totals(session, self.grader.id)
            total, submitted = lists.counts(session, f, totals)
            # an empty list is not walked for its first page (a finished grader's "to do")
            rows = self._rows(session, query, offset, limit) if offset < total else []
            position = next((offset + k for k, row in enumerate(rows) if row.image_id == locate), None)
            if locate is not None and position is None and total:  # not on this page: count the rows before it
                position = lists.position(
                    session, f, locate, query.sort, descending=query.descending, scores=self._score_view(session).scores
                )
        return WorklistPage(query, total, submitted, offset, tuple(rows), position, totals)

    @guarded(Action.OWN_WORK_READ)
    def my_totals(self) -> GraderTotals:
        """This grader's totals for the whole study (to do / drafts / submitted), whatever list the
        window shows: one indexed statement (``store.repo.worklist.grader_totals``)."""
        with self.study.session() as session:
            return lists.grader_totals(session, self.grader.id)

    @guarded(Action.STUDY_BROWSE)
    def worklist_position(self, query: WorklistQuery, image_id: int) -> int | None:
        """The row of ``image_id`` in the worklist ``query`` (None: not in it)."""
        with self.study.session() as session:
            return lists.position(
                session,
                self._filter(query),
                image_id,
                query.sort,
                descending=query.descending,
                scores=self._score_view(session).scores,
            )

    @guarded(Action.STUDY_BROWSE)
    def worklist_rows(self, image_ids: Sequence[int]) -> list[WorklistRow]:
        """The rows of these images as they are now (after an edit here or elsewhere), in that
        order; an image no longer in the study is left out."""
        with self.study.session() as session:
            return self._rows_of(session, list(image_ids))

    @guarded(Action.OWN_WORK_READ)
    def rows_of_grades(self, grade_ids: Sequence[int]) -> list[WorklistRow]:
        """The worklist rows of the images whose grades among ``grade_ids`` are this grader's: what
        another workstation (this grader's, or an admin's import) may have changed in the worklist
        (a change feed names grade rows, not images). Others' grades change nothing here."""
        if not grade_ids:
            return []
        with self.study.session() as session:
            images = list(
                session.scalars(
                    select(Grade.image_id).where(Grade.id.in_(list(grade_ids)), Grade.grader_id == self.grader.id)
                )
            )
            return self._rows_of(session, images)

    def _filter(self, query: WorklistQuery) -> lists.ListFilter:
        exams = self._attention_exams() if query.attention else None
        return lists.ListFilter(self.grader.id, query.status, query.patient, query.camera, exams=exams)

    def _attention_exams(self) -> frozenset[tuple[int, Eye]]:
        """The exams of the *Needs attention* filter, read once per list load (see ``worklist_page``):
        one indexed statement of the eyes ``services.attention`` keeps as needing attention."""
        if self._attention is None:
            with self.study.session() as session:
                self._attention = attention_exams(session, self.actor)
        return self._attention

    def _rows(self, session: Session, query: WorklistQuery, offset: int, limit: int | None) -> list[WorklistRow]:
        view = self._score_view(session)
        ids = lists.page_ids(
            session,
            self._filter(query),
            query.sort,
            descending=query.descending,
            offset=max(0, offset),
            limit=limit,
            scores=view.scores,
        )
        return self._rows_of(session, ids, view)

    def _rows_of(self, session: Session, image_ids: list[int], view: ScoreView | None = None) -> list[WorklistRow]:
        view = view or self._score_view(session)
        cache = str(self.study.cache_dir)
        from .exams import worklist_classes  # exams builds on grading

        classes = worklist_classes(session, self.actor, image_ids)
        rows = []
        for r in lists.page_rows(session, self.grader.id, image_ids, view.scores):
            hidden = view.hidden_all or (
                view.scores is not None and view.scores.submitted_only and r.status != lists.SUBMITTED
            )
            # where the import wrote the thumbnail (a hex digest: nothing here can leave cache/)
            thumb = Path(cache, thumbnail_file(r.sha256)) if _SHA256.fullmatch(r.sha256) else None
            rows.append(
                WorklistRow(
                    r.image_id,
                    r.original_name,
                    r.patient,
                    r.eye,
                    r.exam_date,
                    r.camera,
                    r.site,
                    r.width,
                    r.height,
                    thumb,
                    r.status,
                    None if hidden else r.probability,
                    None if hidden else r.uncertainty,
                    hidden,
                    classes.get(r.image_id),
                )
            )
        return rows

    def _score_view(self, session: Session) -> ScoreView:
        return score_view(session, self.actor)

    @guarded(Action.OWN_WORK_READ)
    def next_todo(self, after_image_id: int | None = None) -> int | None:
        """The next image (in import order, wrapping around) this grader has not submitted: an
        indexed walk from ``after_image_id``, answered by two counts when nothing is left."""
        with self.study.session() as session:
            return lists.next_not_submitted(session, self.grader.id, after_image_id)

    @guarded(Action.STUDY_BROWSE)
    def cameras(self) -> list[str]:
        with self.study.session() as session:
            return sorted(c for c in session.scalars(select(Exam.camera).distinct()) if c)

    @guarded(Action.STUDY_BROWSE)
    def patients(self, prefix: str = "", limit: int | None = None) -> list[str]:
        """Patient codes in order, those starting with ``prefix`` (as typed or in capitals); at
        most ``limit`` of them (the search box's suggestions)."""
        with self.study.session() as session:
            stmt = select(Patient.code).order_by(Patient.code).limit(limit)
            if prefix.strip():
                stmt = stmt.where(Patient.id.in_(lists.patient_ids(prefix.strip()).scalar_subquery()))
            return list(session.scalars(stmt))

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
            repo.add_audit(
                session,
                "grade",
                grade.id,
                "amend" if grade.submitted else "draft",
                grader=self.grader.id,
                before=before,
                after=values.as_dict(),
                image_id=image_id,
            )
            session.flush()
            mine = _mine(grade)
        if mine.submitted:
            self._settle(image_id)
        return mine

    @guarded(Action.OWN_WORK_READ)
    def issues(self, image_id: int, values: GradeValues) -> list[Issue]:
        return self._issues(image_id, values)

    def _issues(self, image_id: int, values: GradeValues) -> list[Issue]:
        with self.study.session() as session:
            stages = [a.stage for a in repo.annotations_for(session, image_id, self.grader.id)]
        return check_grade(values, stages)

    @guarded(Action.OWN_WORK_WRITE)
    def submit(self, image_id: int, values: GradeValues, *, expected_version: int | None = None) -> MyGrade:
        """Submit the grade; refused (GradingError listing the reasons) while it has errors, and
        (:class:`GradeConflict`) when ``expected_version`` is given and the grade changed meanwhile."""
        with self.study.session() as session:  # one transaction: the checks and the write
            stages = [a.stage for a in repo.annotations_for(session, image_id, self.grader.id)]
            errors = [i for i in check_grade(values, stages) if i.severity == "error"]
            if errors:
                raise GradingError("Cannot submit: " + "; ".join(i.message for i in errors))
            grade = repo.grade_for(session, image_id, self.grader.id)
            self._check_version(grade, expected_version)
            before = grade.values.as_dict() if grade is not None else None
            grade = repo.upsert_grade(session, image_id, self.grader.id, values, submitted=True)
            repo.add_audit(
                session,
                "grade",
                grade.id,
                "submit",
                grader=self.grader.id,
                before=before,
                after=values.as_dict(),
                image_id=image_id,
            )
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
            return self._shapes(session, image_id)

    def _shapes(self, session: Session, image_id: int) -> list[Shape]:
        rows = repo.annotations_for(session, image_id, self.grader.id, include_deleted=True)
        for row in rows:
            self._shape_versions[row.uid] = row.version_id
        return [shape_of(a) for a in rows if not a.deleted]

    @guarded(Action.OWN_WORK_WRITE)
    def show(self, image_id: int) -> ShownImage:
        """Everything the window needs once an image's pixels are decoded, in one guarded call and
        one transaction: this grader's polygons (their versions remembered, as :meth:`my_shapes`)
        and grade, the image remembered as the one on screen (:meth:`remember_image`), and the next
        image to do after it (to decode in advance)."""
        with self.study.session() as session:
            shapes = self._shapes(session, image_id)
            mine = _mine(repo.grade_for(session, image_id, self.grader.id))
            key = f"grader.{self.grader.id}.last_image"
            if repo.get_setting(session, key) != int(image_id):
                repo.set_setting(session, key, int(image_id))
            upcoming = lists.next_not_submitted(session, self.grader.id, image_id)
        return ShownImage(image_id, shapes, mine, upcoming)

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
                row = repo.add_annotation(
                    session,
                    image_id,
                    self.grader.id,
                    geometry_of(shape),
                    shape.lesion_type,
                    stage=shape.stage,
                    source=shape.source,
                    uid=shape.id,
                )
                repo.add_audit(
                    session,
                    "annotation",
                    row.id,
                    "create",
                    grader=self.grader.id,
                    after=shape.to_dict(),
                    image_id=image_id,
                )
                self._shape_versions[row.uid] = row.version_id
                return
            if row.grader_id != self.grader.id or row.image_id != image_id:
                raise GradingError("this polygon belongs to another grader or image")
            self._check_shape(row)
            before = shape_of(row).to_dict() if not row.deleted else None
            row.geometry = geometry_of(shape)
            row.lesion_type = shape.lesion_type
            row.stage = shape.stage
            row.source = shape.source
            action = "restore" if row.deleted else "update"
            row.deleted = False
            session.flush()
            self._shape_versions[row.uid] = row.version_id
            repo.add_audit(
                session,
                "annotation",
                row.id,
                action,
                grader=self.grader.id,
                before=before,
                after=shape.to_dict(),
                image_id=image_id,
            )

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
            repo.add_audit(
                session,
                "annotation",
                row.id,
                "delete",
                grader=self.grader.id,
                before=shape_of(row).to_dict(),
                image_id=image_id,
            )

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
            return {
                g.grader.name: (g.values, g.submitted)
                for g in repo.grades_for_image(session, image_id)
                if g.grader_id != self.grader.id
            }

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


@dataclass(frozen=True)
class ScoreView:
    """Which model scores a worklist row shows (see :func:`score_view`)."""

    scores: lists.Scores | None
    #: a model is active but this account may see none of its scores now
    hidden_all: bool = False


def score_view(session: Session, actor: Actor) -> ScoreView:
    """The active ROP model's scores this account may see now, as the policy says for model
    output (``Action.MODEL_OUTPUT_READ``) image by image: everything for an adjudicator or admin,
    an unblinded study or assist mode; for a blinded grader, only the images they submitted
    (where the study reveals after submitting), else none. Four small reads, no per-image check."""
    version = repo.active_model_version(session, "binary")
    if version is None:
        return ScoreView(None)
    blinded = bool(repo.get_setting(session, BLINDED_SETTING, True))
    assist = bool(repo.get_setting(session, ASSIST_SETTING, False))
    if actor.elevated or not blinded or assist:
        return ScoreView(lists.Scores(version.id))
    if not bool(repo.get_setting(session, REVEAL_SETTING, True)):
        return ScoreView(None, hidden_all=True)
    return ScoreView(lists.Scores(version.id, submitted_only=True))


@guarded(Action.STUDY_BROWSE)
def image_ids(study: Study, actor: Actor) -> list[int]:
    """Every image id in import order (one column of one index: for scripts and checks)."""
    with study.session() as session:
        return list(session.scalars(select(Image.id).order_by(Image.id)))
