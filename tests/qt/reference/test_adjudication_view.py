"""The adjudication view on the demo study: settling a 2–2 split by clicking, roles, outline
toggles, and a second adjudicator deciding first."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from rop_desktop.domain.labels import Role, RopPresence, Stage
from rop_desktop.services.policy import AccessDenied
from rop_desktop.services.reference import ReferenceService
from rop_desktop.ui.adjudication import AdjudicationWindow

from .conftest import SHOWN_TIMEOUT_MS, Desk, make_two_two_split


def open_view(qtbot, desk: Desk) -> AdjudicationWindow:
    with qtbot.waitSignal(desk.controller.adjudication_action.triggered, timeout=1000):
        desk.controller.adjudication_action.trigger()
    view = desk.controller.adjudication
    assert view is not None and view.isVisible()
    qtbot.waitUntil(lambda: view.shown is not None, timeout=SHOWN_TIMEOUT_MS)
    return view


def click_queue_row(qtbot, view: AdjudicationWindow, image_id: int) -> None:
    """Click the image's row in "To decide" (another row first, when it is the one on screen)."""
    tree = view.queue.to_decide
    view.queue.tabs.setCurrentIndex(0)
    if view.case is not None and view.case.image_id == image_id:
        click_queue_row(qtbot, view, next(i for i in view.queue.image_ids() if i != image_id))
    item = tree.row_of(image_id)
    assert item is not None, f"image {image_id} is not in the queue"
    with qtbot.waitSignal(view.caseShown, timeout=SHOWN_TIMEOUT_MS, check_params_cb=lambda i: i == image_id):
        qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(item).center())


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def decide_rop_with_an_outline(qtbot, view: AdjudicationWindow) -> tuple[str, Stage]:
    """Click ROP yes and the stage of the first outlining grader's polygons; take their outline."""
    drawer = next(g for g in view.case.graders if g.shapes)
    top_stage = max((s.stage for s in drawer.shapes if s.stage is not None), key=lambda s: s.severity)
    panel = view.decision.grade
    click(qtbot, panel.choice_row("rop").button(RopPresence.YES))
    click(qtbot, panel.choice_row("stage").button(top_stage))
    view.decision.select_geometry(("grader", drawer.name))
    assert view.chosen_shapes() == list(drawer.shapes)
    assert not [i for i in panel.issues() if i.severity != "info"], "the decision should need one click"
    return drawer.name, top_stage


def test_adjudicator_settles_a_two_two_split_from_the_queue(qtbot, adjudicator_desk: Desk) -> None:
    desk = adjudicator_desk
    image = make_two_two_split(desk.store)
    view = open_view(qtbot, desk)
    assert image in view.queue.image_ids()
    click_queue_row(qtbot, view, image)

    case = view.case
    assert case.image_id == image and case.outcome.tally["rop"] == {"no": 2, "yes": 2}
    rop_column = view.votes.column_of("rop")
    assert {view.votes.kind(row, rop_column) for row in range(len(case.graders))} == {"disputed"}
    assert "2–2 tie on ROP presence" in view.info.reasons.text()
    assert view.decision.values().rop is RopPresence.YES  # a tie is pre-filled with the more severe value

    drawer, top_stage = decide_rop_with_an_outline(qtbot, view)
    with qtbot.waitSignal(view.settled, timeout=5000) as settled:
        click(qtbot, view.decision.settle_button)

    state = settled.args[1]
    stored = ReferenceService(desk.store, desk.actor).current(image)
    assert stored is not None and stored.method == "adjudicated" == state.method
    assert (stored.values.rop, stored.values.stage) == (RopPresence.YES, top_stage)
    assert stored.decided_by == desk.actor.name
    assert stored.detail["geometry"] == {"source": "grader", "grader": drawer}
    assert image not in view.queue.image_ids()
    assert "Settled" in view.decision.message.text()

    # the decision is listed under "Settled"; opening it shows the audit trail with the adjudication
    tree = view.queue.settled
    item = tree.row_of(image)
    view.queue.tabs.setCurrentIndex(2)
    with qtbot.waitSignal(view.caseShown, timeout=SHOWN_TIMEOUT_MS):
        qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(item).center())
    rows = view.history.texts()
    decided = [r for r in rows if r[1] == desk.actor.name]
    assert decided and "adjudicat" in decided[-1][2] and "Stage" in decided[-1][4]
    assert not view.decision.editable and view.decision.revise_button.isVisible()


def test_a_grader_cannot_open_the_view_and_the_service_refuses(qtbot, desk_factory, account) -> None:
    desk = desk_factory("Dr. Avery")
    assert not desk.controller.adjudication_action.isVisible()
    desk.controller.adjudication_action.trigger()  # triggered anyway: refused with the reason
    assert desk.controller.adjudication is None
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, AdjudicationWindow) and w.isVisible()]
    notice = desk.controller.last_notice
    assert notice is not None and notice.isVisible()
    assert "Dr. Avery is signed in as grader" in notice.text() and "adjudicator" in notice.text()
    notice.close()

    newcomer = account(desk.store, "Dr. Newcomer", Role.GRADER)  # has submitted nothing
    with pytest.raises(AccessDenied):
        ReferenceService(desk.store, newcomer).case(1)
    with pytest.raises(AccessDenied):
        ReferenceService(desk.store, desk.actor).queue()


def test_toggling_a_graders_outlines_hides_them(qtbot, adjudicator_desk: Desk) -> None:
    view = open_view(qtbot, adjudicator_desk)
    case = view.case
    drawers = [g.name for g in case.graders if g.shapes]
    assert len(drawers) >= 2
    layers = view.outline_layers()
    assert all(f"grader:{name}" in layers for name in drawers)
    hidden = drawers[0]
    click(qtbot, view.legend.box(hidden))
    assert f"grader:{hidden}" not in view.outline_layers()
    assert f"grader:{drawers[1]}" in view.outline_layers()
    click(qtbot, view.legend.box(hidden))
    assert f"grader:{hidden}" in view.outline_layers()
    click(qtbot, view.legend.box("reference outline"))
    assert "reference outline" not in view.outline_layers()


def test_settling_after_another_adjudicator_shows_the_conflict(qtbot, adjudicator_desk: Desk, account) -> None:
    desk = adjudicator_desk
    image = make_two_two_split(desk.store)
    view = open_view(qtbot, desk)
    click_queue_row(qtbot, view, image)

    other = account(desk.store, "Dr. Second", Role.ADJUDICATOR)
    second = ReferenceService(desk.store, other)
    values = second.case(image).graders[0].values
    theirs = values.with_(rop=RopPresence.NO, stage=Stage.S0)
    second.adjudicate(image, theirs, consensus_rule="majority")

    decide_rop_with_an_outline(qtbot, view)
    with qtbot.waitSignal(view.conflicted, timeout=5000) as conflicted:
        click(qtbot, view.decision.settle_button)
    current = conflicted.args[1]
    assert current is not None and current.decided_by == "Dr. Second"
    text = view.last_notice.text()
    assert "changed since you opened it" in text and "Dr. Second" in text and "No ROP" in text
    assert "Dr. Second" in view.decision.message.text()
    stored = ReferenceService(desk.store, desk.actor).current(image)
    assert stored.decided_by == "Dr. Second" and stored.values.rop is RopPresence.NO  # nothing overwritten
    assert not view.decision.editable and image not in view.queue.image_ids()
    view.last_notice.close()


def test_the_grading_keys_edit_the_reference_and_enter_settles(qtbot, adjudicator_desk: Desk) -> None:
    desk = adjudicator_desk
    image = make_two_two_split(desk.store)
    view = open_view(qtbot, desk)
    click_queue_row(qtbot, view, image)
    view.decision.select_geometry(("consensus", "majority"))  # empty on a 2–2 split: no outline
    assert view.chosen_shapes() == []
    view.activateWindow()
    qtbot.waitUntil(view.isActiveWindow, timeout=5000)
    qtbot.keyClick(view, Qt.Key.Key_N)
    qtbot.keyClick(view, Qt.Key.Key_0)
    assert (view.decision.values().rop, view.decision.values().stage) == (RopPresence.NO, Stage.S0)
    with qtbot.waitSignal(view.settled, timeout=5000):
        qtbot.keyClick(view, Qt.Key.Key_Return)
    stored = ReferenceService(desk.store, desk.actor).current(image)
    assert (stored.method, stored.values.rop, stored.detail["geometry"]) == (
        "adjudicated", RopPresence.NO, {"source": "consensus", "rule": "majority"})
