"""The progression view in the real window (the demo adjudicator: the reference standard): a
patient's visits in date order with what got worse, two visits side by side aligned by the disc
and the fovea, zoom and pan linked; the Needs attention list opens an eye's latest visit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from rop_desktop.app import build_window
from rop_desktop.domain.etrop import TreatmentClass
from rop_desktop.domain.zones import alignment
from rop_desktop.services.demo_study import DEMO_ADJUDICATOR
from rop_desktop.services.exams import ExamService
from rop_desktop.store import Study

SHOWN_MS = 10_000


@pytest.fixture
def judge_window(qtbot, demo_study_dir: Path, demo_actor) -> Iterator[tuple[object, object]]:
    study = Study.open(demo_study_dir)
    actor = demo_actor(study, DEMO_ADJUDICATOR)
    window = build_window(study, actor)
    window.resize(1366, 768)
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=SHOWN_MS):
        window.wiring.workspace.start()
    yield window, ExamService(study, actor)
    window.close()
    window.deleteLater()
    study.close()


def wheel(canvas, notches: int) -> None:
    centre = QPointF(canvas.viewport().rect().center())
    event = QWheelEvent(centre, canvas.viewport().mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120 * notches),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), event)


def test_two_visits_side_by_side_aligned_by_the_landmarks_with_linked_zoom_and_pan(qtbot, judge_window) -> None:
    window, exams = judge_window
    attention = exams.reference_needs_attention()
    worse = next(a for a in attention if any(r.startswith("stage") for r in a.reasons))
    with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=SHOWN_MS):
        window.wiring.workspace.open_image(worse.image_ids[0])
    view = window.wiring.exams.open_progression()
    assert view is not None and view.isVisible()
    left, right = view.canvases["left"], view.canvases["right"]
    qtbot.waitUntil(lambda: left.image_size() is not None and right.image_size() is not None, timeout=SHOWN_MS)

    # the table: every visit of both eyes, the worsened one flagged
    rows = [view.table.item(r, 7).text() for r in range(view.table.rowCount())]
    assert any(text.startswith("⚠") and "stage" in text for text in rows)
    shown = [view.visits[view.combos[s].currentIndex()] for s in ("left", "right")]
    assert shown[0].key.eye == shown[1].key.eye == worse.eye and shown[0].date < shown[1].date
    assert shown[1].flags                                       # the right one is the visit that got worse

    # aligned by disc and fovea (the demo graders placed them)
    assert "optic disc and the fovea" in view.alignment_label.text()
    t = alignment(shown[0].landmarks, shown[1].landmarks)
    assert right.landmarks() == shown[1].landmarks and right.zone_rings() is not None

    def linked() -> None:
        assert right.zoom() == pytest.approx(left.zoom() / t.scale, rel=0.02)
        expected = t.map(left.view_centre())
        got = right.view_centre()
        tolerance = 2.5 / right.zoom() + 1  # whole scroll-bar steps on either view
        assert abs(got[0] - expected[0]) <= tolerance and abs(got[1] - expected[1]) <= tolerance

    linked()
    wheel(left, 3)                                              # zoom in on the left with the wheel
    assert left.zoom() > 1.0
    linked()
    left.pan_by(40, -25)                                        # pan the left: the right follows
    linked()
    wheel(right, -1)                                            # and the other way round
    linked()
    view.link_check.setChecked(False)
    before = right.zoom()
    wheel(left, 2)
    assert right.zoom() == pytest.approx(before)                # unlinked: the right stays


def test_needs_attention_lists_worsened_eyes_and_opens_the_latest_visit(qtbot, judge_window) -> None:
    window, exams = judge_window
    listing = window.wiring.exams.open_attention()
    assert listing is not None and listing.isVisible()
    assert listing.table.rowCount() == len(exams.reference_needs_attention()) > 0
    assert "the reference standard" in listing.note.text()
    classes = [listing.items[r].classification.klass for r in range(listing.table.rowCount())]
    assert TreatmentClass.TREAT in classes or TreatmentClass.FOLLOW_UP in classes
    target = listing.items[0].image_ids[0]
    if window.wiring.workspace.current == target:  # start elsewhere, so that opening it shows something
        with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=SHOWN_MS):
            window.wiring.workspace.open_image(window.wiring.workspace.service.next_todo(target) or target + 1)
    with qtbot.waitActive(listing):
        listing.activateWindow()
    cell = listing.table.visualItemRect(listing.table.item(0, 0)).center()
    with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=SHOWN_MS) as shown:
        qtbot.mouseClick(listing.table.viewport(), Qt.MouseButton.LeftButton, pos=cell)  # a double click: two
        qtbot.mouseDClick(listing.table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert shown.args == [target]
