"""Watch the study for edits made elsewhere, without ever blocking the window.

A ``QTimer`` on the UI thread fires every ``interval_ms``; each tick hands
``ChangeFeed.poll()`` to one background thread (a tick is skipped while the previous poll still
runs, e.g. waiting for a server to answer). Results come back to the UI thread as signals:
``changed(list[Change])`` when something changed, ``failed(str)`` once when the database stops
answering and ``restored()`` when it answers again.

The feed leaves out this workstation's own edits (``ChangeFeed(study)``, see
``rop_desktop.services.changes``): the window already shows them, and a window that reacted to
its own submit as to someone else's would redo its work after every click. What the watcher
reports is for the rows it touched, never a rebuild of a whole list (issue 15).

Wiring (composition root)::

    watcher = ChangeWatcher(ChangeFeed(study), parent=window)
    watcher.changed.connect(workspace.apply_changes)  # the rows of the grades that changed
    watcher.start()
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import QObject, QTimer, Signal

from rop_desktop.services.changes import Change, ChangeFeed

DEFAULT_INTERVAL_MS = 2000


class ChangeWatcher(QObject):
    """Polls a :class:`ChangeFeed` off the UI thread; owns (and finally closes) the feed."""

    changed = Signal(list)  # list[Change], oldest first
    failed = Signal(str)  # why the database cannot be asked (emitted once per outage)
    restored = Signal()  # the database answers again after ``failed``
    _done = Signal(object)  # internal: a poll's result or exception, relayed to the UI thread

    def __init__(
        self, feed: ChangeFeed, *, interval_ms: int = DEFAULT_INTERVAL_MS, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be positive, not {interval_ms}")
        self.feed = feed
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rop-changes")
        self._in_flight = False
        self._failing = False
        self._stopped = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll_now)
        self._done.connect(self._on_done)

    def start(self) -> None:
        """Start polling every interval."""
        if not self._stopped:
            self._timer.start()

    def stop(self) -> None:
        """Stop polling, wait for a poll in flight, and close the feed (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._timer.stop()
        self._pool.shutdown(wait=True)
        self.feed.close()

    def poll_now(self) -> None:
        """Ask for changes now (returns at once; the answer comes as a signal)."""
        if self._in_flight or self._stopped:
            return
        self._in_flight = True
        self._pool.submit(self.feed.poll).add_done_callback(self._relay)

    def _relay(self, future: Future[list[Change]]) -> None:  # the background thread
        exc = future.exception()
        self._done.emit(exc if exc is not None else future.result())

    def _on_done(self, result: object) -> None:  # the UI thread
        self._in_flight = False
        if self._stopped:
            return
        if isinstance(result, BaseException):
            if not self._failing:
                self._failing = True
                self.failed.emit(f"Cannot check for other workstations' edits: {result}")
            return
        if self._failing:
            self._failing = False
            self.restored.emit()
        if result:
            self.changed.emit(result)
