"""The demo study's eye-level work: each demo grader's landmarks, zone decisions and confirmed
eye-level grades, so that the zone rings, the exam view, the progression view and the Needs
attention list all have something to show on first start.

Called by the demo build (``services.demo_study``) inside its own transaction, with the rows it
made: it writes what the simulated graders did (``demo_truth.json``'s ``landmarks``) and what
they would then have done — decided each image's zone against the app's suggestion, and
confirmed the roll-up of their image grades as the eye-level grade of every exam they graded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from rop_desktop.domain.coordinates import centre_to_corner, ring_to_corners
from rop_desktop.domain.etrop import ImageEvidence, roll_up
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, Quality
from rop_desktop.domain.zones import Landmarks, suggest_zone
from rop_desktop.store.schema import ExamGrade, Grader, Image, Landmark
from rop_desktop.store.types import utcnow

from .landmarks import image_field


def add_exam_work(
    session: Session, truth: Mapping[str, Any], images: Mapping[str, Image], graders: Mapping[str, Grader]
) -> None:
    """Landmarks, zone decisions and eye-level grades of the demo graders (see the module docstring).

    ``truth``: the demo's truth document; ``images``: its file names → imported images;
    ``graders``: the demo graders by name. No audit events: the demo's history starts here, as
    for its image grades.
    """
    evidence: dict[tuple[int, Eye, int], list[ImageEvidence]] = defaultdict(list)
    for file_name, entry in truth["images"].items():
        image = images[file_name]
        for grader_name, grade in entry["grades"].items():
            grader = graders[grader_name]
            values = GradeValues.from_dict(grade["values"])
            # the demo writes pixel-centre coordinates; the app stores pixel corners
            outlines = tuple(tuple(ring_to_corners(p["points"])) for p in grade.get("polygons", []))
            landmarks = _landmarks(grade.get("landmarks"))
            if landmarks is not None:
                _store_landmarks(session, image, grader, landmarks, values, outlines)
            if image.eye is not None:
                evidence[(image.exam_id, image.eye, grader.id)].append(
                    ImageEvidence(image.original_name, values, landmarks, outlines, (image.width, image.height))
                )
    for (exam_id, eye, grader_id), items in evidence.items():
        rollup = roll_up(items)
        if rollup.values.quality is not Quality.GRADABLE or rollup.values.stage is None:
            continue
        row = ExamGrade(
            exam_id=exam_id,
            eye=eye,
            grader_id=grader_id,
            submitted=True,
            submitted_at=utcnow(),
            prefill=rollup.as_dict(),
        )
        row.set_values(rollup.values)
        session.add(row)
    session.flush()


def _landmarks(data: Mapping[str, Any] | None) -> Landmarks | None:
    if not data:
        return None
    landmarks = Landmarks.from_dict(data)
    if landmarks.disc is None:
        return None
    # pixel centres → pixel corners, as for the outlines
    return Landmarks(
        centre_to_corner(landmarks.disc),
        landmarks.disc_radius,
        None if landmarks.fovea is None else centre_to_corner(landmarks.fovea),
    )


def _store_landmarks(
    session: Session,
    image: Image,
    grader: Grader,
    landmarks: Landmarks,
    values: GradeValues,
    outlines: tuple[tuple[tuple[float, float], ...], ...],
) -> None:
    assert landmarks.disc is not None
    row = Landmark(
        image_id=image.id,
        grader_id=grader.id,
        disc_x=landmarks.disc[0],
        disc_y=landmarks.disc[1],
        disc_r=landmarks.disc_radius,
    )
    if landmarks.fovea is not None:
        row.fovea_x, row.fovea_y = landmarks.fovea
    suggestion = suggest_zone(landmarks, outlines, fov=image_field(image), eye=image.eye)
    if suggestion.zone is not None and values.zone is not None:
        row.suggested_zone, row.suggestion = suggestion.zone, suggestion.as_dict()
        row.decided_zone = values.zone
        row.zone_decision = "accepted" if values.zone is suggestion.zone else "overridden"
    session.add(row)
