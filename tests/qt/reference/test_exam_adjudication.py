"""Eye-level adjudication in the real window: with the demo study switched to eye-level voting,
*Reference → Adjudication queue…* lists the exams the graders' eye-level grades did not settle;
an adjudicator picks one, sees every grader's eye grade with its treatment badge, decides, and the
exam leaves the queue; a grader is refused at the door; a decision made meanwhile elsewhere is
never overwritten."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from rop_desktop.domain.etrop import TreatmentClass
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.services import exams
from rop_desktop.services.changes import Change
from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_ADMIN
from rop_desktop.services.exam_reference import ExamReferenceService, exam_references_in
from rop_desktop.ui.adjudication.exam_decision import suggest_from_eye_votes
from rop_desktop.ui.adjudication.exam_window import ExamAdjudicationWindow

from .conftest import SHOWN_TIMEOUT_MS, Desk, demo_sign_in

GRADERS = ["Dr. Avery", "Dr. Boateng", "Dr. Chen", "Dr. Diaz"]


@pytest.fixture
def eye_desk(desk_factory: Callable[[str], Desk]) -> Callable[[str], Desk]:
    """``open_desk(name)`` on the demo study switched to eye-level voting (by its admin)."""

    def open_desk(name: str) -> Desk:
        desk = desk_factory(name)
        if exams.vote_level(desk.store, desk.actor) != "eye":
            exams.set_vote_level(desk.store, demo_sign_in(desk.store, DEMO_ADMIN), "eye")
        return desk

    return open_desk


def open_view(qtbot, desk: Desk) -> ExamAdjudicationWindow:
    """Trigger the menu action; the eye-level window opens on the first exam to decide."""
    desk.controller.adjudication_action.trigger()
    view = desk.controller.exam_adjudication
    assert view is not None and view.isVisible() and desk.controller.adjudication is None
    qtbot.waitUntil(lambda: view.view.shown is not None, timeout=SHOWN_TIMEOUT_MS)
    return view


def click_exam(qtbot, view: ExamAdjudicationWindow, key: tuple[int, str]) -> None:
    tree = view.queue.to_decide
    view.queue.tabs.setCurrentIndex(0)
    item = tree.row_of(key)
    assert item is not None, f"exam {key} is not in the queue"
    with qtbot.waitSignal(view.caseShown, timeout=SHOWN_TIMEOUT_MS, check_params_cb=lambda e, eye: (e, eye) == key):
        rect = tree.visualItemRect(item)  # on the exam's name: a narrow test screen hides the other columns
        qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.left() + 20, rect.center().y()))


def stored(desk: Desk) -> dict:
    with desk.store.session() as session:
        return exam_references_in(session)


def test_an_adjudicator_decides_an_exam_at_eye_level(qtbot, eye_desk) -> None:
    desk = eye_desk(DEMO_ADJUDICATOR)
    view = open_view(qtbot, desk)
    keys = view.queue.exam_keys()
    assert len(keys) >= 2 and not {(e, Eye(eye)) for e, eye in keys} & set(stored(desk))
    assert view.queue.tabs.tabText(0) == f"To decide ({len(keys)})"
    row = view.queue.to_decide.row_of(keys[-1])
    assert row.text(0).startswith("P0") and " · O" in row.text(0) and "no majority on stage" in row.text(0)
    assert row.text(1) == "4" and "st. " in row.text(2) and "class " in row.text(2)

    click_exam(qtbot, view, keys[-1])  # not the first one: the one clicked opens
    case = view.case
    assert (case.exam_id, case.eye.value) == keys[-1]
    assert view.view.strip.image_ids() == list(case.image_ids) and view.view.shown == case.image_ids[0]
    assert view.view.votes.graders() == GRADERS  # every grader's confirmed eye grade, with its badge
    assert all(badge.text() and badge.isVisible() for badge in view.view.votes.badges.values())
    assert {b.classification.klass for b in view.view.votes.badges.values()} <= set(TreatmentClass)
    stage_column = view.view.votes.column_of("stage")
    assert {view.view.votes.kind(r, stage_column) for r in range(4)} == {"disputed"}
    assert "not settled" in view.view.outcome.text() and "no majority on stage" in view.view.outcome.text()

    # the decision is pre-filled from the majority (a 2–1–1 plurality); the adjudicator changes it
    form = view.decision.form
    assert view.decision.editable and form.values().stage is not None
    qtbot.mouseClick(form.rows["stage"].button(Stage.S3), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(form.rows["plus"].button(Plus.PLUS), Qt.MouseButton.LeftButton)
    assert form.badge.classification.klass is TreatmentClass.TREAT
    qtbot.keyClicks(view.decision.comment, "flat neovascularisation on the temporal view")
    with qtbot.waitSignal(view.settled, timeout=5000) as settled:
        qtbot.mouseClick(view.decision.settle_button, Qt.MouseButton.LeftButton)

    exam_id, eye, state = settled.args
    ref = stored(desk)[(exam_id, Eye(eye))]
    assert ref.method == "adjudicated" == state.method and ref.decided_by == DEMO_ADJUDICATOR
    assert (ref.values.stage, ref.values.plus) == (Stage.S3, Plus.PLUS)
    assert ref.detail["comment"] == "flat neovascularisation on the temporal view"
    assert (exam_id, eye) not in view.queue.exam_keys() and len(view.queue.exam_keys()) == len(keys) - 1
    assert view.queue.settled.row_of((exam_id, eye)) is not None
    assert "Settled" in view.decision.message.text()
    assert view.case is not None and (view.case.exam_id, view.case.eye.value) == view.queue.exam_keys()[0]


def test_a_grader_is_refused_at_the_door(qtbot, eye_desk, demo_study_dir) -> None:
    desk = eye_desk("Dr. Avery")
    assert not desk.controller.adjudication_action.isVisible()
    desk.controller.adjudication_action.trigger()  # triggered anyway: refused with the reason
    assert desk.controller.exam_adjudication is None and desk.controller.adjudication is None
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, ExamAdjudicationWindow) and w.isVisible()]
    notice = desk.controller.last_notice
    assert "Dr. Avery is signed in as grader" in notice.text() and "adjudicator" in notice.text()
    notice.close()

    # a window handed a grader's service anyway shows the refusal and lists nothing
    view = ExamAdjudicationWindow(ExamReferenceService(desk.study, desk.actor), lambda _i: None)
    qtbot.addWidget(view)
    assert view.refresh_queue() == [] and view.open_first() is None
    assert "adjudicator" in view.last_notice.text()
    view.last_notice.close()
    view.close()


def test_a_decision_made_meanwhile_is_never_overwritten(qtbot, eye_desk) -> None:
    desk = eye_desk(DEMO_ADJUDICATOR)
    view = open_view(qtbot, desk)
    case = view.case
    key = (case.exam_id, case.eye)
    admin = ExamReferenceService(desk.store, demo_sign_in(desk.store, DEMO_ADMIN))
    theirs = case.votes["Dr. Avery"].with_(comment="")
    admin.adjudicate(case.exam_id, case.eye, theirs, comment="decided at the other desk", expected_version=0)

    qtbot.mouseClick(view.decision.form.rows["stage"].button(Stage.S3), Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(view.conflicted, timeout=5000) as conflicted:
        qtbot.mouseClick(view.decision.settle_button, Qt.MouseButton.LeftButton)

    assert conflicted.args[2] is not None and conflicted.args[2].decided_by == DEMO_ADMIN
    ref = stored(desk)[key]
    assert ref.decided_by == DEMO_ADMIN and ref.values.stage == theirs.stage  # not overwritten
    assert ref.detail["comment"] == "decided at the other desk"
    notice = view.last_notice
    assert notice.isVisible() and "changed since you opened it" in notice.text()
    assert "Your decision was not stored" in notice.text()
    notice.close()
    # the exam is shown again as it is now: the admin's decision, read-only until "Decide again"
    assert view.case.version == ref.version and not view.decision.editable
    assert DEMO_ADMIN in view.decision.current_label.text()
    assert view.decision.form.values().stage == theirs.stage
    assert view.decision.revise_button.isVisible()
    assert key[0] not in [k[0] for k in view.queue.exam_keys() if k[1] == key[1].value]


def test_an_admin_chooses_the_vote_level_in_the_vote_settings(qtbot, desk_factory) -> None:
    desk = desk_factory(DEMO_ADMIN)
    dialog = desk.controller.open_vote_settings()
    assert dialog is not None and dialog.chosen_level() == "image"
    assert "each image gets its reference standard" in dialog.level_explain.text()
    dialog.level.setCurrentIndex(dialog.level.findData("eye"))
    assert "each eye at each visit gets its reference standard" in dialog.level_explain.text()
    assert exams.vote_level(desk.store, desk.actor) == "image"  # nothing stored before Save
    with qtbot.waitSignal(desk.controller.recomputeEnded, timeout=60_000):
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Save), Qt.MouseButton.LeftButton)
    assert exams.vote_level(desk.store, desk.actor) == "eye"
    assert "Votes are now cast on each eye at each visit" in desk.controller.last_notice.text()
    desk.controller.last_notice.close()
    judge = ExamReferenceService(desk.store, demo_sign_in(desk.store, DEMO_ADJUDICATOR))
    assert judge.queue()  # the confirmed eye grades voted: the exams they did not settle wait
    assert stored(desk)  # and those they settled have their eye-level reference


def test_the_decision_is_prefilled_from_the_majority_of_the_eye_grades() -> None:
    def eye(stage: str, extent: int, arop: bool = False) -> GradeValues:
        s = Stage.parse(stage)
        return GradeValues(quality=Quality.GRADABLE, rop=RopPresence.NO if s is Stage.S0 else RopPresence.YES,
                           stage=s, zone=Zone.II, plus=Plus.NORMAL, arop=arop, extent_clock_hours=extent)

    # a 2–2 split on stage takes the more severe side; the extent is that of the graders who saw ROP
    split = suggest_from_eye_votes({"A": eye("1", 4), "B": eye("1", 5), "C": eye("0", 0), "D": eye("0", 0)})
    assert (split.stage, split.rop, split.extent_clock_hours, split.arop) == (Stage.S1, RopPresence.YES, 4, False)
    # no ROP by majority: no extent to speak of; A-ROP by majority, a tie counts as A-ROP
    calm = suggest_from_eye_votes({"A": eye("0", 0), "B": eye("0", 0), "C": eye("2", 3, arop=True)})
    assert (calm.stage, calm.extent_clock_hours, calm.arop) == (Stage.S0, 0, False)
    tie = suggest_from_eye_votes({"A": eye("3", 6, arop=True), "B": eye("3", 8)})
    assert (tie.stage, tie.arop, tie.extent_clock_hours) == (Stage.S3, True, 6)


def test_a_decision_made_elsewhere_leaves_the_open_queue(qtbot, eye_desk) -> None:
    desk = eye_desk(DEMO_ADJUDICATOR)
    view = open_view(qtbot, desk)
    exam_id, eye_value = view.queue.exam_keys()[-1]
    admin = ExamReferenceService(desk.store, demo_sign_in(desk.store, DEMO_ADMIN))
    case = admin.case(exam_id, Eye(eye_value))
    admin.adjudicate(exam_id, Eye(eye_value), next(iter(case.votes.values())), expected_version=0)
    desk.controller.on_changes([Change("exam_reference", exam_id, 1)])  # what the change watcher reports
    qtbot.waitUntil(lambda: (exam_id, eye_value) not in view.queue.exam_keys(), timeout=SHOWN_TIMEOUT_MS)
