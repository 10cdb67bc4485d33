"""Issue 17 item 12: a polygon being drawn (three clicks, not closed yet) survives a crash.

The crash is simulated by leaving the window and its study connection as they are — nothing is
closed, no shutdown hook runs — and opening a new window on the same study folder.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

from rop_desktop.domain.labels import LesionType, Stage
from rop_desktop.services.outline_drafts import outline_draft

TRIANGLE = [(200.0, 150.0), (320.0, 150.0), (260.0, 250.0)]


def _crash_and_reopen(ws) -> tuple[object, object]:
    """Abandon the window as a crash would and start a new one on the same study."""
    crashed, connection = ws.window, ws.study
    crashed.hide()
    ws.window = ws.study = None
    ws.open(start=False)
    return crashed, connection


def _close_abandoned(crashed, connection) -> None:
    crashed.close()
    crashed.deleteLater()
    connection.close()


def test_an_unclosed_polygon_is_restored_after_a_crash_and_can_be_closed(qtbot, ws) -> None:
    image = ws.current
    ws.window.stage_combo.setCurrentIndex(ws.window.stage_combo.findData(Stage.S2))
    ws.key("g")
    ws.clicks(TRIANGLE)  # three vertices, not closed
    kept = outline_draft(ws.store, ws.actor)
    assert kept is not None and kept.image_id == image and len(kept.points) == 3 and kept.stage is Stage.S2
    assert ws.stored_shapes(image) == []  # not an outline yet: nobody sees it, nothing counts it

    crashed, connection = _crash_and_reopen(ws)
    try:
        polygon = ws.canvas.tool_object("polygon")
        with qtbot.waitSignal(ws.workspace.imageShown, timeout=10_000):
            ws.workspace.start()
        qtbot.waitUntil(lambda: polygon.busy, timeout=10_000)
        assert ws.current == image and ws.canvas.tool() == "polygon"
        assert polygon.points == kept.points  # the vertices as clicked (image pixels)
        assert "is back (3 vertices)" in ws.status_message()
        assert ws.window.stage_combo.currentData() == Stage.S2

        ws.canvas.setFocus()
        ws.click(*TRIANGLE[0])  # closes it: now a stored outline, and nothing is kept as unclosed
        (shape,) = ws.stored_shapes(image)
        assert shape.stage is Stage.S2 and shape.lesion_type is LesionType.DEMARCATION_LINE
        assert outline_draft(ws.store, ws.actor) is None
    finally:
        _close_abandoned(crashed, connection)


def test_a_dropped_polygon_is_not_offered_again(qtbot, ws) -> None:
    ws.key("g")
    ws.clicks(TRIANGLE[:2])
    assert outline_draft(ws.store, ws.actor) is not None
    ws.key(Qt.Key.Key_Escape)  # dropped by the grader
    assert outline_draft(ws.store, ws.actor) is None
    ws.clicks(TRIANGLE)
    other = ws.checker.next_todo(ws.current)
    ws.show_image(other)  # left for another image: the canvas drops it, so is the kept one
    assert outline_draft(ws.store, ws.actor) is None


def test_reopening_on_another_image_goes_to_the_unclosed_polygon(qtbot, ws) -> None:
    image = ws.current
    ws.key("g")
    ws.clicks(TRIANGLE)
    other = ws.checker.next_todo(image)
    ws.checker.remember_image(other)  # the study would reopen elsewhere (as after another workstation)
    crashed, connection = _crash_and_reopen(ws)
    try:
        polygon = ws.canvas.tool_object("polygon")
        ws.workspace.start()
        qtbot.waitUntil(lambda: polygon.busy, timeout=10_000)
        assert ws.current == image and ws.workspace.shown == image and len(polygon.points) == 3
    finally:
        _close_abandoned(crashed, connection)
