"""Grading in the real window with the keyboard only: drafts are stored at every key, Enter
submits and moves to the next image to do, Enter while drawing only closes the polygon."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.services.grading import GradingError

ALT = Qt.KeyboardModifier.AltModifier
CTRL = Qt.KeyboardModifier.ControlModifier
TRIANGLE = [(200.0, 150.0), (320.0, 150.0), (260.0, 250.0)]


def test_grade_with_keys_only_and_submit_with_enter_stores_it_and_opens_the_next_to_do(qtbot, ws) -> None:
    image = ws.current
    expected_next = ws.checker.next_todo(image)
    ws.keys("y", "2", "z", "p", "p", "a", "]", "]", "]")
    ws.key(Qt.Key.Key_4, ALT)
    expected = GradeValues(rop=RopPresence.YES, stage=Stage.S2, zone=Zone.I, plus=Plus.PRE_PLUS, arop=True,
                           extent_clock_hours=3, quality=Quality.GRADABLE, confidence=4)
    draft = ws.stored_grade(image)  # every key was a stored draft
    assert (draft.values, draft.submitted) == (expected, False)
    assert ws.window.worklist.model.rows()[ws.window.worklist.model.row_of(image)].status == "draft"

    ws.key(Qt.Key.Key_Return)  # stage 2 with no ridge outlined: a warning, the first Enter only says so
    assert not ws.stored_grade(image).submitted and ws.current == image
    assert "warning" in ws.panel.notice.text()
    with qtbot.waitSignal(ws.workspace.imageShown, timeout=10_000) as shown:
        ws.key(Qt.Key.Key_Return)

    stored = ws.stored_grade(image)
    assert stored.submitted and stored.values == expected and stored.submitted_at is not None
    assert shown.args == [expected_next] and ws.current == expected_next
    assert ws.window.worklist.model.rows()[ws.window.worklist.model.row_of(image)].status == "submitted"
    assert ws.panel.values() == GradeValues() and not ws.panel.submitted  # a fresh grade for the next image
    assert ws.canvas.shapes() == []


def test_one_enter_submits_when_a_staged_ridge_is_outlined(qtbot, ws) -> None:
    image = ws.current
    ws.window.stage_combo.setCurrentIndex(ws.window.stage_combo.findData(Stage.S2))
    ws.key("g")
    ws.clicks(TRIANGLE)
    ws.click(*TRIANGLE[0])
    ws.key("v")
    ws.keys("2", "z", "z", "z")
    ws.key(Qt.Key.Key_Z, Qt.KeyboardModifier.ShiftModifier)  # zone: not assessable
    ws.key(Qt.Key.Key_P, Qt.KeyboardModifier.ShiftModifier)
    ws.key(Qt.Key.Key_5, ALT)
    with qtbot.waitSignal(ws.workspace.gradeSubmitted, timeout=2000) as submitted:
        ws.key(Qt.Key.Key_Return)
    assert submitted.args == [image]
    stored = ws.stored_grade(image)
    assert stored.submitted
    assert stored.values == GradeValues(rop=RopPresence.YES, stage=Stage.S2, zone=Zone.NA, plus=Plus.NA,
                                        quality=Quality.GRADABLE, confidence=5)
    assert [s.stage for s in ws.stored_shapes(image)] == [Stage.S2]


def test_enter_while_drawing_closes_the_polygon_and_does_not_submit(qtbot, ws) -> None:
    image = ws.current
    ws.key("n")  # no ROP (stage 0 implied): a complete grade, one Enter would submit it
    assert ws.stored_grade(image).values == GradeValues(rop=RopPresence.NO, stage=Stage.S0, quality=Quality.GRADABLE)
    ws.key("g")
    ws.clicks(TRIANGLE)
    with qtbot.assertNotEmitted(ws.workspace.gradeSubmitted):
        ws.key(Qt.Key.Key_Return)
    (stored,) = ws.stored_shapes(image)
    assert stored.id == ws.canvas.shapes()[0].id
    assert not ws.stored_grade(image).submitted and ws.current == image

    with qtbot.waitSignal(ws.workspace.gradeSubmitted, timeout=2000):  # not drawing any more: Enter submits
        ws.key(Qt.Key.Key_Return)
    assert ws.stored_grade(image).submitted


def test_ungradable_image_takes_no_stage_from_the_keys(ws) -> None:
    image = ws.current
    ws.key("2")
    ws.key(Qt.Key.Key_Q, Qt.KeyboardModifier.ShiftModifier)  # stage 2, then "ungradable" clears the clinical fields
    assert ws.stored_grade(image).values == GradeValues(quality=Quality.UNGRADABLE)
    ws.key("3")  # refused while ungradable
    assert "ungradable" in ws.panel.notice.text().lower()
    assert ws.stored_grade(image).values.stage is None
    ws.key(Qt.Key.Key_Return)
    assert ws.stored_grade(image).submitted  # an ungradable image without stage may be submitted


def test_q_alone_changes_nothing_and_keys_refused_while_ungradable_say_why_in_the_status_bar(ws) -> None:
    """Issue 17 item 1: the first Q on an ungraded image no longer locks it, and Y, 2, Z, P on an
    ungradable image say why they did nothing, in the status bar and on the panel's banner."""
    image = ws.current
    ws.key("q")
    assert ws.stored_grade(image).values == GradeValues() and not ws.panel.ungradable_banner.isVisible()
    ws.keys("y", "2")
    assert ws.stored_grade(image).values.stage is Stage.S2
    ws.key(Qt.Key.Key_Q, Qt.KeyboardModifier.ShiftModifier)
    assert ws.panel.ungradable_banner.isVisible()
    for key in ("y", "2", "z", "p"):
        ws.window.statusBar().clearMessage()
        ws.key(key)
        assert ws.status_message() == "Ungradable is set — press Shift+Q to clear it"
        assert ws.panel.flashing
    assert ws.stored_grade(image).values == GradeValues(quality=Quality.UNGRADABLE)
    ws.key(Qt.Key.Key_Q, Qt.KeyboardModifier.ShiftModifier)  # cleared: what "ungradable" cleared is back
    assert ws.stored_grade(image).values == GradeValues(rop=RopPresence.YES, stage=Stage.S2, quality=Quality.GRADABLE)
    assert not ws.panel.ungradable_banner.isVisible()


def test_stored_ungradable_draft_with_a_stage_cannot_be_submitted(qtbot, ws) -> None:
    image = ws.current
    bad = GradeValues(quality=Quality.UNGRADABLE, stage=Stage.S2)
    ws.checker.save_draft(image, bad)  # e.g. written by an older version or another tool
    other = ws.checker.next_todo(image)
    ws.show_image(other)
    ws.show_image(image)
    assert ws.panel.values() == bad
    with qtbot.assertNotEmitted(ws.workspace.gradeSubmitted):
        ws.key(Qt.Key.Key_Return)
    assert "ungradable image takes no stage" in ws.panel.notice.text()
    assert not ws.stored_grade(image).submitted and ws.current == image

    ws.workspace.submit()  # even a direct call: the service refuses and the status bar says why
    assert "ungradable image takes no stage" in ws.status_message()
    assert not ws.stored_grade(image).submitted
    with pytest.raises(GradingError, match="ungradable image takes no stage"):
        ws.checker.submit(image, bad)
    assert not ws.stored_grade(image).submitted


def test_next_image_keys_move_through_the_worklist(qtbot, ws) -> None:
    first = ws.current
    with qtbot.waitSignal(ws.workspace.imageShown, timeout=10_000) as shown:
        ws.key(Qt.Key.Key_PageDown)
    assert shown.args == [ws.checker.next_todo(first)]
    with qtbot.waitSignal(ws.workspace.imageShown, timeout=10_000) as shown:
        ws.key(Qt.Key.Key_PageUp)
    assert shown.args == [first]


def test_keys_pressed_while_the_next_image_loads_never_grade_the_wrong_image(qtbot, ws) -> None:
    """The grader moves on and types at once: the edit belongs to the image still on screen,
    never to the one being decoded (whose panel is not shown yet)."""
    first = ws.current
    target = ws.window.worklist.model.image_id_at(ws.window.worklist.model.rowCount() - 1)  # not prefetched
    ws.key("n")
    ws.workspace.open_image(target)  # decoding in the loader thread; the first image is still shown
    ws.key("p")
    ws.key("g")
    ws.clicks(TRIANGLE)
    ws.click(*TRIANGLE[0])
    assert not ws.stored_grade(target).exists and ws.stored_shapes(target) == []
    assert ws.stored_grade(first).values.plus is Plus.NORMAL
    assert len(ws.stored_shapes(first)) == 1
    with qtbot.waitSignal(ws.workspace.gradeSubmitted, timeout=2000) as submitted:
        ws.key(Qt.Key.Key_Return)  # submits what is on screen, and stays on the way to the chosen image
    assert submitted.args == [first] and ws.stored_grade(first).submitted
    assert ws.current == target
    qtbot.waitUntil(lambda: ws.canvas.image_size() is not None and ws.current == target
                    and ws.panel.values() == GradeValues(), timeout=10_000)
    assert not ws.stored_grade(target).exists
