"""Connects the Train tab to the training service: one run at a time in a TrainingWorker,
live progress, and the auto-update rule (a fine-tuning run after N new reference labels)."""

from __future__ import annotations

import sys
from collections.abc import Generator

from PySide6.QtCore import QEvent, QObject, Signal

from rop_desktop.services.models import ModelVersionInfo
from rop_desktop.services.policy import AccessDenied
from rop_desktop.services.training_runs import ARCHITECTURES, TrainingService, default_architecture
from rop_desktop.ui.prediction.training_panel import TrainingPanel
from rop_desktop.workers.runner import GeneratorWorker
from rop_desktop.workers.training_worker import RunOutcome, TrainingWorker, TrainRequest, cuda_devices, run_choices
from training.events import BatchProgress, EpochEnd, RunStarted


class TrainingController(QObject):
    """Signals: ``runEnded(RunOutcome)`` after every run, ``versionActivated(ModelVersionInfo)``.

    The form is filled when the Train tab is first shown (or a run starts): the CUDA devices and a
    recipe's defaults need torch, 2-8 s to import, which the window must not wait for (issue 17).
    On the first show torch is imported in a worker thread while the tab says so; a run started
    before that finished waits for it.
    """

    runEnded = Signal(object)
    versionActivated = Signal(object)

    def __init__(self, panel: TrainingPanel, service: TrainingService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.panel = panel
        self.service = service
        self.worker: TrainingWorker | None = None
        self._workers: list[TrainingWorker] = []  # every run's worker, until the window closes
        self._epochs = 0
        self.devices: list[tuple[str, str]] = []
        self.form_ready = False
        self._engine_loader: GeneratorWorker | None = None
        panel.installEventFilter(self)
        panel.taskChanged.connect(self._on_task)
        panel.architectureChanged.connect(self._on_architecture)
        panel.startRequested.connect(self.start)
        panel.cancelRequested.connect(self.cancel)
        panel.pauseRequested.connect(lambda: self.worker.pause() if self.worker else None)
        panel.resumeRequested.connect(lambda: self.worker.resume() if self.worker else None)
        panel.autoUpdateChanged.connect(self._set_auto_update)
        panel.activateRequested.connect(self._activate)
        panel.set_auto_update(service.auto_update_every())

    # ------------------------------------------------------------------ the form
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self.panel and event.type() == QEvent.Type.Show and not self.form_ready:
            self.prepare_form()
        return False

    def prepare_form(self, *, wait: bool = False) -> None:
        """Fill the form once: this machine's devices, the task's architectures, their defaults.
        Without torch loaded yet (and not ``wait``), torch is loaded in a worker thread first."""
        if self.form_ready:
            return
        if wait or "torch" in sys.modules:
            if self._engine_loader is not None:
                self._engine_loader.shutdown()
            self._fill_form(cuda_devices())
            return
        if self._engine_loader is not None:
            return

        def load() -> Generator[None, None, list[tuple[str, str]]]:  # worker thread: the first import of torch
            return cuda_devices()
            yield  # a generator for GeneratorWorker, with nothing to report on the way

        self.panel.start_button.setEnabled(False)
        self.panel.status.setText("Loading the training engine …")
        self._engine_loader = GeneratorWorker(load, parent=self)
        self._engine_loader.returned.connect(self._fill_form)
        self._engine_loader.errored.connect(lambda exc: self._fill_form([], note=f"torch could not be loaded: {exc}"))
        self._engine_loader.start()

    def _fill_form(self, devices: list[tuple[str, str]], note: str = "Ready.") -> None:
        if self.form_ready:
            return
        self.form_ready = True
        self.devices = list(devices)
        self.panel.set_devices(self.devices, self.devices[0][0] if self.devices else "cpu")
        self._on_task(self.panel.task())
        self.panel.start_button.setEnabled(not self.running())
        self.panel.status.setText(note)

    def _on_task(self, task: str) -> None:
        if not self.form_ready:
            return
        names = [name for name, _recipe in ARCHITECTURES[task]]
        cuda = bool(self.devices)  # the CUDA devices found
        self.panel.set_architectures(names, default_architecture(task, cuda, self._has_line_model()))

    def _has_line_model(self) -> bool:
        try:
            return self.service.models.active("segmentation") is not None
        except AccessDenied:
            return False

    def _on_architecture(self, architecture: str) -> None:
        if architecture and self.form_ready:
            self.panel.set_choices(run_choices(self.service, self.panel.task(), architecture))

    def refresh_choices(self) -> None:
        """Re-read the starting weights (a version was activated or deleted); the form's numbers stay."""
        if self.form_ready and not self.running() and self.panel.architecture():
            self.panel.set_starting_weights(run_choices(self.service, self.panel.task(), self.panel.architecture()))
            version_id = self.panel.result_version()
            if version_id is not None and any(v.id == version_id and v.active for v in self.service.models.versions()):
                self.panel.version_activated()

    # ------------------------------------------------------------------ runs
    def running(self) -> bool:
        return self.worker is not None and self.worker.is_running()

    def start(self, request: TrainRequest | None = None, *, threads: int | None = None) -> TrainingWorker | None:
        """Start a run from the form (or ``request``); None when one is already running.

        ``threads``: torch threads of the run (default: all cores but one, see ``training_threads``).
        """
        if self.running():
            return None
        self.prepare_form(wait=True)
        request = request or self.panel.request()
        worker = TrainingWorker(self.service, request, parent=self, threads=threads)
        worker.runStarted.connect(self._on_started)
        worker.progress.connect(self._on_progress)
        worker.epochEnded.connect(self._on_epoch)
        worker.logged.connect(self.panel.append_log)
        worker.pausedChanged.connect(self._on_paused)
        worker.ended.connect(lambda outcome, w=worker: self._on_ended(w, outcome))
        self.worker = worker
        self._workers.append(worker)
        self._epochs = request.epochs
        self.panel.run_begins(
            f"Training {request.architecture} for {request.task} on {request.device}: "
            f"{request.epochs} epochs, batch {request.batch_size}, image size {request.image_size}, "
            f"starting weights {request.init}."
        )
        worker.start()
        return worker

    def cancel(self) -> None:
        if self.worker is not None:
            self.panel.status.setText("Cancelling …")
            self.worker.cancel()

    def _on_started(self, event: RunStarted) -> None:
        self._epochs = event.epochs
        self.panel.show_started(event.n_train, event.n_val, event.n_test, event.device, event.init)

    def _on_progress(self, event: BatchProgress) -> None:
        self.panel.show_progress(
            event.epoch, self._epochs, event.batch, event.batches, event.loss, event.images_per_s, event.eta_s
        )

    def _on_epoch(self, event: EpochEnd) -> None:
        self.panel.curves.add_epoch(event.epoch, event.train_loss, event.val_loss, event.val_metrics)
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in event.val_metrics.items() if isinstance(v, (int, float)))
        val = f"{event.val_loss:.4f}" if event.val_loss is not None else "–"
        self.panel.append_log(
            f"epoch {event.epoch}/{event.epochs}: train loss {event.train_loss:.4f}, validation "
            f"loss {val}{', ' + metrics if metrics else ''}, lr {event.lr:g}"
            f"{' (best)' if event.is_best else ''}"
        )

    def _on_paused(self, paused: bool) -> None:
        self.panel.show_paused(paused)
        self.panel.enable_pause_button()

    def _on_ended(self, worker: TrainingWorker, outcome: RunOutcome) -> None:
        self.panel.show_outcome(worker.request.task, outcome)
        self.refresh_choices()
        self.runEnded.emit(outcome)

    def _set_auto_update(self, every: int | None) -> None:
        try:
            self.service.set_auto_update_every(every)
        except AccessDenied as exc:  # the account lost its role since sign-in
            self.panel.append_log(exc.reason)

    def _activate(self, version_id: int) -> None:
        try:
            version: ModelVersionInfo = self.service.models.activate(version_id)
        except AccessDenied as exc:
            self.panel.append_log(exc.reason)
            return
        self.panel.version_activated()
        self.refresh_choices()
        self.versionActivated.emit(version)

    # ------------------------------------------------------------------ auto-update
    def auto_update_if_due(self) -> bool:
        """Start a fine-tuning run of the form's task when N new reference labels arrived."""
        task = self.panel.task()
        if self.running() or not self.service.auto_update_due(task):
            return False
        self.panel.append_log(
            f"auto-update: {self.service.new_labels_since_last_run(task)} new reference labels "
            f"(every {self.service.auto_update_every()}): starting a fine-tuning run"
        )
        return self.start() is not None

    def shutdown(self) -> None:
        if self._engine_loader is not None:
            self._engine_loader.shutdown()
        for worker in self._workers:
            worker.shutdown()
