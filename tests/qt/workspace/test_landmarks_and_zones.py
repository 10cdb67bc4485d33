"""The Landmarks tool in the real window: the disc and the fovea placed with the mouse (and keys D
and F) reach the store at once, undo and redo follow in the store, the zone rings appear, and the
grade panel's zone suggestion is accepted (Alt+Z) or overridden — both stored."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from rop_desktop.domain.labels import Zone
from rop_desktop.services.landmarks import LandmarkService

CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
ALT = Qt.KeyboardModifier.AltModifier
TOL = 1.5  # image pixels: integer viewport positions at the fit zoom
DISC, FOVEA = (420.0, 240.0), (350.0, 240.0)  # disc–fovea distance 70: zone I reaches 140 px


def stored(ws):
    return LandmarkService(ws.store, ws.actor).my_landmarks(ws.current)


def near(p, q) -> bool:
    return p is not None and abs(p[0] - q[0]) <= TOL and abs(p[1] - q[1]) <= TOL


def test_two_clicks_place_the_disc_and_fovea_and_the_rings_appear(ws) -> None:
    ws.key("d")
    assert ws.canvas.tool() == "landmarks"
    ws.drag([DISC, (DISC[0] + 12, DISC[1]), (DISC[0] + 20, DISC[1])])   # press on the disc, drag to its rim
    after_disc = stored(ws).landmarks
    assert near(after_disc.disc, DISC) and after_disc.disc_radius == pytest.approx(20, abs=TOL)
    assert after_disc.fovea is None and ws.canvas.zone_rings() is None
    ws.click(*FOVEA)                                                   # the tool armed the fovea by itself
    landmarks = stored(ws).landmarks
    assert near(landmarks.fovea, FOVEA) and near(landmarks.disc, DISC)
    rings = ws.canvas.zone_rings()
    assert rings is not None and rings.zone_i == pytest.approx(140, abs=2 * TOL)
    assert rings.posterior_ii == pytest.approx(rings.zone_i + 2 * 2 * landmarks.disc_radius)
    assert not rings.disc_estimated
    assert ws.canvas.landmark_layer.rings_item.isVisible()
    ws.key("r")                                                        # zone rings off and on again
    assert not ws.canvas.landmark_layer.rings_item.isVisible()
    assert not ws.window.wiring.landmarks.controls.toggle.isChecked()
    ws.key("r")
    assert ws.canvas.landmark_layer.rings_item.isVisible()
    ws.window.wiring.landmarks.controls.opacity.setValue(40)
    assert ws.canvas.landmark_layer.rings_item.opacity() == pytest.approx(0.4)


def test_landmark_edits_undo_and_redo_in_the_store_and_d_f_place_at_the_pointer(ws) -> None:
    ws.key("d")
    ws.clicks([DISC, FOVEA])
    ws.key(Qt.Key.Key_Z, CTRL)                      # undo the fovea: gone from the store
    assert stored(ws).landmarks.fovea is None and near(stored(ws).landmarks.disc, DISC)
    ws.key(Qt.Key.Key_Z, CTRL_SHIFT)                # redo: back
    assert near(stored(ws).landmarks.fovea, FOVEA)
    zoom = ws.canvas.zoom()
    ws.qtbot.mouseMove(ws.canvas.viewport(), ws.pos(300.0, 200.0))
    ws.key("f")                                     # F puts the fovea under the pointer (it does not fit the image)
    assert near(stored(ws).landmarks.fovea, (300.0, 200.0)) and ws.canvas.zoom() == zoom
    ws.qtbot.mouseMove(ws.canvas.viewport(), ws.pos(430.0, 250.0))
    ws.key("d")                                     # D moves the disc under the pointer, keeping its tool
    assert near(stored(ws).landmarks.disc, (430.0, 250.0)) and ws.canvas.tool() == "landmarks"
    ws.key(Qt.Key.Key_Delete)                       # removes the armed landmark (the disc, just placed)
    assert stored(ws).landmarks.disc is None and ws.canvas.zone_rings() is None
    ws.key(Qt.Key.Key_Z, CTRL)
    assert near(stored(ws).landmarks.disc, (430.0, 250.0))
    # another image and back: the stored landmarks come back on the canvas
    image = ws.current
    other = ws.workspace.service.next_todo(image)
    ws.show_image(other)
    assert ws.canvas.landmarks().empty
    ws.show_image(image)
    assert near(ws.canvas.landmarks().disc, (430.0, 250.0))


def test_the_suggested_zone_is_accepted_with_alt_z_and_an_override_is_stored_too(ws) -> None:
    image = ws.current
    hint = ws.panel.zone_hint
    ws.key("d")
    ws.clicks([DISC, FOVEA])
    assert hint.isVisible() and hint.suggestion.zone is None
    assert "No ridge or demarcation line" in hint.label.text()
    ws.key("g")                                     # outline a ridge 230 px temporal of the disc: zone II
    ridge = [(160.0, 225.0), (190.0, 225.0), (190.0, 255.0), (160.0, 255.0)]
    ws.clicks(ridge)
    ws.click(*ridge[0])
    suggestion = hint.suggestion
    assert suggestion.zone is Zone.II and suggestion.distance_df == pytest.approx(230 / 70, abs=0.05)
    assert "Zone II" in hint.label.text() and hint.accept_button.isVisible()
    ws.key(Qt.Key.Key_Z, ALT)                       # accept
    assert ws.panel.values().zone is Zone.II
    assert ws.stored_grade(image).values.zone is Zone.II
    mine = stored(ws)
    assert (mine.suggested_zone, mine.zone_decision, mine.decided_zone) == (Zone.II, "accepted", Zone.II)
    assert "accepted" in hint.label.text() and not hint.accept_button.isVisible()
    ws.key("z")                                     # the grader disagrees: zone cycles on to III
    assert ws.panel.values().zone is Zone.III
    mine = stored(ws)
    assert (mine.suggested_zone, mine.zone_decision, mine.decided_zone) == (Zone.II, "overridden", Zone.III)
    assert ws.stored_grade(image).values.zone is Zone.III
