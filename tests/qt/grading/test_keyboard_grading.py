"""Grading with real key presses: every key of the grading table, Enter, text fields, read-only."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication, QFrame

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone

ALT = Qt.KeyboardModifier.AltModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def test_grade_a_whole_image_with_the_keyboard_and_submit_with_enter(ws) -> None:
    ws.panel.set_polygon_stages([Stage.S2])
    ws.keys("y", "2", "p", "p", "z", "z", "z", "a", "]", "]", "]")
    ws.key(Qt.Key.Key_4, ALT)
    expected = GradeValues(rop=RopPresence.YES, stage=Stage.S2, zone=Zone.II, plus=Plus.PRE_PLUS, arop=True,
                           extent_clock_hours=3, quality=Quality.GRADABLE, confidence=4)
    assert ws.panel.values() == expected
    assert ws.panel.choice_row("stage").button(Stage.S2).isChecked()
    with ws.qtbot.waitSignal(ws.panel.submitRequested, timeout=1000):
        ws.key(Qt.Key.Key_Return)
    assert ws.submits == [expected]
    assert ws.panel.values() == expected


def test_every_change_emits_values_changed_once_with_the_new_values(ws) -> None:
    ws.keys("3")
    ws.keys("y")  # already implied by stage 3: no change, no signal
    ws.keys("5", "5", "5", "5", "4", "4", "x")
    ws.key(Qt.Key.Key_N, SHIFT)
    ws.key(Qt.Key.Key_P, SHIFT)
    ws.key(Qt.Key.Key_Z, SHIFT)
    ws.keys("[")
    stages = [v.stage for v in ws.changes]
    assert stages[:7] == [Stage.S3, Stage.S5A, Stage.S5B, Stage.S5C, Stage.S5A, Stage.S4A, Stage.S4B]
    assert ws.changes[7].stage is Stage.NA
    assert (ws.changes[8].rop, ws.changes[9].plus, ws.changes[10].zone) == (RopPresence.NA, Plus.NA, Zone.NA)
    assert ws.changes[11].extent_clock_hours == 0
    assert len(ws.changes) == 12
    assert ws.changes[-1] == ws.panel.values()


def test_enter_on_an_inconsistent_grade_shows_why_and_does_not_submit(ws) -> None:
    ws.keys("n", "2")  # "no ROP" (stage 0 implied), then stage 2: a contradiction
    assert (ws.panel.values().rop, ws.panel.values().stage) == (RopPresence.NO, Stage.S2)
    with ws.qtbot.assertNotEmitted(ws.panel.submitRequested):
        ws.key(Qt.Key.Key_Return)
        ws.key(Qt.Key.Key_Enter, Qt.KeyboardModifier.KeypadModifier)
    assert "implies ROP present" in ws.panel.notice.text()
    assert "implies ROP present" in ws.panel.issue_label.text()
    assert not ws.panel.submit_button.isEnabled()
    ws.keys("y")  # fixed; one warning left (no ridge outlined): Enter twice
    assert not ws.panel.notice.isVisible()
    ws.key(Qt.Key.Key_Return)
    assert ws.submits == [] and "warning" in ws.panel.notice.text()
    ws.key(Qt.Key.Key_Return)
    assert len(ws.submits) == 1


def test_unanswered_fields_block_enter_and_turn_red(ws) -> None:
    assert "Not started" in ws.panel.status_label.text()
    assert "○" in ws.panel.issue_label.text() and "✖" not in ws.panel.issue_label.text()
    ws.key(Qt.Key.Key_Return)
    assert ws.submits == [] and "Cannot submit" in ws.panel.notice.text()
    assert "✖" in ws.panel.issue_label.text()
    ws.keys("n")  # no ROP → stage 0, gradable: a complete normal grade in one key
    assert ws.panel.values() == GradeValues(rop=RopPresence.NO, stage=Stage.S0, quality=Quality.GRADABLE)
    assert ws.panel.status_label.text() == "Draft — saved"
    ws.key(Qt.Key.Key_Return)
    assert len(ws.submits) == 1


def test_shift_q_marks_ungradable_clears_and_disables_the_stage_and_shift_q_again_restores(ws) -> None:
    ws.keys("3", "z", "]")
    ws.keys("q")  # a bare Q is not a grading key any more: one stray key cannot lock the grade
    assert ws.panel.values().quality is Quality.GRADABLE and not ws.panel.ungradable_banner.isVisible()
    ws.key(Qt.Key.Key_Q, SHIFT)
    values = ws.panel.values()
    assert values.quality is Quality.UNGRADABLE
    assert (values.rop, values.stage, values.zone, values.extent_clock_hours) == (None, None, None, None)
    assert not ws.panel.choice_row("stage").isEnabled() and not ws.panel.extent_spin.isEnabled()
    assert ws.panel.ungradable_banner.isVisible()
    assert ws.panel.ungradable_banner.text() == "Ungradable is set — press Shift+Q to clear it"
    ws.key(Qt.Key.Key_Return)  # an ungradable image needs no stage
    assert len(ws.submits) == 1 and ws.submits[0].quality is Quality.UNGRADABLE
    ws.key(Qt.Key.Key_Q, SHIFT)
    assert ws.panel.values() == GradeValues(rop=RopPresence.YES, stage=Stage.S3, zone=Zone.I, extent_clock_hours=1,
                                            quality=Quality.GRADABLE)
    assert ws.panel.choice_row("stage").isEnabled() and not ws.panel.ungradable_banner.isVisible()


@pytest.mark.parametrize("key", ["y", "2", "z", "p"])
def test_a_clinical_key_on_an_ungradable_image_says_why_and_flashes_the_banner(qtbot, ws, key: str) -> None:
    ws.key(Qt.Key.Key_Q, SHIFT)
    changes = len(ws.changes)
    with qtbot.waitSignal(ws.panel.refused, timeout=1000) as refused:
        ws.key(key)
    assert refused.args == ["Ungradable is set — press Shift+Q to clear it"]
    assert ws.panel.values() == GradeValues(quality=Quality.UNGRADABLE) and len(ws.changes) == changes
    assert ws.panel.notice.isVisible() and ws.panel.notice.text() == refused.args[0]
    assert ws.panel.flashing and "#ffe082" in ws.panel.ungradable_banner.styleSheet()
    qtbot.waitUntil(lambda: not ws.panel.flashing, timeout=3000)  # the flash ends by itself
    assert "#ffe082" not in ws.panel.ungradable_banner.styleSheet() and ws.panel.ungradable_banner.isVisible()


def test_typing_in_the_comment_changes_only_the_comment(ws) -> None:
    ws.panel.set_polygon_stages([Stage.S1])  # a submittable grade: Enter in the field must still not submit
    ws.keys("1")
    before = ws.panel.values()
    ws.keys("m")
    assert QApplication.focusWidget() is ws.panel.comment_edit
    ws.type("2 x Y n P q [ ] 5A")
    ws.key(Qt.Key.Key_1, ALT)  # Alt+1 (confidence) is asleep too while typing
    assert ws.panel.values().comment.startswith("2 x Y n P q [ ] 5A")
    assert ws.panel.values().with_(comment="") == before
    assert len(ws.changes) > 1 and all(v.with_(comment="") == before for v in ws.changes[1:])
    ws.key(Qt.Key.Key_Return)  # leaves the field, gives the keys back to the canvas, submits nothing
    assert ws.submits == [] and QApplication.focusWidget() is ws.canvas
    ws.keys("2")
    assert ws.panel.values().stage is Stage.S2


def test_clicking_into_the_comment_then_escape_hands_the_keys_back(ws) -> None:
    ws.click(ws.panel.comment_edit)
    assert QApplication.focusWidget() is ws.panel.comment_edit
    ws.type("33")
    assert ws.panel.values().stage is None and ws.panel.values().comment == "33"
    ws.key(Qt.Key.Key_F1)  # F-keys type nothing, so the help works from a text field too
    assert ws.shortcuts.help_overlay.isVisible()
    ws.key(Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is ws.panel.comment_edit
    ws.key(Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is ws.canvas
    ws.keys("3")
    assert ws.panel.values().stage is Stage.S3


def test_read_only_panel_ignores_keys_and_clicks(ws) -> None:
    shown = GradeValues(rop=RopPresence.YES, stage=Stage.S1, quality=Quality.GRADABLE)
    ws.panel.set_values(shown, submitted=True, read_only=True)
    ws.keys("3", "n", "m")
    ws.key(Qt.Key.Key_Q, SHIFT)
    ws.key(Qt.Key.Key_Return)
    ws.click(ws.panel.choice_row("stage").button(Stage.S3))
    ws.click(ws.panel.arop_check)
    assert ws.panel.values() == shown and ws.changes == [] and ws.submits == []
    assert ws.panel.choice_row("stage").button(Stage.S1).isChecked()
    assert "read-only" in ws.panel.status_label.text()
    assert ws.panel.notice.text() == "This grade is read-only."  # the keys said why they did nothing


def test_f1_opens_the_help_which_swallows_keys_and_escape_closes_it(ws) -> None:
    ws.key(Qt.Key.Key_F1)
    overlay = ws.shortcuts.help_overlay
    assert overlay is not None and overlay.isVisible()
    assert overlay.geometry() == ws.host.rect() and QApplication.focusWidget() is overlay
    ws.keys("2")
    assert ws.panel.values().stage is None
    ws.key(Qt.Key.Key_Escape)
    assert not overlay.isVisible() and QApplication.focusWidget() is ws.canvas
    ws.key(Qt.Key.Key_F1)
    assert overlay.isVisible()
    ws.key(Qt.Key.Key_F1)
    assert not overlay.isVisible()
    ws.key(Qt.Key.Key_F1)
    ws.click(overlay)
    assert not overlay.isVisible()


def test_help_lists_bound_and_canvas_handled_keys_grouped_by_scope(ws) -> None:
    called: list[str] = []
    ws.shortcuts.bind("nav.next", lambda: called.append("next"))
    ws.key(Qt.Key.Key_PageDown)
    ws.key(Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert called == ["next", "next"]
    ws.key(Qt.Key.Key_F1)
    rows = ws.shortcuts.help_overlay.rows()
    descriptions = [text for _, _, text, _ in rows]
    assert "Next image to grade" in descriptions and "Previous image" not in descriptions  # unbound: not listed
    assert "Hold and drag to pan" in descriptions  # the canvas handles Space itself
    assert [keys for _, keys, text, _ in rows if text.startswith("Stage 0")] == [["0", "1", "2", "3"]]
    assert {scope.value for scope, *_ in rows} == {"Grading", "Canvas", "Navigation", "Window"}


def test_a_focused_widget_that_claims_enter_keeps_it(ws) -> None:
    """The canvas contract: while drawing it accepts ShortcutOverride for Enter, and Enter closes the polygon."""

    class DrawingCanvas(QFrame):
        def __init__(self) -> None:
            super().__init__(ws.host)
            self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            self.finished = 0

        def event(self, event: QEvent) -> bool:
            if event.type() == QEvent.Type.ShortcutOverride and event.key() == Qt.Key.Key_Return:
                event.accept()
                return True
            return super().event(event)

        def keyPressEvent(self, event) -> None:  # noqa: N802
            self.finished += event.key() == Qt.Key.Key_Return

    drawing = DrawingCanvas()
    ws.host.layout().addWidget(drawing)
    drawing.show()
    drawing.setFocus()
    ws.keys("n")
    ws.key(Qt.Key.Key_Return)
    assert drawing.finished == 1 and ws.submits == []
