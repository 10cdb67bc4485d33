"""Zoom, pan, display settings, read-only layers and repaint cost of the canvas."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from rop_desktop.domain.shapes import Shape
from rop_desktop.imaging.display import DisplaySettings
from rop_desktop.ui.canvas import ImageCanvas, measure_repaint
from rop_desktop.ui.canvas.view import MAX_ZOOM
from training.imageops import paper_b_gray


def scene_at(canvas: ImageCanvas, pos: QPoint) -> tuple[float, float]:
    return canvas.to_scene(QPointF(pos))


def test_wheel_zooms_about_the_cursor(canvas: ImageCanvas, ui, signals) -> None:
    assert canvas.zoom() == pytest.approx(6.25)
    cursor = ui.pos(30, 20)
    before = scene_at(canvas, cursor)
    ui.wheel(cursor, 120)
    assert canvas.zoom() == pytest.approx(6.25 * 2 ** 0.25)
    assert signals.of("zoomChanged")[-1][0] == pytest.approx(canvas.zoom())
    assert scene_at(canvas, cursor) == pytest.approx(before, abs=1.0 / canvas.zoom())
    for _ in range(3):
        ui.wheel(cursor, -120)
    assert scene_at(canvas, cursor) == pytest.approx(before, abs=1.0 / canvas.zoom())
    for _ in range(40):
        ui.wheel(cursor, 120)
    assert canvas.zoom() == pytest.approx(MAX_ZOOM)


def test_fit_and_actual_size(canvas: ImageCanvas) -> None:
    canvas.actual_size()
    assert canvas.zoom() == pytest.approx(1.0)
    canvas.fit()
    assert canvas.zoom() == pytest.approx(6.25)
    centre = scene_at(canvas, canvas.viewport().rect().center())
    assert centre == pytest.approx((64, 32), abs=0.5)


def test_middle_drag_and_space_drag_pan(canvas: ImageCanvas, ui, qtbot) -> None:
    probe = QPoint(400, 300)
    start = scene_at(canvas, probe)
    ui.drag_pixels(QPoint(300, 300), [(20, 10), (50, 25)], Qt.MouseButton.MiddleButton)
    moved = scene_at(canvas, probe)
    assert (start[0] - moved[0], start[1] - moved[1]) == pytest.approx((50 / 6.25, 25 / 6.25), abs=0.2)
    assert canvas.undo_stack.count() == 0 and canvas.selected_id() is None

    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    ui.drag_pixels(QPoint(300, 300), [(-50, -25)])
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert scene_at(canvas, probe) == pytest.approx(start, abs=0.2)
    assert canvas.undo_stack.count() == 0


def test_pan_tool_pans_with_the_left_button(canvas: ImageCanvas, ui) -> None:
    canvas.set_tool("pan")
    probe = QPoint(400, 300)
    start = scene_at(canvas, probe)
    ui.drag_pixels(ui.pos(40, 35), [(-30, 0), (-62, 0)])  # starts on the square: still only a pan
    assert scene_at(canvas, probe)[0] - start[0] == pytest.approx(62 / 6.25, abs=0.2)
    assert canvas.undo_stack.count() == 0


def test_cursor_position_is_reported_in_image_pixels(canvas: ImageCanvas, ui, qtbot) -> None:
    with qtbot.waitSignal(canvas.cursorMoved) as blocker:
        qtbot.mouseMove(canvas.viewport(), ui.pos(33, 21))
    assert blocker.args == pytest.approx([33, 21], abs=0.2)


def pixel(canvas: ImageCanvas, x: int, y: int) -> tuple[int, int, int]:
    color = canvas.backdrop.image_item.pixmap().toImage().pixelColor(x, y)
    return color.red(), color.green(), color.blue()


def test_display_settings_change_the_pixels_shown(canvas: ImageCanvas, rgb: np.ndarray) -> None:
    assert pixel(canvas, 50, 10) == (100, 40, 60)  # red = 2x, green = 4y
    canvas.set_display_settings(DisplaySettings(mode="green"))
    assert pixel(canvas, 50, 10) == (40, 40, 40)
    canvas.set_display_settings(DisplaySettings(mode="green", brightness=30))
    assert pixel(canvas, 50, 10) == (70, 70, 70)
    canvas.set_display_settings(DisplaySettings(mode="clahe"))
    expected = int(paper_b_gray(rgb)[10, 50])
    assert pixel(canvas, 50, 10) == (expected,) * 3
    assert np.array_equal(canvas.displayed_image()[..., 0], paper_b_gray(rgb))
    canvas.set_display_settings(DisplaySettings())
    assert pixel(canvas, 50, 10) == (100, 40, 60)


def test_field_of_view_outline_follows_the_setting(canvas: ImageCanvas, rgb: np.ndarray) -> None:
    canvas.set_image(rgb, [], fov=(64, 32, 30))
    fov = canvas.backdrop.fov_item
    assert not fov.isVisible()
    canvas.set_display_settings(DisplaySettings(show_fov=True))
    assert fov.isVisible() and fov.radius == 30 and (fov.pos().x(), fov.pos().y()) == (64, 32)


def test_overlays_and_reference_outlines_are_read_only(canvas: ImageCanvas, ui) -> None:
    mask = np.zeros((16, 32, 4), np.uint8)  # a quarter-resolution model mask
    mask[..., 0] = 255
    mask[..., 3] = 200
    canvas.set_overlay("model", mask, 0.4)
    item = canvas.backdrop.overlay_item("model")
    assert item.opacity() == pytest.approx(0.4)
    assert item.sceneBoundingRect().size().toTuple() == (128, 64)  # stretched over the image
    with pytest.raises(ValueError, match="HxWx4"):
        canvas.set_overlay("bad", mask[..., :3], 0.5)
    canvas.set_overlay("model", None, 0.4)
    assert canvas.backdrop.overlay_names() == []

    grader_b = Shape(id="b1", points=((80, 10), (120, 10), (100, 40)))
    canvas.set_reference_shapes("grader B", [grader_b], "#ff00ff")
    ui.click(100, 20)  # inside grader B's polygon: nothing to select
    assert canvas.selected_id() is None
    assert [s.id for s in canvas.shapes()] == ["sq"]
    canvas.set_reference_shapes("grader B", [])
    assert canvas.backdrop.reference_names() == []


def test_vertex_handles_keep_their_screen_size(canvas: ImageCanvas, ui, signals) -> None:
    ui.click(40, 35)
    item = canvas.layer.item("sq")
    margins = []
    for zoom in (2.0, 6.25, 20.0):
        canvas.set_zoom(zoom, ui.pos(60, 20))
        margins.append(item.margin() * zoom)  # bounding margin in screen pixels
        near = ui.pos(60, 20) + QPoint(5, 4)  # 5-6 screen pixels from the vertex at every zoom
        assert canvas.layer.vertex_at("sq", scene_at(canvas, near), canvas.scene_tol(8)) == 1
    assert margins == pytest.approx([margins[0]] * 3)


def test_repaint_of_twenty_dense_polygons_can_be_measured(canvas: ImageCanvas, rgb: np.ndarray) -> None:
    angles = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    shapes = [Shape(id=f"s{i}", points=tuple(zip(10 + 6 * (i % 10) + 5 * np.cos(angles),
                                                 16 + 30 * (i // 10) + 12 * np.sin(angles), strict=False)))
              for i in range(20)]
    canvas.set_image(rgb, shapes)
    canvas.select("s3")
    seconds = measure_repaint(canvas, repeats=3)
    assert 0 < seconds < 1.0  # the lead's benchmark holds the real budget (16 ms)
    with pytest.raises(ValueError):
        measure_repaint(canvas, repeats=0)
