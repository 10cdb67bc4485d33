"""Editing with the select tool — every edit one undo command, undo/redo exact, signals for each.

The canvas fixture holds the square "sq": (20,20) (60,20) (60,50) (20,50) on a 128x64 image.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from rop_desktop.domain.labels import LesionType, Stage
from rop_desktop.domain.shapes import Shape
from rop_desktop.ui.canvas import ImageCanvas

TOL = 0.2  # image pixels: integer viewport positions at zoom 6.25


def select_square(canvas: ImageCanvas, ui, signals) -> Shape:
    ui.click(40, 35)  # inside
    assert canvas.selected_id() == "sq"
    assert signals.of("selectionChanged") == [("sq",)]
    signals.clear()
    return canvas.shape("sq")


def assert_undo_redo(canvas: ImageCanvas, signals, before: Shape, after: Shape) -> None:
    """One command on the stack; undo and redo restore exactly and say so."""
    assert canvas.undo_stack.count() == 1
    signals.clear()
    canvas.undo_stack.undo()
    assert canvas.shape(before.id) == before
    assert signals.of("shapeChanged") == [(before,)]
    signals.clear()
    canvas.undo_stack.redo()
    assert canvas.shape(before.id) == after
    assert signals.of("shapeChanged") == [(after,)]


def test_click_selects_and_empty_space_deselects(canvas: ImageCanvas, ui, signals) -> None:
    select_square(canvas, ui, signals)
    ui.click(100, 10)
    assert canvas.selected_id() is None
    assert signals.of("selectionChanged") == [(None,)]
    ui.click(60.3, 35)  # on the outline, just outside
    assert canvas.selected_id() == "sq"


def test_drag_a_vertex_pushes_one_command(canvas: ImageCanvas, ui, signals) -> None:
    before = select_square(canvas, ui, signals)
    ui.drag([(60, 20), (63, 18), (66, 15), (70, 12)])
    (after,), = signals.of("shapeChanged")
    assert after.points[1] == pytest.approx((70, 12), abs=TOL)
    assert after.points[0] == before.points[0] and after.points[2:] == before.points[2:]
    assert canvas.shape("sq") == after
    assert_undo_redo(canvas, signals, before, after)


def test_drag_the_polygon_moves_it(canvas: ImageCanvas, ui, signals) -> None:
    before = select_square(canvas, ui, signals)
    ui.drag([(40, 35), (45, 37), (50, 40)])
    (after,), = signals.of("shapeChanged")
    dx, dy = after.points[0][0] - before.points[0][0], after.points[0][1] - before.points[0][1]
    assert (dx, dy) == pytest.approx((10, 5), abs=TOL)
    assert after == before.translated(dx, dy)
    assert canvas.layer.item("sq").pos().isNull()  # the preview offset is folded into the points
    assert_undo_redo(canvas, signals, before, after)


def test_a_tiny_jitter_is_a_click_not_a_move(canvas: ImageCanvas, ui, signals) -> None:
    before = select_square(canvas, ui, signals)
    ui.drag([(40, 35), (40.2, 35.1)])  # ~1 screen pixel
    assert canvas.undo_stack.count() == 0 and canvas.shape("sq") == before


def test_moving_the_polygon_off_the_image_snaps_back(canvas: ImageCanvas, ui, signals) -> None:
    before = select_square(canvas, ui, signals)
    ui.drag([(40, 35), (40, 10), (40, -45)])  # the whole square ends above the image
    assert signals.of("message") == [("The polygon lies outside the image",)]
    assert canvas.shape("sq") == before and canvas.undo_stack.count() == 0
    assert canvas.layer.item("sq").displayed_points() == before.points


def test_double_click_on_an_edge_inserts_a_vertex(canvas: ImageCanvas, ui, signals) -> None:
    before = select_square(canvas, ui, signals)
    ui.double_click(40, 20.1)  # top edge
    (after,), = signals.of("shapeChanged")
    assert len(after.points) == 5
    assert after.points[1] == pytest.approx((40, 20), abs=TOL)
    assert canvas.layer.active_vertex == 1
    assert_undo_redo(canvas, signals, before, after)


def test_right_click_on_a_handle_deletes_the_vertex_but_never_below_three(canvas: ImageCanvas, ui,
                                                                          signals) -> None:
    before = select_square(canvas, ui, signals)
    ui.click(60, 50, Qt.MouseButton.RightButton)
    (after,), = signals.of("shapeChanged")
    assert after.points == (before.points[0], before.points[1], before.points[3])
    signals.clear()
    ui.click(20, 20, Qt.MouseButton.RightButton)  # a triangle keeps its 3 vertices
    assert signals.of("message") == [("A polygon needs at least 3 points",)]
    assert signals.of("shapeChanged") == [] and canvas.shape("sq") == after
    assert_undo_redo(canvas, signals, before, after)


def test_delete_key_removes_the_clicked_vertex(canvas: ImageCanvas, ui, signals) -> None:
    before = select_square(canvas, ui, signals)
    ui.click(20, 50)  # a handle: becomes the active (red) vertex
    assert canvas.layer.active_vertex == 3
    ui.key(Qt.Key.Key_Delete)
    (after,), = signals.of("shapeChanged")
    assert after.points == before.points[:3]
    assert canvas.layer.active_vertex is None


def test_delete_key_removes_the_selected_polygon_and_undo_restores_it(canvas: ImageCanvas, ui, signals) -> None:
    other = Shape(id="tri", points=((80, 10), (120, 10), (100, 40)))
    assert canvas.add_shape(other) == other
    canvas.undo_stack.clear()
    before = select_square(canvas, ui, signals)
    ui.key(Qt.Key.Key_Delete)
    assert signals.of("shapeRemoved") == [("sq",)]
    assert signals.of("selectionChanged") == [(None,)]
    assert [s.id for s in canvas.shapes()] == ["tri"]
    signals.clear()
    canvas.undo_stack.undo()
    assert signals.of("shapeAdded") == [(before,)]
    assert canvas.shapes() == [before, other]  # back under "tri", where it was
    signals.clear()
    canvas.undo_stack.redo()
    assert signals.of("shapeRemoved") == [("sq",)]


def test_shape_attributes_change_through_the_undo_stack(canvas: ImageCanvas, signals) -> None:
    before = canvas.shape("sq")
    canvas.set_shape_attributes("sq", LesionType.RIDGE, Stage.S3)
    (after,), = signals.of("shapeChanged")
    assert (after.lesion_type, after.stage, after.points) == (LesionType.RIDGE, Stage.S3, before.points)
    assert_undo_redo(canvas, signals, before, after)
    canvas.set_shape_attributes("sq", LesionType.RIDGE, Stage.S3)  # unchanged: no command
    assert canvas.undo_stack.count() == 1
    with pytest.raises(KeyError, match="no shape with id 'nope'"):
        canvas.set_shape_attributes("nope", LesionType.RIDGE, None)


def test_escape_deselects_and_set_image_resets_history(canvas: ImageCanvas, ui, signals, rgb) -> None:
    select_square(canvas, ui, signals)
    ui.key(Qt.Key.Key_Escape)
    assert canvas.selected_id() is None
    canvas.set_shape_attributes("sq", LesionType.RIDGE, None)
    signals.clear()
    canvas.set_image(rgb, [Shape(points=((1, 1), (9, 1), (5, 6)))])
    (loaded,) = canvas.shapes()
    assert isinstance(loaded.id, str) and canvas.undo_stack.count() == 0
    assert signals.of("shapeAdded") == [] and signals.of("shapeRemoved") == []


def test_an_undo_during_a_drag_drops_the_drag(canvas: ImageCanvas, ui, qtbot, signals) -> None:
    canvas.set_shape_attributes("sq", LesionType.RIDGE, None)
    changed = canvas.shape("sq")
    select_square(canvas, ui, signals)
    vp = canvas.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=ui.pos(60, 20))
    qtbot.mouseMove(vp, ui.pos(70, 10))
    canvas.undo_stack.undo()  # e.g. Ctrl+Z from the host's menu
    restored = canvas.shape("sq")
    assert restored.lesion_type is LesionType.DEMARCATION_LINE
    assert canvas.layer.item("sq").displayed_points() == restored.points
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=ui.pos(70, 10))
    assert canvas.shape("sq") == restored and canvas.undo_stack.index() == 0
    canvas.undo_stack.redo()
    assert canvas.shape("sq") == changed
