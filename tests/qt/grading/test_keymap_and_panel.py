"""The keyboard table (no conflicts, one source for keys, hints and help), the edit rules, and the
panel's programmatic API (set_values emits nothing, bad values are refused, mouse editing)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Plus, Quality, Role, RopPresence, Stage, Zone
from rop_desktop.ui.grading import (
    SHORTCUTS,
    CycleField,
    EditRefused,
    GradeEditor,
    InvalidGradeValues,
    Scope,
    SetField,
    ShortcutSpec,
    ShortcutTableError,
    StepField,
    ToggleFlag,
    find_conflicts,
)
from rop_desktop.ui.grading.keymap import Context, hint_for_field, hint_for_value, validate_table


def test_the_shipped_table_has_no_conflicting_keys() -> None:
    assert find_conflicts(SHORTCUTS) == []
    validate_table(SHORTCUTS)
    ids = [s.id for s in SHORTCUTS]
    assert len(ids) == len(set(ids))
    assert {s.scope for s in SHORTCUTS} == set(Scope)


def test_conflicts_are_found_whatever_the_spelling_and_only_where_keys_are_live_together() -> None:
    redo = ShortcutSpec("a.redo", ("Ctrl+Shift+Z",), "Redo", Scope.CANVAS)
    clash = ShortcutSpec("b.other", ("Shift+Ctrl+Z",), "Other", Scope.WINDOW)
    canvas_key = ShortcutSpec("c.pan", ("Space",), "Pan", Scope.CANVAS, Context.CANVAS)
    window_space = ShortcutSpec("d.space", ("space",), "Play", Scope.WINDOW)
    drawing_enter = ShortcutSpec("e.finish", ("Return",), "Close polygon", Scope.CANVAS, Context.DRAWING)
    submit = ShortcutSpec("f.submit", ("Return",), "Submit", Scope.GRADING)
    assert len(find_conflicts([redo, clash])) == 1
    assert len(find_conflicts([canvas_key, window_space])) == 1  # the canvas sees window keys too
    assert find_conflicts([drawing_enter, submit]) == []  # the canvas claims Enter while drawing
    with pytest.raises(ShortcutTableError, match="used by both"):
        validate_table([redo, clash])
    with pytest.raises(ShortcutTableError, match="not a single key chord"):
        validate_table([ShortcutSpec("x", ("Ctrl+K, Ctrl+C",), "chord", Scope.WINDOW)])
    with pytest.raises(ShortcutTableError, match="appears twice"):
        validate_table([redo, redo])


def test_binding_checks_the_id_and_who_owns_the_key(ws) -> None:
    with pytest.raises(ShortcutTableError, match="no shortcut"):
        ws.shortcuts.bind("nav.nowhere", lambda: None)
    with pytest.raises(ShortcutTableError, match="grade panel"):
        ws.shortcuts.bind("grade.stage.2", lambda: None)
    with pytest.raises(ShortcutTableError, match="canvas itself"):
        ws.shortcuts.bind("canvas.pan.hold", lambda: None)
    ws.shortcuts.bind("canvas.undo", lambda: None)
    with pytest.raises(ShortcutTableError, match="already bound"):
        ws.shortcuts.bind("canvas.undo", lambda: None)


def test_hints_and_tooltips_come_from_the_table(ws) -> None:
    assert hint_for_field("stage") == "0–5 X"
    assert hint_for_field("confidence") == "Alt+1–5"
    assert hint_for_value("stage", Stage.S4B) == "4 ×2"
    assert "Shortcut: 4 ×2" in ws.panel.choice_row("stage").button(Stage.S4B).toolTip()
    assert "Shortcut: Z" in ws.panel.choice_row("zone").button(Zone.III).toolTip()
    assert "Shortcut: Alt+3" in ws.panel.choice_row("confidence").button(3).toolTip()


def test_edit_operations_cycle_clamp_and_toggle() -> None:
    editor = GradeEditor()
    for _ in range(14):
        editor.apply(StepField("extent_clock_hours", +1, 0, 12))
    assert editor.values.extent_clock_hours == 12
    editor.apply(ToggleFlag("arop"))
    assert editor.values.arop is True
    editor.apply(ToggleFlag("arop"))
    assert editor.values.arop is False
    plus = CycleField("plus", (Plus.NORMAL, Plus.PRE_PLUS, Plus.PLUS))
    seen = []
    for _ in range(4):
        editor.apply(plus)
        seen.append(editor.values.plus)
    assert seen == [Plus.NORMAL, Plus.PRE_PLUS, Plus.PLUS, Plus.NORMAL]
    assert editor.apply(SetField("plus", Plus.NORMAL)) is False  # no change
    with pytest.raises(ValueError, match="unknown grade field"):
        editor.apply(SetField("colour", "red"))


def test_implied_answers_never_overwrite_explicit_ones() -> None:
    editor = GradeEditor(GradeValues(rop=RopPresence.NO))
    editor.apply(SetField("stage", Stage.S3))
    assert editor.values.rop is RopPresence.NO  # the contradiction is left for check_grade
    editor = GradeEditor()
    editor.apply(SetField("rop", RopPresence.YES))
    assert editor.values.stage is None and editor.values.quality is Quality.GRADABLE
    editor.apply(SetField("quality", Quality.UNGRADABLE))
    with pytest.raises(EditRefused, match="ungradable"):
        editor.apply(SetField("zone", Zone.I))


def test_set_values_shows_everything_and_emits_nothing(ws, qtbot) -> None:
    values = GradeValues(rop=RopPresence.YES, stage=Stage.S5B, zone=Zone.POSTERIOR_II, plus=Plus.PLUS, arop=True,
                         extent_clock_hours=7, quality=Quality.GRADABLE, confidence=2, comment="funnel")
    with qtbot.assertNotEmitted(ws.panel.valuesChanged), qtbot.assertNotEmitted(ws.panel.submitRequested):
        ws.panel.set_values(values, submitted=False)
        ws.panel.set_polygon_stages([Stage.S3])
        ws.panel.set_grader("Dr Rao", Role.GRADER)
    assert ws.panel.values() == values
    assert [ws.panel.choice_row(f).current() for f in ("stage", "zone", "plus", "confidence")] == [
        Stage.S5B, Zone.POSTERIOR_II, Plus.PLUS, 2]
    assert ws.panel.arop_check.isChecked() and ws.panel.extent_spin.value() == 7
    assert ws.panel.comment_edit.text() == "funnel" and ws.panel.grader_label.text() == "Dr Rao · Grader"
    assert ws.panel.submit_button.isEnabled() and ws.panel.issue_label.text() == ""


def test_submitted_status_and_polygon_warning(ws) -> None:
    from datetime import datetime

    grade = GradeValues(rop=RopPresence.YES, stage=Stage.S1, quality=Quality.GRADABLE)
    ws.panel.set_values(grade, submitted=True, submitted_at=datetime.now().replace(hour=14, minute=2))
    assert ws.panel.status_label.text() == "Submitted 14:02"
    assert "no demarcation line" in ws.panel.issue_label.text()
    ws.panel.set_polygon_stages([Stage.S3])
    assert "above the image" in ws.panel.issue_label.text()
    ws.keys("2")
    assert ws.panel.status_label.text().startswith("Submitted 14:02 — edited")
    ws.panel.show_save_error("disk full")
    assert "disk full" in ws.panel.status_label.text()


def test_bad_values_are_refused_with_the_reason(ws) -> None:
    with pytest.raises(InvalidGradeValues, match="confidence must be an integer 1–5"):
        ws.panel.set_values(GradeValues(confidence=9), submitted=False)
    with pytest.raises(InvalidGradeValues, match="stage must be a Stage"):
        ws.panel.set_values(GradeValues(stage="2"), submitted=False)  # type: ignore[arg-type]
    assert ws.panel.values() == GradeValues()


def test_mouse_grading_emits_each_change_and_the_submit_button_submits(ws) -> None:
    ws.click(ws.panel.choice_row("stage").button(Stage.S1))
    ws.click(ws.panel.choice_row("plus").button(Plus.NORMAL))
    ws.click(ws.panel.arop_check)
    ws.panel.extent_spin.setFocus()
    ws.key(Qt.Key.Key_Up)
    ws.key(Qt.Key.Key_Up)
    assert [(v.stage, v.plus, v.arop, v.extent_clock_hours) for v in ws.changes] == [
        (Stage.S1, None, None, None), (Stage.S1, Plus.NORMAL, None, None), (Stage.S1, Plus.NORMAL, True, None),
        (Stage.S1, Plus.NORMAL, True, 0), (Stage.S1, Plus.NORMAL, True, 1)]
    ws.panel.set_polygon_stages([Stage.S1])
    ws.click(ws.panel.submit_button)
    assert len(ws.submits) == 1
    ws.click(ws.panel.choice_row("quality").button(Quality.UNGRADABLE))
    assert ws.panel.values().stage is None and not ws.panel.choice_row("stage").isEnabled()
