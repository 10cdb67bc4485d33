"""Connects the Models tab to the model registry: activate, delete, export, import, batch
prediction over the study (progress, cancel), "most uncertain next" and the assist-mode setting."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from rop_desktop.services import policy
from rop_desktop.services.assist import assist_mode, set_assist_mode
from rop_desktop.services.grading import GradingService
from rop_desktop.services.models import ModelService, ModelServiceError
from rop_desktop.services.policy import AccessDenied, Action
from rop_desktop.services.predictions import PredictionService
from rop_desktop.ui.prediction.versions_panel import VersionsPanel
from rop_desktop.workers.runner import GeneratorWorker


class VersionsController(QObject):
    """Signals: ``modelsChanged()`` (activation, deletion, import: predictions must be redone),
    ``scoresChanged()`` (a batch prediction ended), ``batchStarting(worker)``, ``assistChanged(bool)``."""

    modelsChanged = Signal()
    scoresChanged = Signal()
    batchStarting = Signal(object)  # the batch prediction's GeneratorWorker, before its thread starts
    assistChanged = Signal(bool)

    def __init__(
        self,
        panel: VersionsPanel,
        models: ModelService,
        predictions: PredictionService,
        grading: GradingService,
        open_image: Callable[[int], None],
        current: Callable[[], int | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel = panel
        self.models = models
        self.predictions = predictions
        self.grading = grading
        self._open_image = open_image
        self._current = current
        self.batch: GeneratorWorker | None = None
        panel.activateRequested.connect(self.activate)
        panel.deactivateRequested.connect(self.deactivate)
        panel.deleteRequested.connect(self.delete)
        panel.exportRequested.connect(self.export)
        panel.importRequested.connect(self.import_bundle)
        panel.predictAllRequested.connect(self.predict_all)
        panel.cancelPredictAllRequested.connect(self.cancel_predict_all)
        panel.uncertainNextRequested.connect(self.open_most_uncertain)
        panel.assistModeChanged.connect(self.set_assist)
        panel.set_assist_mode(assist_mode(grading.study))
        study, actor = grading.study, grading.actor
        panel.set_allowed(
            manage=policy.allowed(study, actor, Action.MODELS_MANAGE),
            predict_all=policy.allowed(study, actor, Action.PREDICT_ALL),
            settings=policy.allowed(study, actor, Action.SETTINGS_WRITE),
        )
        self.refresh()

    def refresh(self) -> None:
        self.panel.set_versions(self.models.versions())

    # ------------------------------------------------------------------ registry
    def _refused(self, exc: AccessDenied) -> None:
        self.panel.show_message(exc.reason, error=True)

    def activate(self, version_id: int) -> None:
        try:
            version = self.models.activate(version_id)
        except AccessDenied as exc:
            self._refused(exc)
            return
        except ModelServiceError as exc:
            self.panel.show_message(str(exc), error=True)
            return
        self.panel.show_message(f"#{version.id} {version.name} is now the active {version.task} model.")
        self._changed()

    def deactivate(self, version_id: int) -> None:
        try:
            self.models.deactivate(version_id)
        except AccessDenied as exc:
            self._refused(exc)
            return
        self.panel.show_message(f"#{version_id} is no longer active.")
        self._changed()

    def delete(self, version_id: int) -> None:
        try:
            self.models.delete(version_id)
        except AccessDenied as exc:
            self._refused(exc)
            return
        self.panel.show_message(f"Model version #{version_id} deleted.")
        self._changed()

    def export(self, version_id: int, destination: str) -> None:
        try:
            target = self.models.export(version_id, destination)
        except AccessDenied as exc:
            self._refused(exc)
            return
        except (ModelServiceError, OSError) as exc:
            self.panel.show_message(f"Export failed: {exc}", error=True)
            return
        self.panel.show_message(f"Model version #{version_id} exported to {target}.")

    def import_bundle(self, folder: str) -> None:
        """Register a bundle from elsewhere; a bad one is refused with the reason, nothing registered."""
        try:
            version = self.models.import_bundle(folder)
        except AccessDenied as exc:
            self._refused(exc)
            return
        except (ModelServiceError, OSError, ValueError) as exc:
            self.panel.show_message(f"Not imported: {exc}", error=True)
            return
        self.panel.show_message(
            f"Imported #{version.id} {version.name} ({version.task}, {version.architecture}); activate it to use it."
        )
        self._changed()
        self.panel.select(version.id)

    def _changed(self) -> None:
        self.refresh()
        self.modelsChanged.emit()

    # ------------------------------------------------------------------ batch prediction
    def predict_all(self) -> GeneratorWorker | None:
        if self.batch is not None and self.batch.isRunning():
            return None
        if not self.predictions.active_versions():
            self.panel.show_message("No model is active: activate one first.", error=True)
            return None
        worker = GeneratorWorker(self.predictions.predict_all, parent=self)
        worker.yielded.connect(lambda progress: self.panel.show_batch_progress(*progress))
        worker.returned.connect(lambda total: self._batch_ended(f"Predicted {total} images."))
        worker.aborted.connect(
            lambda: self._batch_ended("Batch prediction cancelled; the images done so far keep their predictions.")
        )
        worker.errored.connect(lambda exc: self._batch_ended(f"Batch prediction failed: {exc}", error=True))
        self.batch = worker
        self.panel.set_batch_running(True)
        self.panel.show_batch_progress(0, 1)
        self.panel.show_message("Predicting every image of the study …")
        self.batchStarting.emit(worker)
        worker.start()
        return worker

    def cancel_predict_all(self) -> None:
        if self.batch is not None:
            self.batch.abort()

    def _batch_ended(self, message: str, error: bool = False) -> None:
        self.panel.set_batch_running(False)
        self.panel.show_message(message, error=error)
        self.scoresChanged.emit()

    def most_uncertain_after(self, current: int | None) -> int | None:
        """The to-do image (not ``current``) the active ROP model is least certain about, or None
        (usable as the workspace's "next to do" rule: active learning)."""
        found = self.predictions.most_uncertain_first(self.grading, limit=1, exclude=current)  # one indexed walk
        return found[0] if found else None

    def open_most_uncertain(self) -> int | None:
        """Open the to-do image on which the active ROP model is least certain (one indexed walk:
        never the study's predictions on the UI thread)."""
        image_id = self.most_uncertain_after(self._current())
        if image_id is None:
            if self.grading.next_todo() is None:
                self.panel.show_message("Nothing left to grade.")
            else:
                self.panel.show_message(
                    "No ROP prediction you may see of an image left to grade: activate a ROP "
                    "model and run “Predict all images” (blinded graders need assist mode).",
                    error=True,
                )
            return None
        self._open_image(image_id)
        return image_id

    # ------------------------------------------------------------------ assist mode
    def set_assist(self, on: bool) -> None:
        try:
            set_assist_mode(self.grading.study, self.grading.actor, on)
        except AccessDenied as exc:
            self.panel.set_assist_mode(not on)
            self._refused(exc)
            return
        self.panel.show_message(
            "Assist mode on: graders see the model's output while grading."
            if on
            else "Assist mode off: model output appears after submitting."
        )
        self.assistChanged.emit(on)

    def shutdown(self) -> None:
        if self.batch is not None:
            self.batch.shutdown()
