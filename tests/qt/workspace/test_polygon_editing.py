"""Polygons drawn, traced and edited with the mouse in the real window reach the store at once;
Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y move the STORE back and forth; bad outlines never get stored."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolBar
from shapely.geometry import Polygon

from rop_desktop.domain.labels import LesionType, Stage

CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
SQUARE = [(200.0, 150.0), (320.0, 150.0), (320.0, 260.0), (200.0, 260.0)]
TOL = 1.2  # image pixels: integer viewport positions at the fit zoom (~0.95)


def close_to(points, expected) -> bool:
    return len(points) == len(expected) and all(
        abs(ax - ex) <= TOL and abs(ay - ey) <= TOL for (ax, ay), (ex, ey) in zip(points, expected, strict=False))


def draw_polygon(ws, points) -> None:
    """G, click every vertex, click the first one again to close."""
    ws.key("g")
    assert ws.canvas.tool() == "polygon"
    ws.clicks(points)
    ws.click(*points[0])


def test_polygon_drawn_by_clicks_is_stored_at_once_and_undo_redo_follow_in_the_store(ws) -> None:
    image = ws.current
    assert ws.stored_shapes(image) == []
    draw_polygon(ws, SQUARE)

    (stored,) = ws.stored_shapes(image)
    (shown,) = ws.canvas.shapes()
    assert stored.id == shown.id and close_to(stored.points, SQUARE)
    assert (stored.source, stored.lesion_type) == ("drawn", LesionType.DEMARCATION_LINE)
    assert Polygon(stored.points).is_valid

    ws.key(Qt.Key.Key_Z, CTRL)  # undo the add: soft-deleted in the store
    assert ws.canvas.shapes() == [] and ws.stored_shapes(image) == []
    assert ws.stored_annotation(stored.id).deleted

    ws.key(Qt.Key.Key_Z, CTRL_SHIFT)  # redo: the same row comes back
    assert ws.stored_shapes(image) == [stored]
    assert not ws.stored_annotation(stored.id).deleted

    ws.key(Qt.Key.Key_Z, CTRL)
    assert ws.stored_shapes(image) == []
    ws.key(Qt.Key.Key_Y, CTRL)  # the other redo key
    assert ws.stored_shapes(image) == [stored]


def test_traced_ridge_is_stored_as_a_valid_band_and_undo_redo_follow(ws) -> None:
    image = ws.current
    ws.key("t")
    assert ws.canvas.tool() == "trace"
    line = [(150.0, 300.0), (200.0, 290.0), (250.0, 285.0), (300.0, 290.0), (350.0, 305.0)]
    ws.drag(line)

    (stored,) = ws.stored_shapes(image)
    assert stored.source == "traced"
    band = Polygon(stored.points, stored.holes)
    assert band.is_valid
    width = ws.canvas.trace_width()
    assert band.bounds == pytest.approx((150 - width / 2, 285 - width / 2, 350 + width / 2, 305 + width / 2), abs=2)

    ws.key(Qt.Key.Key_Z, CTRL)
    assert ws.stored_shapes(image) == []
    ws.key(Qt.Key.Key_Y, CTRL)
    assert ws.stored_shapes(image) == [stored]


def test_moved_vertex_updates_the_stored_geometry_and_undo_redo_follow(ws) -> None:
    image = ws.current
    draw_polygon(ws, SQUARE)
    (before,) = ws.stored_shapes(image)
    ws.key("v")
    assert ws.canvas.tool() == "select" and ws.canvas.selected_id() == before.id

    ws.drag([(320.0, 260.0), (340.0, 275.0), (360.0, 290.0)])  # the third vertex's handle

    (after,) = ws.stored_shapes(image)
    assert after.id == before.id
    assert close_to(after.points, [SQUARE[0], SQUARE[1], (360.0, 290.0), SQUARE[3]])
    with ws.store.session() as session:  # one row, updated in place (no copy)
        from rop_desktop.store.repo import annotations_for
        assert len(annotations_for(session, image, ws.grader_id, include_deleted=True)) == 1

    ws.key(Qt.Key.Key_Z, CTRL)
    assert ws.stored_shapes(image) == [before]
    ws.key(Qt.Key.Key_Z, CTRL_SHIFT)
    assert ws.stored_shapes(image) == [after]


def test_polygon_attributes_from_the_toolbar_are_stored(ws) -> None:
    image = ws.current
    ws.window.lesion_combo.setCurrentIndex(ws.window.lesion_combo.findData(LesionType.RIDGE))
    ws.window.stage_combo.setCurrentIndex(ws.window.stage_combo.findData(Stage.S2))
    draw_polygon(ws, SQUARE)
    (stored,) = ws.stored_shapes(image)
    assert (stored.lesion_type, stored.stage) == (LesionType.RIDGE, Stage.S2)

    ws.window.stage_combo.setCurrentIndex(ws.window.stage_combo.findData(Stage.S3))  # the selected one changes
    assert ws.stored_shapes(image)[0].stage is Stage.S3
    ws.key(Qt.Key.Key_Z, CTRL)
    assert ws.stored_shapes(image)[0].stage is Stage.S2


# ---------------------------------------------------------------------- bad outlines
def test_two_point_polygon_is_refused_with_a_message_and_nothing_is_stored(ws) -> None:
    image = ws.current
    ws.key("g")
    ws.clicks([(200.0, 150.0), (320.0, 150.0)])
    ws.key(Qt.Key.Key_Return)
    assert "at least 3 points" in ws.status_message()
    assert ws.stored_shapes(image) == []
    assert ws.canvas.shapes() == []
    assert not ws.stored_grade(image).exists  # Enter closed (tried to close) the polygon; no submit


def test_self_intersecting_polygon_is_repaired_and_only_a_valid_polygon_is_stored(ws) -> None:
    image = ws.current
    bow_tie = [(200.0, 150.0), (400.0, 300.0), (400.0, 150.0), (200.0, 200.0)]  # edges 1 and 3 cross
    assert not Polygon(bow_tie).is_valid
    ws.key("g")
    ws.clicks(bow_tie)
    ws.key(Qt.Key.Key_Return)

    stored = ws.stored_shapes(image)
    assert len(stored) == 1, ws.status_message()
    repaired = Polygon(stored[0].points, stored[0].holes)
    assert repaired.is_valid and repaired.area > 0
    assert "self-intersection repaired" in ws.status_message()
    assert stored == ws.canvas.shapes()


def test_outline_crossing_itself_into_many_pieces_is_refused_and_nothing_is_stored(ws) -> None:
    image = ws.current
    zigzag = [(100.0, 100.0), (150.0, 200.0), (200.0, 100.0), (250.0, 200.0), (300.0, 100.0), (300.0, 200.0),
              (250.0, 100.0), (200.0, 200.0), (150.0, 100.0), (100.0, 200.0)]  # no piece is most of it
    ws.key("g")
    ws.clicks(zigzag)
    ws.key(Qt.Key.Key_Return)
    assert "redraw it" in ws.status_message()
    assert ws.stored_shapes(image) == [] and ws.canvas.shapes() == []
    assert len(ws.canvas.tool_object("polygon").points) == len(zigzag)  # kept on screen for fixing
    ws.key(Qt.Key.Key_Escape)
    assert ws.canvas.tool_object("polygon").points == ()
    assert not ws.stored_grade(image).exists


def test_vertices_outside_the_image_are_clipped_before_they_are_stored(ws) -> None:
    image = ws.current
    width, height = ws.canvas.image_size()
    outline = [(250.0, -60.0), (400.0, -60.0), (400.0, 100.0), (250.0, 100.0)]  # above the top edge
    draw_polygon(ws, outline)

    (stored,) = ws.stored_shapes(image)
    assert all(0.0 <= x <= width and 0.0 <= y <= height for x, y in stored.points)
    assert Polygon(stored.points).is_valid
    assert Polygon(stored.points).bounds == pytest.approx((250.0, 0.0, 400.0, 100.0), abs=TOL)
    assert "clipped to the image" in ws.status_message()


def test_polygon_entirely_outside_the_image_is_refused(ws) -> None:
    image = ws.current
    draw_polygon(ws, [(250.0, -120.0), (400.0, -120.0), (400.0, -40.0)])
    assert "outside the image" in ws.status_message()
    assert ws.stored_shapes(image) == []


def test_toolbar_tool_buttons_and_tool_keys_agree(qtbot, ws) -> None:
    toolbar = ws.window.findChild(QToolBar, "toolbar_tools")
    for name in ("polygon", "trace", "pan", "select"):
        action = ws.window.tool_actions[name]
        qtbot.mouseClick(toolbar.widgetForAction(action), Qt.MouseButton.LeftButton)
        assert ws.canvas.tool() == name and action.isChecked()
    for key, name in (("g", "polygon"), ("t", "trace"), ("h", "pan"), ("v", "select")):
        ws.canvas.setFocus()
        ws.key(key)
        assert ws.canvas.tool() == name and ws.window.tool_actions[name].isChecked()
