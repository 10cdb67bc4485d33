"""Run long work off the UI thread: a plain generator in a QThread, its yields relayed as signals.

Learned from superqt's ``thread_worker``: the work is a generator function that knows nothing
of Qt; :class:`GeneratorWorker` iterates it in a ``QThread`` and emits every yielded value with
``yielded``. Between two yields the worker honours ``pause()``, ``resume()`` and ``abort()`` —
so "cancel within one batch" holds for any generator that yields once per batch.

Signals are delivered to the receiver's thread (queued connection), so slots in the window
run on the UI thread and never block it.
"""

from __future__ import annotations

import threading
import traceback
import weakref
from collections.abc import Callable, Generator, Iterator
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

_LIVE: weakref.WeakSet[GeneratorWorker] = weakref.WeakSet()


def running_workers() -> list[GeneratorWorker]:
    """Workers whose thread is still running (tests fail on any left dangling)."""
    alive = []
    for worker in list(_LIVE):
        try:
            if worker.isRunning():
                alive.append(worker)
        except RuntimeError:  # the C++ object is gone, so is its thread
            _LIVE.discard(worker)
    return alive


class GeneratorWorker(QThread):
    """Iterates ``factory()`` in its own thread (``run`` overridden; no event loop needed).

    >>> worker = GeneratorWorker(lambda: my_generator(args))
    >>> worker.yielded.connect(on_event); worker.start()

    Signals emitted from the worker thread reach receivers on the UI thread through queued
    connections. ``finished`` (QThread's own) fires after any of returned/errored/aborted.
    """

    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)  # the exception; ``traceback`` holds the formatted text
    aborted = Signal()

    def __init__(
        self, factory: Callable[[], Iterator[Any] | Generator[Any, Any, Any]], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("rop-worker")
        self._factory = factory
        self._abort = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._started_once = False
        self.traceback: str = ""

    def run(self) -> None:  # worker thread
        gen: Iterator[Any] | None = None
        try:
            gen = self._factory()
            while True:
                self._running.wait()
                if self._abort.is_set():
                    close = getattr(gen, "close", None)
                    if close is not None:
                        close()
                    self.aborted.emit()
                    return
                try:
                    value = next(gen)
                except StopIteration as stop:
                    self.returned.emit(stop.value)
                    return
                self.yielded.emit(value)
        except Exception as exc:  # noqa: BLE001 - relayed to the UI, never swallowed
            self.traceback = traceback.format_exc()
            self.errored.emit(exc)

    def start(self, *args: Any) -> None:
        if self._started_once:
            raise RuntimeError("a worker runs once; create a new one")
        self._started_once = True
        _LIVE.add(self)
        super().start(*args)

    def is_running(self) -> bool:
        return self.isRunning()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def abort(self) -> None:
        """Stop at the next yield; the generator's ``finally`` blocks run."""
        self._abort.set()
        self._running.set()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Abort and wait: call before the window closes so no QThread dangles."""
        if not self._started_once:
            return True
        self.abort()
        return self.wait(timeout_ms)
