"""The exam view in the real window: the strip of one eye's images at one visit opens them, the
eye-level grade is pre-filled from the grader's image grades, edited with the mouse, stored as a
draft at once and confirmed — with its treatment badge."""

from __future__ import annotations

from PySide6.QtCore import Qt

from rop_desktop.domain.etrop import TreatmentClass
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.services.exams import ExamService
from rop_desktop.services.grading import GradingService

SHOWN_MS = 10_000


def g(stage: str, zone: Zone, plus: Plus) -> GradeValues:
    s = Stage.parse(stage)
    return GradeValues(rop=RopPresence.NO if s is Stage.S0 else RopPresence.YES, stage=s, zone=zone, plus=plus,
                       quality=Quality.GRADABLE)


def two_image_exam(ws) -> tuple[int, int]:
    """Two images of one eye at one visit in the demo study (some eyes have two views)."""
    exams = ExamService(ws.store, ws.actor)
    for image_id in GradingService(ws.store, ws.actor).worklist():
        state = exams.state(image_id.image_id)
        if len(state.info.images) >= 2:
            return state.info.images[0].image_id, state.info.images[1].image_id
    raise AssertionError("the demo study has an eye with two views at one visit")


def test_the_strip_opens_images_and_the_eye_grade_is_prefilled_edited_and_confirmed(ws) -> None:
    first, second = two_image_exam(ws)
    grading = GradingService(ws.store, ws.actor)
    grading.submit(first, g("1", Zone.II, Plus.PRE_PLUS))
    grading.submit(second, g("2", Zone.II, Plus.PLUS))
    if ws.current == first:  # graded elsewhere (the service): show it again
        ws.show_image(second)
    ws.show_image(first)
    panel = ws.window.wiring.exams.panel
    ws.key(Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)          # Ctrl+E: the Eye exam tab
    assert ws.window.side_tabs.currentWidget() is panel
    assert panel.strip.image_ids() == [first, second]
    assert "2 images of this eye at this visit, 2 graded by you" in panel.subtitle.text()

    # pre-filled: highest stage, most posterior zone, plus (no posterior pole identified: the most severe)
    form = panel.form
    assert (form.values().stage, form.values().zone, form.values().plus) == (Stage.S2, Zone.II, Plus.PLUS)
    assert form.badge.classification.klass is TreatmentClass.TREAT and "Type 1" in form.badge.text()
    assert form.source_label.text().startswith("From your image grades: stage ← ")
    assert "Not confirmed yet" in form.status_label.text()

    # the strip opens the other image of the exam
    item = panel.strip.item(1)
    with ws.qtbot.waitSignal(ws.workspace.imageShown, timeout=SHOWN_MS) as shown:
        ws.qtbot.mouseClick(panel.strip.viewport(), Qt.MouseButton.LeftButton,
                            pos=panel.strip.visualItemRect(item).center())
    assert shown.args == [second]

    # the grader disagrees with the plus disease of the roll-up: a click stores a draft at once
    ws.qtbot.mouseClick(form.rows["plus"].button(Plus.PRE_PLUS), Qt.MouseButton.LeftButton)
    exams = ExamService(ws.store, ws.actor)
    key = exams.state(first).info.key
    draft = exams.exam_state(key).grade
    assert draft.exists and not draft.submitted and draft.values.plus is Plus.PRE_PLUS
    assert draft.values.stage is Stage.S2
    assert form.badge.classification.klass is TreatmentClass.ROUTINE   # zone II stage 2 without plus

    ws.key(Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)   # confirm from the keyboard
    confirmed = exams.exam_state(key).grade
    assert confirmed.submitted and confirmed.values.plus is Plus.PRE_PLUS
    assert form.submitted and "confirmed" in form.status_label.text()


def test_an_eye_grade_without_a_stage_is_not_confirmed(ws) -> None:
    panel = ws.window.wiring.exams.panel
    ws.window.side_tabs.setCurrentWidget(panel)
    form = panel.form
    assert form.values().stage is None                                  # nothing graded yet: nothing pre-filled
    ws.qtbot.mouseClick(form.submit_button, Qt.MouseButton.LeftButton)
    assert "Stage is not set" in form.issue_label.text()
    assert not ExamService(ws.store, ws.actor).state(ws.current).grade.exists


def test_the_eye_grade_is_made_with_the_image_grade_keys_and_enter_confirms(ws) -> None:
    first, _second = two_image_exam(ws)
    if ws.current != first:
        ws.show_image(first)
    image_grade_before = ws.stored_grade(first).values
    panel = ws.window.wiring.exams.panel
    form = panel.form
    ws.key(Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)          # Ctrl+E: the eye form has the keys
    assert ws.window.side_tabs.currentWidget() is panel and form.hasFocus()
    ws.keys("3", "z", "z", "p", "p", "p", "a", "]", "]", "]")            # stage 3, posterior II, plus, A-ROP, 3 h
    values = form.values()
    assert (values.stage, values.rop, values.zone, values.plus) == (Stage.S3, RopPresence.YES, Zone.POSTERIOR_II,
                                                                    Plus.PLUS)
    assert values.arop is True and values.extent_clock_hours == 3
    assert form.badge.classification.klass is TreatmentClass.TREAT
    ws.key(Qt.Key.Key_Z, Qt.KeyboardModifier.ShiftModifier)            # zone not assessable, as on the image
    assert form.values().zone is Zone.NA
    ws.key("z")
    assert ws.stored_grade(first).values == image_grade_before          # the image's grade was not touched
    exams = ExamService(ws.store, ws.actor)
    key = exams.state(first).info.key
    assert exams.exam_state(key).grade.values.extent_clock_hours == 3   # every key stored a draft
    ws.key(Qt.Key.Key_Return)                                           # Enter confirms
    confirmed = exams.exam_state(key).grade
    assert confirmed.submitted and confirmed.values.zone is Zone.I and form.submitted
    ws.key(Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)          # back: the keys grade the image again
    assert ws.window.side_tabs.currentWidget() is ws.window.wiring.grade_panel and ws.canvas.hasFocus()


def test_with_the_tab_closed_the_exam_follows_a_moment_later_and_catches_up_when_needed(ws) -> None:
    """Grading image after image with the Eye exam tab closed never waits for the exam: it is
    read in a turn of its own after the image is shown. Opening the tab, or confirming with
    Ctrl+Enter, first catches up — never acting on the exam of the previous image."""
    first, _ = two_image_exam(ws)
    exams = ws.window.wiring.exams
    ws.window.side_tabs.setCurrentWidget(ws.window.wiring.grade_panel)
    other = next(r.image_id for r in GradingService(ws.store, ws.actor).worklist()
                 if first not in [i.image_id for i in ExamService(ws.store, ws.actor).state(r.image_id).info.images])
    ws.show_image(other)
    ws.qtbot.waitUntil(lambda: exams.state is not None and other in [i.image_id for i in exams.state.info.images],
                       timeout=SHOWN_MS)
    ws.show_image(first)
    assert first not in [i.image_id for i in exams.state.info.images]  # not read on the image switch itself
    ws.qtbot.waitUntil(lambda: first in [i.image_id for i in exams.state.info.images], timeout=SHOWN_MS)

    ws.show_image(other)
    ws.key(Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)  # opening the tab catches up at once
    assert other in [i.image_id for i in exams.state.info.images]
    assert exams.panel.strip.image_ids() == [i.image_id for i in exams.state.info.images]
