"""Cancel and pause a running :func:`training.engine.fit` from another thread."""

from __future__ import annotations

import threading


class RunControl:
    """Thread-safe switches the training loop reads between batches.

    ``cancel()`` ends the run within one batch (a checkpoint is saved and ``Cancelled`` yielded);
    ``pause()`` makes the loop yield ``Paused`` and then block until ``resume()`` or ``cancel()``.
    One control belongs to one run; the UI thread calls the methods, the training thread reads.
    """

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        """Stop the run at the next batch boundary (also wakes a paused run)."""
        self._cancelled.set()
        self._running.set()

    def pause(self) -> None:
        """Pause at the next batch boundary (no effect once cancelled)."""
        if not self._cancelled.is_set():
            self._running.clear()

    def resume(self) -> None:
        """Continue a paused run."""
        self._running.set()

    @property
    def is_paused(self) -> bool:
        return not self._running.is_set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancelled.is_set()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; True once running (resumed or cancelled), False on timeout."""
        return self._running.wait(timeout)
