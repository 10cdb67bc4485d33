from __future__ import annotations

import threading

import pytest

from rop_desktop.workers.runner import GeneratorWorker


def _count(n: int, gate: threading.Event | None = None, cleanup: list[str] | None = None):
    try:
        for i in range(n):
            if gate is not None and i == 2:
                gate.wait(5)
            yield i
        return "done"
    finally:
        if cleanup is not None:
            cleanup.append("closed")


def test_yields_are_relayed_in_order_and_return_value_arrives(qtbot) -> None:
    worker = GeneratorWorker(lambda: _count(5))
    seen: list[int] = []
    worker.yielded.connect(seen.append)
    with qtbot.waitSignal(worker.returned, timeout=5000) as blocker:
        worker.start()
    assert blocker.args == ["done"]
    assert worker.wait(5000)
    assert seen == [0, 1, 2, 3, 4]


def test_abort_stops_between_yields_and_runs_finally(qtbot) -> None:
    gate = threading.Event()
    cleanup: list[str] = []
    worker = GeneratorWorker(lambda: _count(1000, gate, cleanup))
    seen: list[int] = []
    worker.yielded.connect(seen.append)
    worker.start()
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=5000)
    with qtbot.waitSignal(worker.aborted, timeout=5000):
        worker.abort()
        gate.set()
    assert worker.wait(5000)
    assert cleanup == ["closed"]
    assert len(seen) <= 4


def test_pause_holds_and_resume_continues(qtbot) -> None:
    gate = threading.Event()
    worker = GeneratorWorker(lambda: _count(6, gate))
    seen: list[int] = []
    worker.yielded.connect(seen.append)
    worker.start()
    qtbot.waitUntil(lambda: seen == [0, 1], timeout=5000)  # generator now blocked before yielding 2
    worker.pause()
    gate.set()
    qtbot.waitUntil(lambda: seen == [0, 1, 2], timeout=5000)  # the value in flight arrives ...
    with qtbot.assertNotEmitted(worker.yielded, wait=200):  # ... then nothing while paused
        pass
    assert seen == [0, 1, 2]
    with qtbot.waitSignal(worker.returned, timeout=5000):
        worker.resume()
    assert seen == list(range(6))
    assert worker.wait(5000)


def test_exception_in_generator_is_relayed(qtbot) -> None:
    def boom():
        yield 1
        raise ValueError("bad data in record 7")

    worker = GeneratorWorker(boom)
    with qtbot.waitSignal(worker.errored, timeout=5000) as blocker:
        worker.start()
    assert isinstance(blocker.args[0], ValueError)
    assert "record 7" in worker.traceback
    assert worker.wait(5000)


def test_a_worker_runs_once(qtbot) -> None:
    worker = GeneratorWorker(lambda: _count(1))
    with qtbot.waitSignal(worker.finished, timeout=5000):
        worker.start()
    with pytest.raises(RuntimeError):
        worker.start()
    assert worker.wait(5000)
