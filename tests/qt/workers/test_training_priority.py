"""In-app training leaves a core to the window (issue 17: image switches took 240-285 ms while a
model trained): torch gets all cores but one, and the training thread runs nicer than the window's."""

from __future__ import annotations

import os
import sys
import threading

import pytest
import torch

from rop_desktop.workers import training_worker
from rop_desktop.workers.training_worker import TrainingWorker, lower_thread_priority, training_threads


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 1), (4, 3)])
def test_torch_gets_all_cores_but_one(monkeypatch: pytest.MonkeyPatch, cores: int, expected: int) -> None:
    monkeypatch.setattr(training_worker.os, "cpu_count", lambda: cores)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 16)
    assert training_threads() == expected


def test_never_more_threads_than_torch_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training_worker.os, "cpu_count", lambda: 16)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # e.g. OMP_NUM_THREADS=2
    assert training_threads() == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have their own nice value on Linux only")
def test_the_training_thread_runs_nicer_than_the_window() -> None:
    window_thread = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, window_thread)
    seen: dict[str, int] = {}

    def train() -> None:
        tid = threading.get_native_id()
        seen["start"] = os.getpriority(os.PRIO_PROCESS, tid)
        lower_thread_priority(TrainingWorker.NICE)
        seen["training"] = os.getpriority(os.PRIO_PROCESS, tid)

    thread = threading.Thread(target=train)
    thread.start()
    thread.join()
    assert TrainingWorker.NICE > 0
    assert seen["training"] == min(19, seen["start"] + TrainingWorker.NICE)
    assert os.getpriority(os.PRIO_PROCESS, window_thread) == before  # the window's thread is untouched
