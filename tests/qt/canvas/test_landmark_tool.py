"""The canvas's Landmarks tool on its own: clicks and keys place the optic disc and fovea as
undoable edits (each reported by ``landmarksChanged``, its undo and redo too), the rings follow,
and the tool's keys belong to it only while it is active."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent

from rop_desktop.domain.zones import Landmarks

TOL = 0.2  # image pixels at zoom 6.25


def near(p, q) -> bool:
    return p is not None and abs(p[0] - q[0]) <= TOL and abs(p[1] - q[1]) <= TOL


def test_clicks_place_disc_then_fovea_and_undo_redo_report_each_change(canvas, ui) -> None:
    changes: list[Landmarks] = []
    canvas.landmarksChanged.connect(changes.append)
    canvas.set_tool("landmarks")
    ui.click(90, 32)
    assert near(canvas.landmarks().disc, (90, 32)) and canvas.landmarks().fovea is None
    assert canvas.zone_rings() is None
    ui.click(80, 32)
    assert near(canvas.landmarks().fovea, (80, 32))
    rings = canvas.zone_rings()
    assert rings is not None and rings.zone_i == pytest.approx(20, abs=2 * TOL)
    assert len(changes) == 2 and changes[-1] == canvas.landmarks()
    canvas.undo_stack.undo()
    assert canvas.landmarks().fovea is None and canvas.zone_rings() is None and changes[-1].fovea is None
    canvas.undo_stack.redo()
    assert near(changes[-1].fovea, (80, 32)) and len(changes) == 4
    assert canvas.undo_stack.undoText() == "Place the fovea"


def test_a_drag_from_the_disc_measures_it_and_clicks_off_the_image_are_clamped(canvas, ui) -> None:
    canvas.set_tool("landmarks")
    ui.drag([(90, 32), (93, 32), (96, 32)])
    assert near(canvas.landmarks().disc, (90, 32)) and canvas.landmarks().disc_radius == pytest.approx(6, abs=TOL)
    assert canvas.undo_stack.undoText() == "Measure the optic disc"
    ui.click(140, 70)                               # beyond the image's corner: on its edge
    assert canvas.landmarks().fovea == (128.0, 64.0)


def test_d_and_f_place_under_the_pointer_only_in_the_landmarks_tool(canvas, ui, qtbot) -> None:
    override = QKeyEvent(QEvent.Type.ShortcutOverride, Qt.Key.Key_F, Qt.KeyboardModifier.NoModifier, "f")
    assert not canvas.event(override) or not override.isAccepted()   # select tool: F stays the window's (fit)
    canvas.set_tool("landmarks")
    override = QKeyEvent(QEvent.Type.ShortcutOverride, Qt.Key.Key_F, Qt.KeyboardModifier.NoModifier, "f")
    canvas.event(override)
    assert override.isAccepted()                                       # the tool takes F
    ctrl = QKeyEvent(QEvent.Type.ShortcutOverride, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier, "f")
    canvas.event(ctrl)
    assert not ctrl.isAccepted()                                       # never a chord
    qtbot.mouseMove(canvas.viewport(), ui.pos(40, 20))
    ui.key(Qt.Key.Key_F)
    assert near(canvas.landmarks().fovea, (40, 20))
    qtbot.mouseMove(canvas.viewport(), ui.pos(70, 30))
    ui.key(Qt.Key.Key_D)
    assert near(canvas.landmarks().disc, (70, 30))
    ui.key(Qt.Key.Key_Delete)                                          # the armed one: the disc (both placed)
    assert canvas.landmarks().disc is None and canvas.landmarks().fovea is not None


def test_rings_toggle_and_opacity_and_a_new_image_clears_the_landmarks(canvas, ui, rgb) -> None:
    canvas.set_landmarks(Landmarks(disc=(90, 32), fovea=(80, 32)))      # stored ones: no undo step
    assert canvas.undo_stack.count() == 0 and canvas.zone_rings() is not None
    item = canvas.landmark_layer.rings_item
    assert item.isVisible()
    canvas.set_zone_rings_visible(False)
    assert not item.isVisible() and not canvas.zone_rings_visible()
    canvas.set_zone_rings_visible(True)
    canvas.set_zone_rings_opacity(0.3)
    assert item.opacity() == pytest.approx(0.3)
    with pytest.raises(ValueError, match="opacity"):
        canvas.set_zone_rings_opacity(1.5)
    canvas.set_image(rgb, [])
    assert canvas.landmarks().empty and canvas.zone_rings() is None
