"""Connects the Train tab to the training service: one run at a time in a TrainingWorker,
live progress, and the auto-update rule (a fine-tuning run after N new reference labels)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from rop_desktop.services.models import ModelVersionInfo
from rop_desktop.services.policy import AccessDenied
from rop_desktop.services.training_runs import ARCHITECTURES, TrainingService, default_architecture
from rop_desktop.ui.model.training_panel import TrainingPanel
from rop_desktop.workers.training_worker import (RunOutcome, TrainingWorker, TrainRequest, cuda_devices,
                                                 run_choices)
from training.events import BatchProgress, EpochEnd, RunStarted


class TrainingController(QObject):
    """Signals: ``runEnded(RunOutcome)`` after every run, ``versionActivated(ModelVersionInfo)``."""

    runEnded = Signal(object)
    versionActivated = Signal(object)

    def __init__(self, panel: TrainingPanel, service: TrainingService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.panel = panel
        self.service = service
        self.worker: TrainingWorker | None = None
        self._workers: list[TrainingWorker] = []  # every run's worker, until the window closes
        self._epochs = 0
        self.devices = cuda_devices()
        panel.set_devices(self.devices, self.devices[0][0] if self.devices else "cpu")
        panel.taskChanged.connect(self._on_task)
        panel.architectureChanged.connect(self._on_architecture)
        panel.startRequested.connect(self.start)
        panel.cancelRequested.connect(self.cancel)
        panel.pauseRequested.connect(lambda: self.worker.pause() if self.worker else None)
        panel.resumeRequested.connect(lambda: self.worker.resume() if self.worker else None)
        panel.autoUpdateChanged.connect(self._set_auto_update)
        panel.activateRequested.connect(self._activate)
        panel.set_auto_update(service.auto_update_every())
        self._on_task(panel.task())

    # ------------------------------------------------------------------ the form
    def _on_task(self, task: str) -> None:
        names = [name for name, _recipe in ARCHITECTURES[task]]
        self.panel.set_architectures(names, default_architecture(task, bool(self.devices)))

    def _on_architecture(self, architecture: str) -> None:
        if architecture:
            self.panel.set_choices(run_choices(self.service, self.panel.task(), architecture))

    def refresh_choices(self) -> None:
        """Re-read the starting weights (a version was activated or deleted); the form's numbers stay."""
        if not self.running() and self.panel.architecture():
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
        self.panel.run_begins(f"Training {request.architecture} for {request.task} on {request.device}: "
                              f"{request.epochs} epochs, batch {request.batch_size}, image size {request.image_size}, "
                              f"starting weights {request.init}.")
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
        self.panel.show_progress(event.epoch, self._epochs, event.batch, event.batches, event.loss,
                                 event.images_per_s, event.eta_s)

    def _on_epoch(self, event: EpochEnd) -> None:
        self.panel.curves.add_epoch(event.epoch, event.train_loss, event.val_loss, event.val_metrics)
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in event.val_metrics.items() if isinstance(v, (int, float)))
        val = f"{event.val_loss:.4f}" if event.val_loss is not None else "–"
        self.panel.append_log(f"epoch {event.epoch}/{event.epochs}: train loss {event.train_loss:.4f}, validation "
                              f"loss {val}{', ' + metrics if metrics else ''}, lr {event.lr:g}"
                              f"{' (best)' if event.is_best else ''}")

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
        self.panel.append_log(f"auto-update: {self.service.new_labels_since_last_run(task)} new reference labels "
                              f"(every {self.service.auto_update_every()}): starting a fine-tuning run")
        return self.start() is not None

    def shutdown(self) -> None:
        for worker in self._workers:
            worker.shutdown()
