"""Drawing new polygons: click-by-click, tracing, and the refusal or repair of bad outlines."""

from __future__ import annotations

import itertools
import uuid

import pytest
from PySide6.QtCore import Qt
from shapely.geometry import Point as SPoint
from shapely.geometry import Polygon

from rop_desktop.domain.labels import LesionType, Stage
from rop_desktop.ui.canvas import ImageCanvas

TRIANGLE = [(80.0, 10.0), (120.0, 10.0), (100.0, 40.0)]
TOL = 0.2  # image pixels: integer viewport positions at zoom 6.25


def assert_points(actual, expected) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=False):
        assert a == pytest.approx(e, abs=TOL)


def test_polygon_closed_on_its_first_vertex_then_undo_redo(canvas: ImageCanvas, ui,
                                                           signals) -> None:
    canvas.set_new_shape_defaults(LesionType.RIDGE, Stage.S2)
    canvas.set_tool("polygon")
    for x, y in TRIANGLE:
        ui.click(x, y)
    assert canvas.shapes()[-1].id == "sq"  # nothing yet
    ui.click(*TRIANGLE[0])  # close

    (added,), = signals.of("shapeAdded")
    assert_points(added.points, TRIANGLE)
    assert uuid.UUID(added.id).version == 4
    assert (added.lesion_type, added.stage, added.source) == (LesionType.RIDGE, Stage.S2, "drawn")
    assert canvas.shapes()[-1] == added
    assert canvas.selected_id() == added.id
    assert canvas.undo_stack.count() == 1
    assert canvas.tool_object("polygon").points == ()

    signals.clear()
    canvas.undo_stack.undo()
    assert signals.of("shapeRemoved") == [(added.id,)]
    assert [s.id for s in canvas.shapes()] == ["sq"]
    assert canvas.selected_id() is None

    signals.clear()
    canvas.undo_stack.redo()
    assert signals.of("shapeAdded") == [(added,)]
    assert canvas.shapes()[-1] == added


def test_polygon_closed_with_enter(canvas: ImageCanvas, ui, signals) -> None:
    canvas.set_tool("polygon")
    for x, y in TRIANGLE:
        ui.click(x, y)
    ui.key(Qt.Key.Key_Return)
    (added,), = signals.of("shapeAdded")
    assert_points(added.points, TRIANGLE)


def test_backspace_removes_the_last_vertex_and_escape_cancels(canvas: ImageCanvas, ui,
                                                              signals) -> None:
    canvas.set_tool("polygon")
    for x, y in [*TRIANGLE, (70.0, 60.0)]:
        ui.click(x, y)
    ui.key(Qt.Key.Key_Backspace)
    assert_points(canvas.tool_object("polygon").points, TRIANGLE)
    ui.key(Qt.Key.Key_Escape)
    assert canvas.tool_object("polygon").points == ()
    ui.key(Qt.Key.Key_Return)  # nothing left to close
    assert signals.of("shapeAdded") == [] and canvas.undo_stack.count() == 0


def test_two_point_polygon_is_refused_with_a_message(canvas: ImageCanvas, ui, signals) -> None:
    canvas.set_tool("polygon")
    ui.click(80, 10)
    ui.click(120, 10)
    ui.key(Qt.Key.Key_Enter)
    assert signals.of("message") == [("A polygon needs at least 3 points",)]
    assert signals.of("shapeAdded") == []
    assert canvas.undo_stack.count() == 0
    assert len(canvas.tool_object("polygon").points) == 2  # kept: the grader can go on
    ui.click(100, 40)
    ui.click(80, 10)
    assert len(signals.of("shapeAdded")) == 1


def test_bow_tie_is_repaired_to_its_larger_lobe(canvas: ImageCanvas, ui, signals) -> None:
    canvas.set_tool("polygon")
    for x, y in [(70, 5), (110, 45), (110, 5), (70, 15)]:  # crossing edges: lobes of 640 and 40 px²
        ui.click(x, y)
    ui.key(Qt.Key.Key_Return)
    (msg,), = signals.of("message")
    assert "self-intersection repaired" in msg and "largest of 2" in msg
    (added,), = signals.of("shapeAdded")
    poly = Polygon(added.points)
    assert poly.is_valid and poly.area == pytest.approx(640, rel=0.03)


def test_vertices_outside_the_image_are_clipped(canvas: ImageCanvas, ui, signals) -> None:
    canvas.set_tool("polygon")
    for x, y in [(80, -8), (124, -8), (124, 30)]:  # above the image, in the view's margin
        ui.click(x, y)
    ui.key(Qt.Key.Key_Return)
    assert signals.of("message") == [("Polygon accepted: clipped to the image",)]
    (added,), = signals.of("shapeAdded")
    xs, ys = zip(*added.points, strict=False)
    assert min(ys) == pytest.approx(0.0) and max(xs) <= 128 and max(ys) <= 64  # the image is 128x64


def test_polygon_fully_outside_the_image_is_refused(canvas: ImageCanvas, ui, signals) -> None:
    canvas.set_tool("polygon")
    for x, y in [(10, -10), (60, -10), (40, -4)]:
        ui.click(x, y)
    ui.key(Qt.Key.Key_Return)
    assert signals.of("message") == [("The polygon lies outside the image",)]
    assert signals.of("shapeAdded") == []


def test_switching_tool_drops_the_polygon_in_progress(canvas: ImageCanvas, ui) -> None:
    canvas.set_tool("polygon")
    ui.click(80, 10)
    ui.click(120, 10)
    canvas.set_tool("select")
    canvas.set_tool("polygon")
    assert canvas.tool_object("polygon").points == ()
    with pytest.raises(ValueError, match="unknown canvas tool 'lasso'"):
        canvas.set_tool("lasso")


def test_trace_turns_a_dragged_line_into_a_band(canvas: ImageCanvas, ui, signals) -> None:
    canvas.set_tool("trace")
    canvas.set_trace_width(6)
    line = [(70.0, 30.0), (80.0, 32.0), (90.0, 33.0), (100.0, 32.0), (110.0, 30.0)]
    ui.drag(line)
    (added,), = signals.of("shapeAdded")
    assert added.source == "traced"
    poly = Polygon(added.points)
    assert poly.is_valid
    assert all(poly.contains(SPoint(x, y)) for x, y in line)
    length = sum(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 for (x0, y0), (x1, y1) in itertools.pairwise(line))
    assert poly.area == pytest.approx(length * 6 + 3.1416 * 9, rel=0.1)
    assert not poly.contains(SPoint(90, 40))  # 7 px off the line: outside a 6 px band
    assert [type(i).__name__ for i in canvas.scene().items() if i.zValue() >= 1000] == ["CircleItem"]  # brush only

    canvas.undo_stack.undo()
    assert signals.of("shapeRemoved") == [(added.id,)]


def test_trace_width_is_checked(canvas: ImageCanvas) -> None:
    with pytest.raises(ValueError, match="positive"):
        canvas.set_trace_width(0)
    canvas.set_trace_width(12.5)
    assert canvas.trace_width() == 12.5
