"""Blinded grading in the real window: on by default; before submitting, a grader sees none of
the other graders' polygons or grades (though the four demo graders outlined the same image)
and the service refuses to reveal them; after submitting, the service allows it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from rop_desktop.domain.labels import Role
from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_GRADER
from rop_desktop.services.grading import BlindingError, GradingService, list_graders
from rop_desktop.store import repo
from rop_desktop.ui.canvas.items import PolygonItem, ReferenceShapesItem


def image_outlined_by_others(ws) -> tuple[int, int]:
    """An image on which the demo graders drew polygons, and how many they drew."""
    with ws.store.session() as session:
        for image in repo.list_images(session):
            theirs = [a for a in repo.annotations_for(session, image) if a.grader_id != ws.grader_id]
            if len({a.grader_id for a in theirs}) >= 2:
                return image.id, len(theirs)
    pytest.fail("the demo study has no image outlined by several graders")


def window_texts(ws) -> str:
    return "\n".join(label.text() for label in ws.window.findChildren(QLabel))


def test_blinded_by_default_window_shows_only_my_work_and_service_refuses_others(qtbot, ws) -> None:
    image, their_count = image_outlined_by_others(ws)
    others = [g.name for g in list_graders(ws.store)
              if g.role is Role.GRADER and g.id != ws.grader_id and g.name != DEMO_GRADER]  # the four demo graders
    assert len(others) == 4
    service = ws.workspace.service
    assert service.blinded()
    ws.show_image(image)

    scene_items = ws.canvas.scene().items()
    assert not [i for i in scene_items if isinstance(i, (PolygonItem, ReferenceShapesItem))]
    assert ws.canvas.shapes() == [] and ws.canvas.backdrop.reference_names() == []
    assert ws.canvas.backdrop.overlay_names() == []
    assert ws.panel.values() == ws.stored_grade(image).values  # my (empty) grade, nobody else's
    assert not any(name in window_texts(ws) for name in others)
    assert not service.others_visible(image)
    with pytest.raises(BlindingError, match="submit your own grade"):
        service.other_grades(image)
    with pytest.raises(BlindingError):
        service.hospital_diagnosis(image)

    ws.key("g")  # my own polygon is the only one on the canvas
    ws.clicks([(100.0, 100.0), (200.0, 100.0), (150.0, 180.0)])
    ws.key(Qt.Key.Key_Return)
    assert [s.id for s in ws.canvas.shapes()] == [s.id for s in ws.stored_shapes(image)]
    assert len([i for i in ws.canvas.scene().items() if isinstance(i, PolygonItem)]) == 1
    with ws.store.session() as session:
        assert len(repo.annotations_for(session, image)) == their_count + 1

    ws.keys("n")
    with qtbot.waitSignal(ws.workspace.gradeSubmitted, timeout=2000):
        ws.key(Qt.Key.Key_Return)
    assert service.others_visible(image)
    theirs = service.other_grades(image)
    assert sorted(theirs) == sorted(others)
    assert all(submitted for _values, submitted in theirs.values())
    service.hospital_diagnosis(image)  # allowed now


def test_blinding_is_per_image_and_the_adjudicator_is_never_blinded(qtbot, ws, demo_actor) -> None:
    image, _ = image_outlined_by_others(ws)
    first = ws.current
    assert first != image
    ws.keys("n")
    with qtbot.waitSignal(ws.workspace.gradeSubmitted, timeout=2000):
        ws.key(Qt.Key.Key_Return)
    service = ws.workspace.service
    assert service.other_grades(first)  # submitted: unblinded for that image only
    with pytest.raises(BlindingError):
        service.other_grades(image)
    adjudicator = demo_actor(ws.store, DEMO_ADJUDICATOR)
    assert len(GradingService(ws.store, adjudicator).other_grades(image)) == 4
