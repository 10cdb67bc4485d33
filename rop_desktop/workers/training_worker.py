"""A training run of the built-in models in a background thread, relayed as typed Qt signals.

:class:`TrainingWorker` runs ``TrainingService.plan`` (a snapshot of the reference standard:
grading goes on meanwhile) and ``TrainingService.run`` in a :class:`GeneratorWorker`. Cancel
and pause act through a :class:`~training.engine.RunControl`, so both take effect within one
batch. ``BatchProgress`` is relayed at most :data:`PROGRESS_HZ` times a second (and always for
an epoch's last batch): tiny models train hundreds of batches a second, and one queued signal
per batch would keep the window's event loop busy for nothing. The run uses all cores but one
for torch and runs a few nice steps below the window's thread, so the window keeps a core
(``benchmarks/model_bench.py`` measures the event-loop lag).

Also here: the CUDA devices of this machine and the choices a training form offers for an
architecture (:func:`run_choices`). This module is imported with the window, so torch and the
training engine (~2 s and ~1 GB to load) are imported inside the functions that need them: the
window shows its first image before any of it is loaded (issue 17).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThread, Signal

from rop_desktop.services.models import ModelVersionInfo
from rop_desktop.services.training_runs import TrainingService, TrainingSetupError
from rop_desktop.workers.runner import GeneratorWorker
from training.events import BatchProgress, Cancelled, EpochEnd, Event, Failed, Finished, Log, Paused, RunStarted

if TYPE_CHECKING:
    from training.engine import RunControl

#: Most BatchProgress signals per second.
PROGRESS_HZ = 20.0
#: Starting weights a run may use.
INITS = ("finetune", "imagenet", "random")


def cuda_devices() -> list[tuple[str, str]]:
    """``[(device, name)]`` of this machine's CUDA GPUs, e.g. ``[("cuda:0", "NVIDIA H200")]``."""
    import torch

    if not torch.cuda.is_available():
        return []
    return [(f"cuda:{i}", torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]


def lower_thread_priority(nice: int) -> None:
    """Make the calling thread ``nice`` steps nicer (Linux: threads have their own nice value),
    so that the window's thread wins a contended core. Elsewhere QThread's priority does it."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except (AttributeError, OSError):  # not permitted or not supported: run at normal priority
        pass


def training_threads() -> int:
    """Intra-op threads for a run: all cores but one (the window keeps a core), never more than now."""
    import torch

    return max(1, min(torch.get_num_threads(), (os.cpu_count() or 2) - 1))


@dataclass(frozen=True)
class RunChoices:
    """What the training form offers for one task and architecture."""

    epochs: int
    batch_size: int
    image_size: int
    imagenet: bool  # pretrained weights are in the local torch cache
    finetune_from: ModelVersionInfo | None  # the active version, when it has the same architecture


def run_choices(service: TrainingService, task: str, architecture: str) -> RunChoices:
    """Defaults of the recipe and which starting weights are available (never downloads)."""
    from training.models import model_info
    from training.presets import get_preset
    from training.weights import PretrainedWeightsError, find_pretrained

    config = service.config_for(task, architecture)
    image_size = int(config.preset_overrides.get("image_size") or get_preset(config.preset).image_size)
    kind = model_info(architecture).pretrained_kind
    try:
        imagenet = kind is not None and find_pretrained(kind) is not None
    except PretrainedWeightsError:
        imagenet = False
    active = service.models.active(task)
    finetune = active if active is not None and active.architecture == architecture else None
    return RunChoices(config.epochs, config.batch_size, image_size, imagenet, finetune)


@dataclass(frozen=True)
class TrainRequest:
    """A run as the form describes it; ``overrides`` are further TrainConfig fields (advanced)."""

    task: str
    architecture: str
    epochs: int
    batch_size: int
    image_size: int | None = None
    device: str = "cpu"
    init: str = "finetune"  # one of INITS
    overrides: dict[str, Any] = field(default_factory=dict)
    #: wall-clock budget in minutes (None: the epochs decide); the schedule fits it, best weights kept
    minutes: float | None = None

    def plan_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``TrainingService.plan`` for this request."""
        if self.init not in INITS:
            raise TrainingSetupError(f"unknown starting weights {self.init!r}; expected one of {', '.join(INITS)}")
        config: dict[str, Any] = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "device": self.device,
            "init": {"imagenet": "auto", "random": "random"}.get(self.init, "auto"),
            **self.overrides,
        }
        if self.minutes:
            config["max_minutes"] = float(self.minutes)
        if self.image_size:
            config["preset_overrides"] = {**config.get("preset_overrides", {}), "image_size": int(self.image_size)}
        return {"fine_tune": self.init == "finetune", **config}


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: "finished" (with the registered version), "failed" or "cancelled"."""

    status: str
    version: ModelVersionInfo | None = None
    reason: str | None = None
    category: str | None = None
    test_metrics: dict[str, Any] = field(default_factory=dict)


def throttled(
    events: Generator[Event, None, Any], hz: float | None = None, clock: Callable[[], float] = time.monotonic
) -> Generator[Event, None, Any]:
    """Pass every event through except BatchProgress, which is thinned to ``hz`` per second
    (default :data:`PROGRESS_HZ`; an epoch's last batch and the latest one before any other
    event always pass)."""
    interval, last, pending = 1.0 / (hz or PROGRESS_HZ), -1e9, None
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            if pending is not None:
                yield pending
            return stop.value
        if isinstance(event, BatchProgress):
            now = clock()
            if now - last >= interval or event.batch == event.batches:
                last, pending = now, None
                yield event
            else:
                pending = event
            continue
        if pending is not None:
            yield pending
            pending = None
        yield event


class TrainingWorker(QObject):
    """One training run in its own thread (create one per run).

    Signals (delivered on the UI thread): ``runStarted(RunStarted)``, ``progress(BatchProgress)``,
    ``epochEnded(EpochEnd)``, ``logged(message, level)``, ``pausedChanged(bool)`` and at the end
    ``ended(RunOutcome)`` — exactly once, whatever happened.
    """

    #: How much nicer than the window the training thread runs (Linux nice steps; 0 = same).
    NICE = 5

    runStarted = Signal(object)
    progress = Signal(object)
    epochEnded = Signal(object)
    logged = Signal(str, str)
    pausedChanged = Signal(bool)
    ended = Signal(object)

    def __init__(
        self,
        service: TrainingService,
        request: TrainRequest,
        parent: QObject | None = None,
        *,
        threads: int | None = None,
    ) -> None:
        from training.engine import RunControl

        super().__init__(parent)
        self.service = service
        self.request = request
        self.control: RunControl = RunControl()
        self.threads = threads
        self._terminal: Event | None = None
        self._ended = False
        self._thread = GeneratorWorker(self._events, parent=self)
        self._thread.yielded.connect(self._on_event)
        self._thread.returned.connect(self._on_returned)
        self._thread.errored.connect(self._on_error)
        self._thread.aborted.connect(lambda: self._end(RunOutcome("cancelled", reason="stopped by the user")))

    # ------------------------------------------------------------------ in the worker thread
    def _events(self) -> Generator[Event, None, ModelVersionInfo | None]:
        import torch

        lower_thread_priority(self.NICE)
        torch.set_num_threads(self.threads or training_threads())
        request = self.request
        yield Log(f"exporting the reference standard for {request.task} ({request.architecture})")
        plan = self.service.plan(request.task, request.architecture, **request.plan_kwargs())
        yield Log(
            f"snapshot of {plan.n_records} reference labels ({plan.snapshot_hash[:12]}); run {plan.run_id}"
            + (f"; fine-tuning from {plan.init_bundle.name}" if plan.init_bundle else "")
        )
        return (yield from throttled(self.service.run(plan, self.control)))

    # ------------------------------------------------------------------ control (UI thread)
    def start(self) -> None:
        self._thread.start(QThread.Priority.LowPriority if self.NICE > 0 else QThread.Priority.InheritPriority)

    def cancel(self) -> None:
        """Stop within one batch (a paused run is woken to stop)."""
        self.control.cancel()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()
        self.pausedChanged.emit(False)

    @property
    def paused(self) -> bool:
        return self.control.is_paused

    def is_running(self) -> bool:
        return self._thread.isRunning() and not self._ended

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel and wait for the thread (window closing)."""
        self.control.cancel()
        return self._thread.shutdown(timeout_ms)

    # ------------------------------------------------------------------ relays (UI thread)
    def _on_event(self, event: Event) -> None:
        if isinstance(event, BatchProgress):
            self.progress.emit(event)
        elif isinstance(event, EpochEnd):
            self.epochEnded.emit(event)
        elif isinstance(event, RunStarted):
            self.runStarted.emit(event)
        elif isinstance(event, Log):
            self.logged.emit(event.message, event.level)
        elif isinstance(event, Paused):
            self.pausedChanged.emit(True)
            self.logged.emit(f"paused at epoch {event.epoch}, batch {event.batch}", "info")
        elif isinstance(event, (Finished, Failed, Cancelled)):
            self._terminal = event
        else:  # CheckpointSaved and any newer event kind: logged
            self.logged.emit(f"{event.kind}: {event.to_dict()}", "debug")

    def _on_returned(self, version: ModelVersionInfo | None) -> None:
        end = self._terminal
        if version is not None:
            metrics = end.test_metrics if isinstance(end, Finished) else dict(version.metrics)
            self._end(RunOutcome("finished", version, test_metrics=dict(metrics)))
        elif isinstance(end, Failed):
            self._end(RunOutcome("failed", reason=end.reason, category=end.category))
        elif isinstance(end, Cancelled):
            self._end(RunOutcome("cancelled", reason="stopped by the user"))
        else:
            self._end(RunOutcome("failed", reason="the run ended without a result", category="error"))

    def _on_error(self, exc: BaseException) -> None:
        category = "setup" if isinstance(exc, TrainingSetupError) else "error"
        reason = str(exc) if isinstance(exc, (TrainingSetupError, ValueError)) else f"{type(exc).__name__}: {exc}"
        if category == "error" and self._thread.traceback:
            self.logged.emit(self._thread.traceback, "debug")
        self._end(RunOutcome("failed", reason=reason, category=category))

    def _end(self, outcome: RunOutcome) -> None:
        if not self._ended:
            self._ended = True
            self.ended.emit(outcome)
