"""The outline a grader is drawing and has not closed yet, kept so that a crash loses no clicks.

A closed polygon is stored as an annotation the moment it is closed (``GradingService.save_shape``).
An *unclosed* one — three vertices placed, the app dies before the fourth click — is not an
annotation yet: it has no valid geometry, nobody else may ever see it, and it must never count as
the grader's outline. So it is kept apart, one per grader (only one outline can be in progress),
as a per-grader study setting with its ``in_progress`` flag, written at every vertex, cleared when
the outline is closed or dropped, and offered back when the grader reopens the study
(:func:`outline_draft`). It is the grader's own work: reading and writing it are the "own work"
actions of the access policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rop_desktop.domain.labels import LesionType, Stage
from rop_desktop.domain.shapes import Point
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Image

from .policy import Action, Actor, guarded


@dataclass(frozen=True)
class OutlineDraft:
    """The vertices placed so far on one image, with the lesion type and stage the outline gets."""

    image_id: int
    points: tuple[Point, ...]
    lesion_type: LesionType = LesionType.DEMARCATION_LINE
    stage: Stage | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "points": [[float(x), float(y)] for x, y in self.points],
            "lesion_type": self.lesion_type.value,
            "stage": self.stage.value if self.stage else None,
            "in_progress": True,
        }

    @classmethod
    def from_json(cls, data: Any) -> OutlineDraft | None:
        """The draft a setting holds; None for nothing, a cleared one, or one this version cannot read."""
        if not isinstance(data, dict) or not data.get("in_progress"):
            return None
        try:
            points = tuple((float(x), float(y)) for x, y in data["points"])
            stage = Stage(data["stage"]) if data.get("stage") else None
            return cls(int(data["image_id"]), points, LesionType(data["lesion_type"]), stage)
        except (KeyError, TypeError, ValueError):
            return None


def _key(actor: Actor) -> str:
    return f"grader.{actor.id}.outline_draft"


@guarded(Action.OWN_WORK_WRITE)
def save_outline_draft(study: Study, actor: Actor, draft: OutlineDraft) -> None:
    """Keep the outline in progress (replaces the one kept before: only one is ever in progress)."""
    with study.session() as session:
        repo.set_setting(session, _key(actor), draft.to_json())


@guarded(Action.OWN_WORK_WRITE)
def discard_outline_draft(study: Study, actor: Actor) -> None:
    """The outline was closed (it is an annotation now) or dropped: keep nothing."""
    with study.session() as session:
        if repo.get_setting(session, _key(actor)) is not None:
            repo.set_setting(session, _key(actor), None)


@guarded(Action.OWN_WORK_READ)
def outline_draft(study: Study, actor: Actor) -> OutlineDraft | None:
    """The outline this grader left unclosed (None: none, or its image is no longer in the study)."""
    with study.session() as session:
        draft = OutlineDraft.from_json(repo.get_setting(session, _key(actor)))
        if draft is None or session.get(Image, draft.image_id) is None:
            return None
        return draft
