"""Run one blocking service call off the UI thread and get its result back on the UI thread.

A thin layer over :class:`~rop_desktop.workers.runner.GeneratorWorker` for calls that do not
report progress (a dashboard, a model prediction, a snapshot export): the call runs in a
``QThread``; ``on_done(result)`` or ``on_error(exception)`` runs on the UI thread afterwards.
:meth:`BackgroundCalls.shutdown` waits for every call still running, so a closing window
leaves no thread behind.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject

from rop_desktop.workers.runner import GeneratorWorker


def _once(fn: Callable[[], Any]) -> Generator[None, None, Any]:
    """A generator that runs ``fn`` once and returns its result (GeneratorWorker's ``returned``)."""
    return fn()
    yield  # pragma: no cover - makes this function a generator


class BackgroundCalls(QObject):
    """Starts calls in worker threads and keeps them until they finish (see the module docstring)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._workers: list[GeneratorWorker] = []

    def start(
        self, fn: Callable[[], Any], on_done: Callable[[Any], None], on_error: Callable[[BaseException], None]
    ) -> GeneratorWorker:
        """Run ``fn()`` in a new worker thread; exactly one of the callbacks runs on the UI thread."""
        worker = GeneratorWorker(lambda: _once(fn), parent=self)
        worker.returned.connect(on_done)
        worker.errored.connect(on_error)
        worker.finished.connect(lambda w=worker: self._forget(w))
        self._workers.append(worker)
        worker.start()
        return worker

    def busy(self) -> bool:
        """Whether a call is still running."""
        return any(w.isRunning() for w in self._workers)

    def _forget(self, worker: GeneratorWorker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        worker.deleteLater()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Wait for the running calls (a call cannot be interrupted half-way); True when all ended."""
        ok = all(worker.shutdown(timeout_ms) for worker in list(self._workers))
        self._workers.clear()
        return ok
