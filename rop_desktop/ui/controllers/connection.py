"""Edits survive a lost database connection: kept, announced, retried, never dropped.

Every edit is saved when it is made (one short transaction). When the database does not answer
(a shared study's server restarting, the network gone), :class:`PendingEdits` keeps the unsent
edit — a callable that saves it, with a description — in order, says so in the status bar
("Connection lost — 2 edits waiting, retrying…") and retries from a timer until each is saved.
While any edit waits, later edits queue behind it, so they reach the database in the order they
were made. Closing the window with edits waiting asks first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QMainWindow, QMessageBox, QWidget

from rop_desktop.services.resilience import describe, is_connection_lost

DEFAULT_RETRY_MS = 3000


@dataclass(frozen=True)
class PendingEdit:
    """An edit not yet in the database: ``save()`` writes it; ``description`` names it."""

    save: Callable[[], object]
    description: str


def waiting_message(count: int) -> str:
    """The status-bar text while ``count`` edits wait for the database."""
    return f"Connection lost — {count} edit{'s' if count != 1 else ''} waiting, retrying…"


class PendingEdits(QObject):
    """An ordered queue of unsent edits, retried every ``retry_ms`` until saved."""

    waiting = Signal(int)  # how many edits wait now (0: all saved)
    message = Signal(str)  # a line for the status bar
    failed = Signal(str, str)  # (description, reason): an edit the database refused for good

    def __init__(self, *, retry_ms: int = DEFAULT_RETRY_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if retry_ms <= 0:
            raise ValueError(f"retry_ms must be positive, not {retry_ms}")
        self._queue: deque[PendingEdit] = deque()
        self._timer = QTimer(self)
        self._timer.setInterval(retry_ms)
        self._timer.timeout.connect(self.retry_now)

    @property
    def pending(self) -> list[str]:
        """The descriptions of the edits still waiting, oldest first."""
        return [edit.description for edit in self._queue]

    def run(self, save: Callable[[], object], description: str) -> bool:
        """Save an edit now, or keep it when the connection is lost; True when it is saved.

        Errors other than a lost connection (a refused grade, a conflict) propagate at once,
        as they would without the guard. While earlier edits wait, this one queues behind them.
        """
        if self._queue:
            self._keep(PendingEdit(save, description))
            return False
        try:
            save()
        except Exception as exc:
            if not is_connection_lost(exc):
                raise
            self._keep(PendingEdit(save, description))
            return False
        return True

    def retry_now(self) -> None:
        """Send the waiting edits in order; stop at the first that still cannot reach the database."""
        refused = False
        while self._queue:
            edit = self._queue[0]
            try:
                edit.save()
            except Exception as exc:  # noqa: BLE001 - any refusal is reported and the queue goes on
                if is_connection_lost(exc):
                    self.message.emit(waiting_message(len(self._queue)))
                    return
                self._queue.popleft()
                refused = True
                self.failed.emit(edit.description, describe(exc))
                self.message.emit(f"Could not save {edit.description}: {describe(exc)}")
                self.waiting.emit(len(self._queue))
                continue
            self._queue.popleft()
            self.waiting.emit(len(self._queue))
        self._timer.stop()
        if not refused:  # else the refusal stays in the status bar
            self.message.emit("Connection restored — all edits saved")

    def _keep(self, edit: PendingEdit) -> None:
        self._queue.append(edit)
        self.waiting.emit(len(self._queue))
        self.message.emit(waiting_message(len(self._queue)))
        if not self._timer.isActive():
            self._timer.start()


def _ask_to_discard(window: QWidget, pending: list[str]) -> bool:
    answer = QMessageBox.warning(
        window,
        "Edits not saved",
        f"{len(pending)} edit(s) could not reach the database yet:\n- "
        + "\n- ".join(pending[:10])
        + "\n\nClose anyway and lose them?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


class _CloseGuard(QObject):
    """Tries the waiting edits once more when the window closes; asks before losing any."""

    def __init__(
        self, window: QMainWindow, edits: PendingEdits, confirm_discard: Callable[[QWidget, list[str]], bool]
    ) -> None:
        super().__init__(window)
        self._window, self._edits, self._confirm = window, edits, confirm_discard

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if watched is self._window and event.type() == QEvent.Type.Close and self._edits.pending:
            self._edits.retry_now()
            if self._edits.pending and not self._confirm(self._window, self._edits.pending):
                event.ignore()
                return True
        return False


def install_connection_guard(
    window: QMainWindow,
    *,
    retry_ms: int = DEFAULT_RETRY_MS,
    confirm_discard: Callable[[QWidget, list[str]], bool] = _ask_to_discard,
) -> PendingEdits:
    """A :class:`PendingEdits` for ``window``: its messages in the status bar, its close guarded."""
    edits = PendingEdits(retry_ms=retry_ms, parent=window)
    bar = window.statusBar()
    edits.message.connect(lambda text: bar.showMessage(text))
    window.installEventFilter(_CloseGuard(window, edits, confirm_discard))
    return edits
