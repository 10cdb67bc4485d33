"""Nothing lost: close the window, open the study again (a new Study.open and build_window) and
the polygons, a draft of another image and a submitted grade are all there, as they were left."""

from __future__ import annotations

from PySide6.QtCore import Qt

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone

CTRL = Qt.KeyboardModifier.ControlModifier
SQUARE = [(200.0, 150.0), (320.0, 150.0), (320.0, 260.0), (200.0, 260.0)]
TRIANGLE = [(400.0, 300.0), (480.0, 300.0), (440.0, 380.0)]


def test_polygons_draft_and_submitted_grade_survive_closing_and_reopening(qtbot, ws) -> None:
    graded = ws.current
    ws.key("g")  # two polygons, then a third one undone: two stay
    for outline in (SQUARE, TRIANGLE, [(100.0, 50.0), (150.0, 50.0), (125.0, 90.0)]):
        ws.clicks(outline)
        ws.click(*outline[0])
    ws.key(Qt.Key.Key_Z, CTRL)
    drawn = ws.canvas.shapes()
    assert len(drawn) == 2
    ws.keys("y", "1", "z", "z")
    ws.key(Qt.Key.Key_Return)  # the outlines count even without a stage: no warning, one Enter submits
    submitted = GradeValues(rop=RopPresence.YES, stage=Stage.S1, zone=Zone.POSTERIOR_II, quality=Quality.GRADABLE)
    assert ws.stored_grade(graded).submitted
    draft_image = ws.checker.next_todo(graded)
    qtbot.waitUntil(lambda: ws.canvas.image_size() is not None and ws.workspace.shown == draft_image,
                    timeout=10_000)
    ws.keys("p", "p", "p")  # a draft of the next image, never submitted
    draft = GradeValues(plus=Plus.PLUS, quality=Quality.GRADABLE)

    ws.reopen()

    worklist = ws.window.worklist
    assert worklist.model.row_of(graded) is None  # "To do for me" (the default) leaves it out
    worklist.status_filter.setCurrentIndex(worklist.status_filter.findData(None))  # "All images"
    status = {row.image_id: row.status for row in worklist.model.rows()}
    assert (status[graded], status[draft_image]) == ("submitted", "draft")
    ws.show_image(graded)
    assert ws.canvas.shapes() == drawn
    assert ws.panel.values() == submitted and ws.panel.submitted
    ws.show_image(draft_image)
    assert ws.panel.values() == draft and not ws.panel.submitted
    assert ws.canvas.shapes() == []

    ws.show_image(graded)  # and the reopened history starts clean: Ctrl+Z has nothing to undo
    ws.key(Qt.Key.Key_Z, CTRL)
    assert ws.stored_shapes(graded) == drawn


def test_start_after_reopening_resumes_at_the_first_image_not_submitted(qtbot, ws) -> None:
    first = ws.current
    ws.key("n")
    with qtbot.waitSignal(ws.workspace.imageShown, timeout=10_000):
        ws.key(Qt.Key.Key_Return)
    second = ws.current
    ws.reopen()
    with qtbot.waitSignal(ws.workspace.imageShown, timeout=10_000) as shown:
        ws.workspace.start()
    assert shown.args == [second] != [first]


def test_reopening_comes_back_to_the_image_left_unfinished(qtbot, ws) -> None:
    third = ws.window.worklist.model.image_id_at(2)
    ws.show_image(third)
    ws.keys("y")  # a draft, not submitted
    ws.reopen()
    ws.workspace.start()
    qtbot.waitUntil(lambda: ws.workspace.shown == third, timeout=10_000)
