"""The active models' output for the image on screen, computed off the UI thread.

:class:`PredictionWorker` serves requests in one :class:`GeneratorWorker` thread, newest
first: when the grader flips through images faster than the models run, requests for images
left behind are skipped, and every result names its image and request number so the window
drops what is no longer current. Two kinds of request: the full prediction of an image
(probability, stage, line mask, saliency, default feature maps, cached by the service) and the
feature-map grid of one chosen layer.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from rop_desktop.services.assist import AssistError, feature_grid_for
from rop_desktop.services.predictions import TASK_ORDER, ImagePrediction, PredictionService
from rop_desktop.workers.runner import GeneratorWorker


@dataclass(frozen=True)
class PredictJob:
    image_id: int
    token: int


@dataclass(frozen=True)
class FeatureJob:
    image_id: int
    token: int
    task: str
    layer: str


@dataclass(frozen=True)
class PredictionResult:
    """The full prediction of one image; ``layers`` lists each active model's feature layers."""

    image_id: int
    token: int
    prediction: ImagePrediction | None
    layers: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class FeatureResult:
    image_id: int
    token: int
    task: str
    layer: str
    grid: np.ndarray | None
    error: str | None = None


_STOP = object()


def newest(jobs: list[Any]) -> list[Any]:
    """The jobs worth running: those of the newest job's image, the latest of each kind."""
    if not jobs:
        return []
    image_id = jobs[-1].image_id
    latest: dict[type, Any] = {}
    for job in jobs:
        if job.image_id == image_id:
            latest[type(job)] = job
    return sorted(latest.values(), key=lambda j: j.token)


class PredictionWorker(QObject):
    """Predictions for the window (see the module docstring). ``done(result)`` on the UI thread."""

    done = Signal(object)

    def __init__(
        self, service: PredictionService, load_rgb: Callable[[int], np.ndarray], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.service = service
        self._load_rgb = load_rgb
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._token = 0
        self._thread = GeneratorWorker(self._serve, parent=self)
        self._thread.setObjectName("rop-prediction")
        self._thread.yielded.connect(self.done)
        self._thread.start()

    # ------------------------------------------------------------------ UI thread
    def request(self, image_id: int) -> int:
        """Ask for the image's full prediction; returns the request's token."""
        self._token += 1
        self._jobs.put(PredictJob(image_id, self._token))
        return self._token

    def request_features(self, image_id: int, task: str, layer: str) -> int:
        """Ask for one layer's feature-map grid of the ``task`` model; returns the token."""
        self._token += 1
        self._jobs.put(FeatureJob(image_id, self._token, task, layer))
        return self._token

    @property
    def token(self) -> int:
        """The newest request's token."""
        return self._token

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop after the job in progress (window closing)."""
        self._jobs.put(_STOP)
        self._thread.abort()
        return self._thread.wait(timeout_ms)

    # ------------------------------------------------------------------ worker thread
    def _serve(self) -> Generator[PredictionResult | FeatureResult, None, None]:
        while True:
            jobs = [self._jobs.get()]
            while True:
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            if any(job is _STOP for job in jobs):
                return
            for job in newest(jobs):
                yield self._predict(job) if isinstance(job, PredictJob) else self._features(job)

    def _predict(self, job: PredictJob) -> PredictionResult:
        try:
            prediction = self.service.predict_image(job.image_id)
            layers = {task: self.service.layers(task) for task in TASK_ORDER if task in prediction.outputs}
        except Exception as exc:  # noqa: BLE001 - shown in the panel; the worker serves on
            return PredictionResult(job.image_id, job.token, None, error=str(exc) or type(exc).__name__)
        return PredictionResult(job.image_id, job.token, prediction, layers)

    def _features(self, job: FeatureJob) -> FeatureResult:
        try:
            grid = feature_grid_for(self.service, job.task, job.layer, self._load_rgb(job.image_id))
        except AssistError as exc:
            return FeatureResult(job.image_id, job.token, job.task, job.layer, None, exc.reason)
        except Exception as exc:  # noqa: BLE001 - shown in the panel; the worker serves on
            return FeatureResult(job.image_id, job.token, job.task, job.layer, None, str(exc) or type(exc).__name__)
        return FeatureResult(job.image_id, job.token, job.task, job.layer, grid)
