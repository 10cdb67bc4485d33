"""A lost database connection in the window: edits are kept, announced, retried, never lost;
and edits made elsewhere reach the window through the change watcher, off the UI thread."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMainWindow
from sqlalchemy.exc import IntegrityError, OperationalError

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Quality, RopPresence, Stage
from rop_desktop.services.changes import ChangeFeed
from rop_desktop.services.grading import GradingService
from rop_desktop.store import Study
from rop_desktop.ui.controllers.connection import install_connection_guard, waiting_message
from rop_desktop.workers.change_watcher import ChangeWatcher

DRAFT = GradeValues(rop=RopPresence.YES, stage=Stage.S1, quality=Quality.GRADABLE)
FINAL = GradeValues(rop=RopPresence.YES, stage=Stage.S2, quality=Quality.GRADABLE)


@pytest.fixture
def study(make_study) -> Study:
    return make_study(2, (48, 40))


class Server:
    """The database's reachability: while down, every save fails as a lost connection does."""

    def __init__(self) -> None:
        self.down = False
        self.attempts = 0

    def guard(self, save):  # type: ignore[no-untyped-def]
        def attempt():  # type: ignore[no-untyped-def]
            self.attempts += 1
            if self.down:
                raise OperationalError("UPDATE grades ...", {}, ConnectionError("server closed the connection"))
            return save()
        return attempt


def test_unsent_edits_are_kept_announced_retried_in_order(qtbot, study: Study, account) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    edits = install_connection_guard(window, retry_ms=20)
    me = GradingService(study, account(study, "Dr. A"))
    image = me.next_todo()
    server = Server()

    assert edits.run(server.guard(lambda: me.save_draft(image, DRAFT)), "draft") is True  # the normal case
    server.down = True
    assert edits.run(server.guard(lambda: me.save_draft(image, FINAL)), "stage 2") is False
    assert edits.run(server.guard(lambda: me.submit(image, FINAL)), "submit") is False
    assert edits.pending == ["stage 2", "submit"]
    assert window.statusBar().currentMessage() == waiting_message(2) == "Connection lost — 2 edits waiting, retrying…"
    assert me.my_grade(image).values == DRAFT  # not sent yet ...

    tries = server.attempts
    qtbot.waitUntil(lambda: server.attempts >= tries + 2)  # ... but retried by the timer
    assert edits.pending == ["stage 2", "submit"]
    with qtbot.waitSignal(edits.waiting, check_params_cb=lambda n: n == 0):
        server.down = False
    assert edits.pending == []
    assert window.statusBar().currentMessage() == "Connection restored — all edits saved"
    mine = me.my_grade(image)
    assert mine.values == FINAL and mine.submitted  # nothing lost, applied in order
    settled = server.attempts
    qtbot.wait(100)
    assert server.attempts == settled  # the timer stopped


def test_other_errors_are_not_swallowed_and_a_refused_queued_edit_is_reported(qtbot, study: Study) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    edits = install_connection_guard(window, retry_ms=20)
    refused = IntegrityError("INSERT ...", {}, ValueError("duplicate key"))

    def refuse() -> None:
        raise refused

    with pytest.raises(IntegrityError):
        edits.run(refuse, "a bad edit")  # not a connection problem: the caller sees it at once
    assert edits.pending == []

    server = Server()
    server.down = True
    edits.run(server.guard(refuse), "queued bad edit")
    with qtbot.waitSignal(edits.failed) as blocker:
        server.down = False
    assert blocker.args == ["queued bad edit", "duplicate key"]
    assert edits.pending == []
    assert window.statusBar().currentMessage() == "Could not save queued bad edit: duplicate key"


def test_closing_with_waiting_edits_asks_first(qtbot, study: Study) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    asked: list[list[str]] = []
    answer = {"discard": False}
    edits = install_connection_guard(window, retry_ms=10_000,
                                     confirm_discard=lambda _w, pending: asked.append(pending) or answer["discard"])
    server = Server()
    server.down = True
    edits.run(server.guard(lambda: None), "grade of img1")
    window.show()
    assert window.close() is False and window.isVisible()  # kept open: the edit would be lost
    assert asked == [["grade of img1"]]
    answer["discard"] = True
    assert window.close() is True


def test_watcher_reports_edits_from_another_workstation(qtbot, study: Study, account) -> None:
    there = Study.open(study.root)
    other = GradingService(there, account(there, "Dr. B"))
    watcher = ChangeWatcher(ChangeFeed(study), interval_ms=20)
    try:
        watcher.start()
        with qtbot.waitSignal(watcher.changed, timeout=5000) as blocker:
            other.save_draft(other.next_todo(), DRAFT)
        assert [c.entity for c in blocker.args[0]] == ["grade"]
    finally:
        watcher.stop()
        there.close()


def test_watcher_says_when_the_database_stops_answering(qtbot, study: Study, tmp_path: Path) -> None:
    feed = ChangeFeed(study)
    watcher = ChangeWatcher(feed, interval_ms=20)
    broken = Study.create(tmp_path / "other")
    feed.study = broken
    broken.close()
    (tmp_path / "other" / "study.sqlite").unlink()
    (tmp_path / "other" / "study.sqlite").mkdir()  # the database file is gone: cannot be opened
    try:
        with qtbot.waitSignal(watcher.failed, timeout=5000) as blocker:
            watcher.start()
        assert "Cannot check for other workstations' edits" in blocker.args[0]
        with qtbot.waitSignal(watcher.restored, timeout=5000):
            feed.study = study
    finally:
        watcher.stop()
