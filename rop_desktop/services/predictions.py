"""The active models' predictions for an image, cached in the study per model version.

For each app task with an active model version (binary ROP, stage, line segmentation) the
prediction is computed by ``training.predictor`` and cached: the numbers in the ``predictions``
table, the maps (line mask, Grad-CAM saliency, feature-map grid) in ``cache/predictions/``.
A hybrid stage model gets its line mask from the active line segmenter. Activating another
version takes effect at the next call — no restart. Run it off the UI thread (a worker).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from rop_desktop.services.grading import GradingService
from rop_desktop.services.models import ModelService, ModelVersionInfo
from rop_desktop.store import Study, repo
from rop_desktop.store.models import Grade, Image, Prediction
from training.bundle import BundleError

from .policy import ASSIST_SETTING, BLINDED_SETTING, REVEAL_SETTING, Action, Actor, current, guarded
from training.predictor import Predictor, PredictorError

#: Order in which tasks run: the line first (the hybrid stage model may need it).
TASK_ORDER = ("segmentation", "binary", "stage")


class PredictionError(ValueError):
    """A model could not run on this image; the message is for the user."""


@dataclass(frozen=True)
class ModelOutput:
    """One model's output for one image, as plain data (maps at the image's size)."""

    version_id: int
    version_name: str
    task: str
    architecture: str
    probability: float | None = None
    threshold: float | None = None
    positive: bool | None = None
    class_probabilities: dict[str, float] | None = None
    predicted_class: str | None = None
    line_mask: np.ndarray | None = None
    saliency: np.ndarray | None = None
    feature_grid: np.ndarray | None = None
    feature_layer: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    cached: bool = False

    @property
    def uncertainty(self) -> float | None:
        """1 at p = threshold, 0 at certainty (binary), or 1 − max p (stage)."""
        if self.probability is not None:
            t = self.threshold if self.threshold is not None else 0.5
            distance = self.probability - t
            scale = (1 - t) if distance > 0 else t
            return float(1.0 - min(1.0, abs(distance) / max(scale, 1e-6)))
        if self.class_probabilities:
            return float(1.0 - max(self.class_probabilities.values()))
        return None


@dataclass(frozen=True)
class ImagePrediction:
    image_id: int
    outputs: dict[str, ModelOutput]
    errors: dict[str, str] = field(default_factory=dict)


def _pack(arrays: dict[str, np.ndarray | None]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: v for k, v in arrays.items() if v is not None})
    return buf.getvalue()


class PredictionService:
    """Thread-safe enough for one worker thread plus UI-thread reads of the cache."""

    def __init__(self, study: Study, actor: Actor, device: str = "auto") -> None:
        self.study = study
        self.actor = current(study, actor, verb="see model output")
        self.device = device
        self.models = ModelService(study, self.actor)
        self._predictors: dict[int, Predictor] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ models
    @guarded(Action.MODELS_READ)
    def active_versions(self) -> dict[str, ModelVersionInfo]:
        out = {}
        for task in TASK_ORDER:
            version = self.models.active(task)
            if version is not None:
                out[task] = version
        return out

    @guarded(Action.MODELS_READ)
    def predictor(self, version: ModelVersionInfo) -> Predictor:
        with self._lock:
            predictor = self._predictors.get(version.id)
            if predictor is None:
                try:
                    predictor = Predictor.from_bundle(version.bundle_dir, self.device)
                except (BundleError, PredictorError) as exc:
                    raise PredictionError(f"model {version.name} cannot be loaded: {exc}") from exc
                self._predictors[version.id] = predictor
            return predictor

    @guarded(Action.MODELS_READ)
    def layers(self, task: str) -> list[str]:
        version = self.models.active(task)
        return self.predictor(version).layers() if version else []

    # ------------------------------------------------------------------ cache
    def _cached(self, image_id: int, version: ModelVersionInfo) -> ModelOutput | None:
        return PredictionService.cached.__wrapped__(self, image_id, version)  # type: ignore[attr-defined]

    def _cache_file(self, version_id: int, image_id: int) -> str:
        return f"predictions/v{version_id}/{image_id}.npz"

    @guarded(Action.MODEL_OUTPUT_READ, image="image_id")
    def cached(self, image_id: int, version: ModelVersionInfo) -> ModelOutput | None:
        with self.study.session() as session:
            row = repo.prediction_for(session, image_id, version.id)
            if row is None:
                return None
            payload, mask_file = dict(row.payload or {}), row.mask_file
        arrays: dict[str, np.ndarray] = {}
        if mask_file:
            path = self.study.cache_path(mask_file)
            if not path.is_file():
                return None  # cache folder cleared: recompute
            with np.load(path) as data:
                arrays = {k: data[k] for k in data.files}
        saliency = arrays.get("saliency")
        return ModelOutput(version.id, version.name, version.task, version.architecture,
                           probability=payload.get("probability"), threshold=payload.get("threshold"),
                           positive=payload.get("positive"), class_probabilities=payload.get("class_probabilities"),
                           predicted_class=payload.get("predicted_class"), line_mask=arrays.get("line_mask"),
                           saliency=None if saliency is None else saliency.astype(np.float32),
                           feature_grid=arrays.get("feature_grid"), feature_layer=payload.get("feature_layer"),
                           timings=payload.get("timings", {}), cached=True)

    def _store(self, image_id: int, out: ModelOutput) -> None:
        relative = self._cache_file(out.version_id, image_id)
        target = self.study.cache_path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        saliency = None if out.saliency is None else out.saliency.astype(np.float16)
        target.write_bytes(_pack({"line_mask": out.line_mask, "saliency": saliency, "feature_grid": out.feature_grid}))
        payload = {"probability": out.probability, "threshold": out.threshold, "positive": out.positive,
                   "class_probabilities": out.class_probabilities, "predicted_class": out.predicted_class,
                   "feature_layer": out.feature_layer, "timings": out.timings}
        for attempt in (1, 2):
            try:
                with self.study.session() as session:
                    repo.upsert_prediction(session, image_id, out.version_id, payload, mask_file=relative)
                return
            except IntegrityError:
                # another thread (batch prediction, the adjudication view) stored the same image and
                # version between our read and our insert: the second attempt updates that row
                if attempt == 2:
                    raise

    # ------------------------------------------------------------------ predicting
    @guarded(Action.MODEL_OUTPUT_READ, image="image_id")
    def predict_image(self, image_id: int, rgb: np.ndarray | None = None, *, feature_layer: str | None = None,
                      use_cache: bool = True, saliency: bool = True) -> ImagePrediction:
        """Every active model's output for the image (cached ones unless ``use_cache`` is False)."""
        versions = self.active_versions()
        outputs: dict[str, ModelOutput] = {}
        errors: dict[str, str] = {}
        for task in TASK_ORDER:
            version = versions.get(task)
            if version is None:
                continue
            hit = self._cached(image_id, version) if use_cache else None
            if hit is not None and (feature_layer is None or hit.feature_layer == feature_layer):
                outputs[task] = hit
                continue
            if rgb is None:
                rgb = self._load(image_id)
            try:
                outputs[task] = self._run(version, rgb, outputs.get("segmentation"), feature_layer, saliency)
            except (PredictionError, PredictorError, RuntimeError, ValueError) as exc:
                errors[task] = str(exc)
                continue
            self._store(image_id, outputs[task])
        return ImagePrediction(image_id, outputs, errors)

    def _load(self, image_id: int) -> np.ndarray:
        with self.study.session() as session:
            image = session.get(Image, image_id)
            if image is None:
                raise PredictionError(f"image {image_id} is not in this study")
            path = self.study.image_path(image)
        from rop_desktop.imaging.decode import ImageDecodeError, decode_file

        try:
            return decode_file(path).rgb
        except ImageDecodeError as exc:
            raise PredictionError(f"the image cannot be read: {exc.reason}") from exc

    def _run(self, version: ModelVersionInfo, rgb: np.ndarray, line: ModelOutput | None,
             feature_layer: str | None, saliency: bool) -> ModelOutput:
        predictor = self.predictor(version)
        line_mask = None
        if predictor.needs_line_mask:
            if line is None or line.line_mask is None:
                raise PredictionError("the hybrid stage model needs an active line-segmentation model")
            line_mask = line.line_mask
        layers = predictor.layers()
        layer = feature_layer if feature_layer in layers else None  # a layer name is per model
        if layer is None:
            layer = layers[len(layers) // 2] if layers else None
        p = predictor.predict(rgb, saliency=saliency, feature_layer=layer, line_mask=line_mask)
        return ModelOutput(version.id, version.name, version.task, version.architecture,
                           probability=p.probability, threshold=p.threshold, positive=p.positive,
                           class_probabilities=p.class_probabilities, predicted_class=p.predicted_class,
                           line_mask=p.line_mask, saliency=p.saliency, feature_grid=p.feature_maps,
                           feature_layer=p.feature_layer, timings=dict(p.timings))

    @guarded(Action.PREDICT_ALL)
    def predict_all(self, image_ids: Sequence[int] | None = None) -> Generator[tuple[int, int], None, int]:
        """Batch prediction over the study (progress ``(done, total)``; cancel by closing)."""
        if image_ids is None:
            with self.study.session() as session:
                image_ids = [i.id for i in repo.list_images(session)]
        total = len(image_ids)
        for done, image_id in enumerate(image_ids, start=1):
            self.predict_image(image_id, saliency=False)
            yield done, total
        return total

    @guarded(Action.MODELS_READ)
    def probabilities(self) -> dict[int, tuple[float | None, float | None]]:
        """Cached P(ROP) and uncertainty per image for the active binary model (worklist columns),
        for the images whose model output this account may see now (blinding, assist mode)."""
        version = self.models.active("binary")
        if version is None:
            return {}
        seen_all = self.actor.elevated or not _blinded_without_assist(self.study)
        with self.study.session() as session:
            query = session.query(Prediction).filter(Prediction.model_version_id == version.id)
            if not seen_all:
                if not bool(repo.get_setting(session, REVEAL_SETTING, True)):
                    return {}
                submitted = select(Grade.image_id).where(Grade.grader_id == self.actor.id, Grade.submitted.is_(True))
                query = query.filter(Prediction.image_id.in_(submitted))
            rows = query.all()
            out: dict[int, tuple[float | None, float | None]] = {}
            for row in rows:
                p = (row.payload or {}).get("probability")
                t = (row.payload or {}).get("threshold")
                o = ModelOutput(version.id, version.name, "binary", version.architecture, probability=p, threshold=t)
                out[row.image_id] = (p, o.uncertainty)
            return out

    @guarded(Action.OWN_WORK_READ)
    def most_uncertain_first(self, grading: GradingService) -> list[int]:
        """The grader's to-do images ordered by the active binary model's uncertainty (active learning)."""
        scores = self.probabilities()
        todo = [row.image_id for row in grading.worklist(status="todo")]
        return sorted(todo, key=lambda i: -(scores.get(i, (None, -1.0))[1] or -1.0))


def _blinded_without_assist(study: Study) -> bool:
    with study.session() as session:
        return bool(repo.get_setting(session, BLINDED_SETTING, True)) and \
            not bool(repo.get_setting(session, ASSIST_SETTING, False))
