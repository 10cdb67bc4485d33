"""Landmarks (optic disc, fovea) per image per grader, and the zone suggestion they give.

A grader's landmarks are their own work, like their outlines: stored when placed (one short
transaction, an audit event with before and after), undoable in the window (an undo is one more
save), and blinded — another grader's landmarks of an image are shown only where the policy
shows others' work of it (``Action.OTHERS_WORK_READ``).

The zone suggestion (``domain.zones.suggest_zone``) is computed from the grader's *stored*
landmarks and ridge outlines, never from what a window sends, and the grader's decision on it
is stored with it: the zone suggested, why, the zone chosen, and whether that accepted or
overrode the suggestion (:meth:`LandmarkService.decide_zone`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from rop_desktop.domain.labels import Eye, Zone
from rop_desktop.domain.zones import FieldOfView, Landmarks, ZoneSuggestion, suggest_zone
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Grade, Grader, Image, Landmark

from .outline_rows import shape_of
from .policy import Action, Actor, current, guarded


class LandmarkConflict(ValueError):
    """The landmarks changed on another workstation since this one showed them; ``current`` is
    what is stored now (nothing was written)."""

    def __init__(self, current: MyLandmarks) -> None:
        super().__init__(
            "Your landmarks of this image were changed on another workstation; the window now shows "
            "them. Nothing was overwritten."
        )
        self.current = current


@dataclass(frozen=True)
class MyLandmarks:
    """This grader's landmarks of an image, the row version shown, and the zone decision made."""

    landmarks: Landmarks
    version: int = 0  #: pass back as ``expected_version`` (0: none stored yet)
    suggested_zone: Zone | None = None
    zone_decision: str | None = None  #: "accepted", "overridden" or None
    decided_zone: Zone | None = None


@dataclass(frozen=True)
class ImageLandmarks:
    """What the window needs to show an image's landmarks and suggest its zone as they change:
    this grader's landmarks, the image's eye and where the camera saw retina."""

    mine: MyLandmarks
    eye: Eye | None
    field: FieldOfView


def landmarks_of(row: Landmark | None) -> Landmarks:
    """The stored row as domain landmarks (empty for no row)."""
    if row is None:
        return Landmarks()
    disc = (row.disc_x, row.disc_y) if row.disc_x is not None and row.disc_y is not None else None
    fovea = (row.fovea_x, row.fovea_y) if row.fovea_x is not None and row.fovea_y is not None else None
    return Landmarks(disc, row.disc_r if disc is not None else None, fovea)


def _mine(row: Landmark | None) -> MyLandmarks:
    if row is None:
        return MyLandmarks(Landmarks())
    return MyLandmarks(landmarks_of(row), row.version_id, row.suggested_zone, row.zone_decision, row.decided_zone)


def _row(session: Session, image_id: int, grader_id: int) -> Landmark | None:
    return session.scalar(select(Landmark).where(Landmark.image_id == image_id, Landmark.grader_id == grader_id))


def _outlines(session: Session, image_id: int, grader_id: int) -> list[tuple[tuple[float, float], ...]]:
    return [tuple(shape_of(a).points) for a in repo.annotations_for(session, image_id, grader_id)]


def image_field(image: Image) -> FieldOfView:
    """Where the camera saw retina on this image: its rectangle and its aperture circle."""
    circle = (image.fov_cx, image.fov_cy, image.fov_r) if image.fov_r else None
    return FieldOfView(image.width, image.height, circle)  # type: ignore[arg-type]


def suggestion_for(session: Session, image: Image, grader_id: int) -> ZoneSuggestion:
    """The zone suggestion from one grader's stored landmarks and outlines of ``image``."""
    row = _row(session, image.id, grader_id)
    return suggest_zone(
        landmarks_of(row) if row is not None else None,
        _outlines(session, image.id, grader_id),
        fov=image_field(image),
        eye=image.eye,
    )


class LandmarkService:
    """What one signed-in grader does with landmarks and zone suggestions in one study."""

    def __init__(self, study: Study, actor: Actor) -> None:
        self.study = study
        self.actor = current(study, actor, verb="place landmarks")

    @guarded(Action.OWN_WORK_READ)
    def my_landmarks(self, image_id: int) -> MyLandmarks:
        with self.study.session() as session:
            return _mine(_row(session, image_id, self.actor.id))

    @guarded(Action.OWN_WORK_READ)
    def show(self, image_id: int) -> ImageLandmarks:
        """:meth:`my_landmarks` with the image's eye and field of view, in one call."""
        with self.study.session() as session:
            image = session.get(Image, image_id)
            if image is None:
                raise ValueError(f"image {image_id} is not in this study")
            return ImageLandmarks(_mine(_row(session, image_id, self.actor.id)), image.eye, image_field(image))

    @guarded(Action.OWN_WORK_WRITE)
    def save_landmarks(
        self, image_id: int, landmarks: Landmarks, *, expected_version: int | None = None
    ) -> MyLandmarks:
        """Store this grader's landmarks of the image as they are now (empty landmarks clear them).

        Refused (``ValueError``) for a position outside the image; with ``expected_version``
        (:attr:`MyLandmarks.version`), :class:`LandmarkConflict` when they changed meanwhile.
        """
        if not isinstance(landmarks, Landmarks):
            raise ValueError("landmarks must be a domain.zones.Landmarks value")
        with self.study.session() as session:
            image = session.get(Image, image_id)
            if image is None:
                raise ValueError(f"image {image_id} is not in this study")
            for what, p in (("optic disc", landmarks.disc), ("fovea", landmarks.fovea)):
                if p is not None and not (0 <= p[0] <= image.width and 0 <= p[1] <= image.height):
                    raise ValueError(f"The {what} must lie on the image ({image.width}×{image.height} pixels).")
            row = _row(session, image_id, self.actor.id)
            stored = row.version_id if row is not None else 0
            if expected_version is not None and stored != expected_version:
                raise LandmarkConflict(_mine(row))
            before = landmarks_of(row).as_dict() if row is not None else None
            if before == landmarks.as_dict():
                return _mine(row)
            if row is None:
                row = Landmark(image_id=image_id, grader_id=self.actor.id)
                session.add(row)
            row.disc_x, row.disc_y = landmarks.disc if landmarks.disc is not None else (None, None)
            row.disc_r = landmarks.disc_radius
            row.fovea_x, row.fovea_y = landmarks.fovea if landmarks.fovea is not None else (None, None)
            session.flush()
            action = "create" if before is None else ("clear" if landmarks.empty else "update")
            repo.add_audit(
                session,
                "landmarks",
                row.id,
                action,
                grader=self.actor.id,
                before=before,
                after=landmarks.as_dict(),
                image_id=image_id,
            )
            return _mine(row)

    @guarded(Action.OWN_WORK_READ)
    def zone_suggestion(self, image_id: int) -> ZoneSuggestion:
        """The zone this grader's stored landmarks and outlines suggest (refused with a reason)."""
        with self.study.session() as session:
            image = session.get(Image, image_id)
            if image is None:
                raise ValueError(f"image {image_id} is not in this study")
            return suggestion_for(session, image, self.actor.id)

    @guarded(Action.OWN_WORK_WRITE)
    def decide_zone(self, image_id: int, zone: Zone | None) -> MyLandmarks:
        """Record the zone the grader chose for the image against the suggestion the app makes
        now (recomputed here from the stored landmarks and outlines): "accepted" when they are the
        same, "overridden" when not. Without a suggestion nothing is recorded. An audit event
        keeps each decision."""
        with self.study.session() as session:
            image = session.get(Image, image_id)
            if image is None:
                raise ValueError(f"image {image_id} is not in this study")
            suggestion = suggestion_for(session, image, self.actor.id)
            row = _row(session, image_id, self.actor.id)
            if suggestion.zone is None or row is None:
                return _mine(row)
            decision = "accepted" if zone is suggestion.zone else "overridden"
            before = {
                "suggested_zone": row.suggested_zone.value if row.suggested_zone else None,
                "zone_decision": row.zone_decision,
                "decided_zone": row.decided_zone.value if row.decided_zone else None,
            }
            after = {
                "suggested_zone": suggestion.zone.value,
                "zone_decision": decision,
                "decided_zone": zone.value if zone else None,
            }
            if before == after:
                return _mine(row)
            row.suggested_zone, row.suggestion = suggestion.zone, suggestion.as_dict()
            row.zone_decision, row.decided_zone = decision, zone
            session.flush()
            repo.add_audit(
                session,
                "zone_decision",
                row.id,
                decision,
                grader=self.actor.id,
                before=before,
                after=after,
                image_id=row.image_id,
            )
            return _mine(row)

    @guarded(Action.OTHERS_WORK_READ, image="image_id")
    def others_landmarks(self, image_id: int) -> dict[str, Landmarks]:
        """Other graders' landmarks of the image, by name: those who submitted it (never the
        landmarks under a draft), once this grader may see others' work of it."""
        with self.study.session() as session:
            submitted = select(Grade.grader_id).where(Grade.image_id == image_id, Grade.submitted.is_(True))
            rows = session.execute(
                select(Landmark, Grader.name)
                .join(Grader, Grader.id == Landmark.grader_id)
                .where(
                    Landmark.image_id == image_id,
                    Landmark.grader_id != self.actor.id,
                    Landmark.grader_id.in_(submitted),
                )
                .order_by(Grader.name)
            ).all()
            return {name: landmarks_of(row) for row, name in rows}


@guarded(Action.EXPORT_ALL)
def export_landmarks_csv(study: Study, actor: Actor, path: str | Path) -> int:
    """Every grader's landmarks and zone decisions as CSV (one row per image and grader); the
    number of rows written. Columns: image, grader, disc_x, disc_y, disc_r, fovea_x, fovea_y,
    suggested_zone, zone_decision, decided_zone, suggestion_reason."""
    path = Path(path)
    with study.session() as session:
        rows = session.execute(
            select(Landmark, Image.original_name, Grader.name)
            .join(Image, Image.id == Landmark.image_id)
            .join(Grader, Grader.id == Landmark.grader_id)
            .order_by(Image.original_name, Grader.name)
        ).all()
        records = []
        for row, image_name, grader_name in rows:
            records.append(
                {
                    "image": image_name,
                    "grader": grader_name,
                    "disc_x": row.disc_x,
                    "disc_y": row.disc_y,
                    "disc_r": row.disc_r,
                    "fovea_x": row.fovea_x,
                    "fovea_y": row.fovea_y,
                    "suggested_zone": row.suggested_zone.value if row.suggested_zone else "",
                    "zone_decision": row.zone_decision or "",
                    "decided_zone": row.decided_zone.value if row.decided_zone else "",
                    "suggestion_reason": (row.suggestion or {}).get("reason", ""),
                }
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(LANDMARK_COLUMNS))
        writer.writeheader()
        writer.writerows(records)
    return len(records)


LANDMARK_COLUMNS = (
    "image",
    "grader",
    "disc_x",
    "disc_y",
    "disc_r",
    "fovea_x",
    "fovea_y",
    "suggested_zone",
    "zone_decision",
    "decided_zone",
    "suggestion_reason",
)
