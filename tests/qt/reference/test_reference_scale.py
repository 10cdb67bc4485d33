"""Issue 15 in the Reference menu: a recompute runs in a worker with progress and can be cancelled
between two steps; the adjudication queue shows its first page at once and its exact size when
the background count arrives."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete

from rop_desktop.services import reference
from rop_desktop.services.changes import Change
from rop_desktop.services.reference import ReferenceService
from rop_desktop.store import repo
from rop_desktop.store.schema import Reference

from .conftest import SHOWN_TIMEOUT_MS, Desk


def _references(desk: Desk) -> int:
    with desk.store.session() as session:
        return len(repo.list_references(session))


def test_recompute_reports_progress_off_the_ui_thread_and_stops_when_cancelled(
        qtbot, adjudicator_desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    desk = adjudicator_desk
    with desk.store.session() as session:
        session.execute(delete(Reference))  # as if the votes had never been settled
    monkeypatch.setattr(reference, "RECOMPUTE_STEP", 1)  # one image a step
    gate, steps, threads = threading.Event(), [], []
    real = reference._settle_batch

    def step(*args, **kwargs):
        threads.append(threading.current_thread())
        if steps:
            gate.wait(30)
        steps.append(args[1][0][0])
        return real(*args, **kwargs)

    monkeypatch.setattr(reference, "_settle_batch", step)
    controller = desk.controller
    worker = controller.recompute()
    assert worker is not None and controller.progress is not None
    assert controller.recompute() is None  # one at a time
    assert "being settled again" in controller.last_notice.text()
    controller.last_notice.close()
    qtbot.waitUntil(lambda: controller.progress.value() >= 1, timeout=SHOWN_TIMEOUT_MS)  # the first step shown
    assert "of " in controller.progress.labelText()
    with qtbot.waitSignal(controller.recomputeEnded, timeout=SHOWN_TIMEOUT_MS):
        controller.progress.canceled.emit()  # what the Cancel button does
        gate.set()
    assert "Cancelled" in controller.last_notice.text()
    assert threading.main_thread() not in threads
    assert _references(desk) <= 2 and len(steps) == 2  # the steps done are kept; no third one began
    assert controller.recompute_worker is None and controller.progress is None


def test_the_queue_counts_arrive_from_a_background_call(qtbot, adjudicator_desk: Desk) -> None:
    desk = adjudicator_desk
    service = ReferenceService(desk.store, desk.actor)
    to_decide, too_few = len(service.queue(limit=None)), len(service.insufficient(limit=None))
    view = desk.controller.open_adjudication()
    assert view is not None and len(view.queue.image_ids()) == to_decide  # a first page: the whole small queue
    qtbot.waitUntil(lambda: view.queue.counts is not None, timeout=SHOWN_TIMEOUT_MS)
    assert view.queue.counts == (to_decide, too_few)
    assert view.queue.tabs.tabText(0) == f"To decide ({to_decide})"


def test_a_full_first_page_says_there_are_more_until_counted(qtbot) -> None:
    from rop_desktop.domain.labels import Eye
    from rop_desktop.services.reference import QUEUE_PAGE, QueueItem
    from rop_desktop.ui.adjudication.queue_panel import QueuePanel

    panel = QueuePanel()
    qtbot.addWidget(panel)
    page = [QueueItem(i, f"{i}.png", "P1", Eye.OD, "needs_adjudication", 4, ("2–2 tie on ROP presence",),
                      {"rop": {"yes": 2, "no": 2}}, ()) for i in range(1, QUEUE_PAGE + 1)]
    panel.set_items(page, page[:3])
    assert panel.tabs.tabText(0) == f"To decide ({QUEUE_PAGE}+)" and panel.tabs.tabText(1) == "Too few votes (3)"
    panel.set_counts(3208, 3)
    assert panel.tabs.tabText(0) == f"To decide ({QUEUE_PAGE} of 3,208)"
    assert panel.tabs.tabText(1) == "Too few votes (3)"


def test_after_a_vote_elsewhere_the_open_queue_is_read_in_the_background(qtbot,
                                                                         adjudicator_desk: Desk) -> None:
    from .conftest import make_two_two_split

    desk = adjudicator_desk
    view = desk.controller.open_adjudication()

    def tally(image_id: int) -> str:
        row = view.queue.to_decide.row_of(image_id)
        return row.text(2) if row is not None else ""

    image = make_two_two_split(desk.store)  # a grader amends on another workstation: 3–1 becomes 2–2
    before = tally(image)
    assert "yes 3" in before
    desk.controller.on_changes([Change("grade", 1, 1)])  # what the change watcher reports
    assert tally(image) == before  # returned at once: nothing was read on the UI thread
    qtbot.waitUntil(lambda: "yes 2" in tally(image) and "no 2" in tally(image), timeout=SHOWN_TIMEOUT_MS)
    assert view.queue.counts is not None and view.queue.counts[0] == len(view.queue.image_ids())
