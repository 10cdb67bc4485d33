"""The active models' predictions for an image, cached in the study per model version.

For each app task with an active model version (binary ROP, stage, line segmentation) the
prediction is computed by ``training.predictor`` and cached: the numbers in the ``predictions``
table (the worklist's P(ROP) and uncertainty, the predicted stage and the line mask's area as
columns), the maps (line mask, Grad-CAM saliency, feature-map grid) in ``cache/predictions/``.
A hybrid model (stage, or binary line-first) gets its line mask from the active line segmenter.
Activating another version takes effect at the next call — no restart. Run it off the UI thread
(a worker).

Two ways in:

* :meth:`PredictionService.predict_image` — the image on screen: every output with its maps,
  computed on demand and cached.
* :meth:`PredictionService.predict_all` — the whole study: only what the worklist needs
  (probability, uncertainty, stage, mask area; no saliency, no feature maps, no files), several
  images per forward pass (``Predictor.predict_batch``), the next batch decoded while the models
  run on this one, on CUDA when present (``device="auto"``). A batch row has no maps: when its
  image is put on screen, ``predict_image`` computes them.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from rop_desktop.services.grading import GradingService, score_view
from rop_desktop.services.model_figures import threshold_label
from rop_desktop.services.models import ModelService, ModelVersionInfo
from rop_desktop.store import Study, repo
from rop_desktop.store.repo import queue as queues
from rop_desktop.store.repo.ml import payload_numbers, uncertainty_of
from rop_desktop.store.schema import Grade, Image, Prediction

from .policy import Action, Actor, current, guarded

if TYPE_CHECKING:  # training.predictor loads torch (~2 s): imported when a model runs, not when the window opens
    from training.predictor import Predictor

#: Order in which tasks run: the line first (a hybrid model may need it).
TASK_ORDER = ("segmentation", "binary", "stage")
#: Images per forward pass of a batch prediction.
BATCH_SIZE = 16


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
    #: Only the numbers were stored (a batch prediction): no line mask, saliency or feature maps.
    summary_only: bool = False
    #: The share of the image the predicted line mask covers (line models).
    mask_area: float | None = None
    #: Where the version's threshold was chosen (its card), for :meth:`threshold_label`.
    threshold_source: str | None = None

    def threshold_label(self) -> str:
        """The threshold this output was cut at, labelled as everywhere in the app."""
        return threshold_label(self.task, self.threshold, self.threshold_source)

    def numbers(self) -> dict[str, Any]:
        """The columns a prediction row keeps (``store.repo.PREDICTION_NUMBERS``)."""
        area = self.mask_area
        if area is None and self.line_mask is not None and self.line_mask.size:
            area = float(np.count_nonzero(self.line_mask)) / float(self.line_mask.size)
        return {
            "probability": self.probability,
            "uncertainty": self.uncertainty,
            "predicted_class": self.predicted_class,
            "mask_area": area,
        }

    @property
    def uncertainty(self) -> float | None:
        """1 at p = threshold, 0 at certainty (binary), or 1 − max p (stage)."""
        return uncertainty_of(self.probability, self.threshold, self.class_probabilities)


@dataclass(frozen=True)
class ImagePrediction:
    image_id: int
    outputs: dict[str, ModelOutput]
    errors: dict[str, str] = field(default_factory=dict)


def _pack(arrays: dict[str, np.ndarray | None]) -> bytes:
    buf = io.BytesIO()
    present: dict[str, Any] = {k: v for k, v in arrays.items() if v is not None}  # numpy types **kwds loosely
    np.savez_compressed(buf, **present)
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
        from training.bundle import BundleError
        from training.predictor import Predictor, PredictorError

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
            payload, mask_file, area = dict(row.payload or {}), row.mask_file, row.mask_area
        if payload.get("summary"):  # a batch prediction's numbers: no maps
            return ModelOutput(
                version.id,
                version.name,
                version.task,
                version.architecture,
                threshold_source=version.threshold_source,
                probability=payload.get("probability"),
                threshold=payload.get("threshold"),
                positive=payload.get("positive"),
                class_probabilities=payload.get("class_probabilities"),
                predicted_class=payload.get("predicted_class"),
                timings=payload.get("timings", {}),
                cached=True,
                summary_only=True,
                mask_area=area,
            )
        arrays: dict[str, np.ndarray] = {}
        if mask_file:
            path = self.study.cache_path(mask_file)
            if not path.is_file():
                return None  # cache folder cleared: recompute
            with np.load(path) as data:
                arrays = {k: data[k] for k in data.files}
        saliency = arrays.get("saliency")
        return ModelOutput(
            version.id,
            version.name,
            version.task,
            version.architecture,
            threshold_source=version.threshold_source,
            probability=payload.get("probability"),
            threshold=payload.get("threshold"),
            positive=payload.get("positive"),
            class_probabilities=payload.get("class_probabilities"),
            predicted_class=payload.get("predicted_class"),
            line_mask=arrays.get("line_mask"),
            saliency=None if saliency is None else saliency.astype(np.float32),
            feature_grid=arrays.get("feature_grid"),
            feature_layer=payload.get("feature_layer"),
            timings=payload.get("timings", {}),
            cached=True,
        )

    def _store(self, image_id: int, out: ModelOutput) -> None:
        relative = self._cache_file(out.version_id, image_id)
        target = self.study.cache_path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        saliency = None if out.saliency is None else out.saliency.astype(np.float16)
        target.write_bytes(_pack({"line_mask": out.line_mask, "saliency": saliency, "feature_grid": out.feature_grid}))
        payload = {
            "probability": out.probability,
            "threshold": out.threshold,
            "positive": out.positive,
            "class_probabilities": out.class_probabilities,
            "predicted_class": out.predicted_class,
            "feature_layer": out.feature_layer,
            "timings": out.timings,
        }
        for attempt in (1, 2):
            try:
                with self.study.session() as session:
                    repo.upsert_prediction(
                        session, image_id, out.version_id, payload, mask_file=relative, numbers=out.numbers()
                    )
                return
            except IntegrityError:
                # another thread (batch prediction, the adjudication view) stored the same image and
                # version between our read and our insert: the second attempt updates that row
                if attempt == 2:
                    raise

    # ------------------------------------------------------------------ predicting
    @guarded(Action.MODEL_OUTPUT_READ, image="image_id")
    def predict_image(
        self,
        image_id: int,
        rgb: np.ndarray | None = None,
        *,
        feature_layer: str | None = None,
        use_cache: bool = True,
        saliency: bool = True,
    ) -> ImagePrediction:
        """Every active model's output for the image (cached ones unless ``use_cache`` is False)."""
        versions = self.active_versions()
        outputs: dict[str, ModelOutput] = {}
        errors: dict[str, str] = {}
        for task in TASK_ORDER:
            version = versions.get(task)
            if version is None:
                continue
            hit = self._cached(image_id, version) if use_cache else None
            if hit is not None and hit.summary_only and (saliency or feature_layer is not None):
                hit = None  # a batch prediction stored the numbers only: the maps are computed now
            if hit is not None and (feature_layer is None or hit.feature_layer == feature_layer):
                outputs[task] = hit
                continue
            if rgb is None:
                rgb = self._load(image_id)
            try:
                outputs[task] = self._run(version, rgb, outputs.get("segmentation"), feature_layer, saliency)
            except (PredictionError, RuntimeError, ValueError) as exc:  # training.PredictorError is a ValueError
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

    def _run(
        self,
        version: ModelVersionInfo,
        rgb: np.ndarray,
        line: ModelOutput | None,
        feature_layer: str | None,
        saliency: bool,
    ) -> ModelOutput:
        predictor = self.predictor(version)
        line_mask = None
        if predictor.needs_line_mask:
            if line is None or line.line_mask is None:
                raise PredictionError("a hybrid model (image + line mask) needs an active line-segmentation model")
            line_mask = line.line_mask
        layers = predictor.layers()
        layer = feature_layer if feature_layer in layers else None  # a layer name is per model
        if layer is None:
            layer = layers[len(layers) // 2] if layers else None
        p = predictor.predict(rgb, saliency=saliency, feature_layer=layer, line_mask=line_mask)
        return ModelOutput(
            version.id,
            version.name,
            version.task,
            version.architecture,
            threshold_source=version.threshold_source,
            probability=p.probability,
            threshold=p.threshold,
            positive=p.positive,
            class_probabilities=p.class_probabilities,
            predicted_class=p.predicted_class,
            line_mask=p.line_mask,
            saliency=p.saliency,
            feature_grid=p.feature_maps,
            feature_layer=p.feature_layer,
            timings=dict(p.timings),
        )

    @guarded(Action.PREDICT_ALL)
    def predict_all(
        self, image_ids: Sequence[int] | None = None, *, batch_size: int = BATCH_SIZE
    ) -> Generator[tuple[int, int], None, int]:
        """Batch prediction over the study (or ``image_ids``): progress ``(done, total)`` after each
        batch, the number of images returned; cancel by closing the generator (between batches).

        Stores only the numbers the worklist needs (see the module docstring); an image already
        predicted by a version is skipped for it. A model that fails on a batch leaves those
        images without its prediction and goes on with the next batch."""
        versions = self.active_versions()
        with self.study.session() as session:
            total = repo.count_images(session) if image_ids is None else len(image_ids)
        wanted = None if image_ids is None else list(image_ids)
        done, last = 0, 0
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rop-decode")
        try:
            batch = self._next_batch(wanted, done, last, batch_size, versions)
            decoding = pool.submit(self._decode_all, batch[1])
            while batch[0]:
                ids, need = batch
                decoded = decoding.result()
                done += len(ids)
                last = ids[-1]
                batch = self._next_batch(wanted, done, last, batch_size, versions)  # decode it meanwhile
                decoding = pool.submit(self._decode_all, batch[1]) if batch[0] else _done_future()
                self._store_summaries(self._run_batch(versions, need, decoded))
                yield min(done, total), total
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return total

    def _next_batch(
        self, wanted: list[int] | None, done: int, last: int, size: int, versions: dict[str, ModelVersionInfo]
    ) -> tuple[list[int], dict[str, list[int]]]:
        """The next ``size`` images and, per task, those its active version has not predicted."""
        with self.study.session() as session:
            if wanted is None:
                ids = [i for i, _ in queues.image_batch(session, last, size)]
            else:
                ids = wanted[done : done + size]
            need = {}
            for task, version in versions.items():
                known = repo.predicted_image_ids(session, version.id, ids)
                need[task] = [i for i in ids if i not in known]
        return ids, need

    def _decode_all(self, need: dict[str, list[int]]) -> dict[int, np.ndarray | str]:
        """image id → RGB, or the reason it cannot be read (runs in the decode thread)."""
        out: dict[int, np.ndarray | str] = {}
        for image_id in sorted({i for ids in need.values() for i in ids}):
            try:
                out[image_id] = self._load(image_id)
            except PredictionError as exc:
                out[image_id] = str(exc)
        return out

    def _run_batch(
        self, versions: dict[str, ModelVersionInfo], need: dict[str, list[int]], decoded: dict[int, np.ndarray | str]
    ) -> list[tuple[int, ModelOutput]]:
        """Every needed model on the batch's images, one forward pass per model."""
        results: list[tuple[int, ModelOutput]] = []
        line_masks: dict[int, np.ndarray] = {}
        images = {i: rgb for i, rgb in decoded.items() if isinstance(rgb, np.ndarray)}  # a str: it failed to decode
        for task in TASK_ORDER:
            version = versions.get(task)
            ids = [i for i in need.get(task, []) if i in images]
            if version is None or not ids:
                continue
            try:
                predictor = self.predictor(version)
                masks = None
                if predictor.needs_line_mask:
                    masks = self._line_masks(versions, ids, images, line_masks)
                    ids = [i for i in ids if i in masks]
                outputs = predictor.predict_batch(
                    [images[i] for i in ids],
                    saliency=False,
                    feature_layer=None,
                    line_masks=[masks[i] for i in ids] if masks is not None else None,
                )
            except (PredictionError, RuntimeError, ValueError):
                continue  # this model on this batch: left unpredicted, the batch goes on
            for image_id, p in zip(ids, outputs, strict=True):
                if p.line_mask is not None:
                    line_masks[image_id] = p.line_mask
                results.append(
                    (
                        image_id,
                        ModelOutput(
                            version.id,
                            version.name,
                            version.task,
                            version.architecture,
                            probability=p.probability,
                            threshold_source=version.threshold_source,
                            threshold=p.threshold,
                            positive=p.positive,
                            class_probabilities=p.class_probabilities,
                            predicted_class=p.predicted_class,
                            line_mask=p.line_mask,
                            timings=dict(p.timings),
                            summary_only=True,
                        ),
                    )
                )
        return results

    def _line_masks(
        self,
        versions: dict[str, ModelVersionInfo],
        ids: list[int],
        decoded: dict[int, np.ndarray],
        known: dict[int, np.ndarray],
    ) -> dict[int, np.ndarray]:
        """The line masks a hybrid model needs: this batch's, else the active segmenter's."""
        missing = [i for i in ids if i not in known]
        line = versions.get("segmentation")
        if missing and line is not None:
            outputs = self.predictor(line).predict_batch([decoded[i] for i in missing], saliency=False)
            for image_id, p in zip(missing, outputs, strict=True):
                if p.line_mask is not None:
                    known[image_id] = p.line_mask
        return {i: known[i] for i in ids if i in known}

    def _store_summaries(self, results: list[tuple[int, ModelOutput]]) -> None:
        """The numbers of a batch in one transaction (row by row if another thread raced us)."""

        def payload(out: ModelOutput) -> dict[str, Any]:
            return {
                "probability": out.probability,
                "threshold": out.threshold,
                "positive": out.positive,
                "class_probabilities": out.class_probabilities,
                "predicted_class": out.predicted_class,
                "feature_layer": None,
                "timings": out.timings,
                "summary": True,
            }

        try:
            with self.study.session() as session:
                for image_id, out in results:
                    repo.upsert_prediction(session, image_id, out.version_id, payload(out), numbers=out.numbers())
            return
        except IntegrityError:
            pass
        for image_id, out in results:
            try:
                with self.study.session() as session:
                    repo.upsert_prediction(session, image_id, out.version_id, payload(out), numbers=out.numbers())
            except IntegrityError:
                continue  # stored meanwhile by the image's own prediction (with its maps): keep that one

    @guarded(Action.MODELS_READ)
    def probabilities(self) -> dict[int, tuple[float | None, float | None]]:
        """Cached P(ROP) and uncertainty per image for the active binary model, for the images whose
        model output this account may see now (blinding, assist mode). The whole study's: for
        reports and the agreement dashboard, never for the worklist (its rows carry their own)."""
        with self.study.session() as session:
            view = score_view(session, self.actor)
            if view.scores is None:
                return {}
            query = select(
                Prediction.image_id, Prediction.probability, Prediction.uncertainty, Prediction.payload
            ).where(Prediction.model_version_id == view.scores.version_id)
            if view.scores.submitted_only:
                submitted = Grade.submitted.is_(True)
                query = query.where(
                    Prediction.image_id.in_(select(Grade.image_id).where(Grade.grader_id == self.actor.id, submitted))
                )
            out = {}
            for image_id, p, u, payload in session.execute(query):
                if p is None and u is None:  # a row without its numbers in columns: from its payload
                    numbers = payload_numbers(payload)
                    p, u = numbers["probability"], numbers["uncertainty"]
                out[image_id] = (p, u)
            return out

    @guarded(Action.OWN_WORK_READ)
    def most_uncertain_first(
        self, grading: GradingService, limit: int | None = None, exclude: int | None = None
    ) -> list[int]:
        """The grader's to-do images the active binary model has predicted, most uncertain first
        (active learning): the first ``limit`` of them, without ``exclude``. One walk down the
        model's uncertainty index that stops after ``limit`` to-do images. Empty when the grader
        may not see the model's output of a to-do image (blinded, no assist mode)."""
        with self.study.session() as session:
            view = score_view(session, self.actor)
            if view.scores is None or view.scores.submitted_only:
                return []  # a to-do image's score is hidden from this grader: no order to follow
            done = exists().where(
                Grade.image_id == Prediction.image_id, Grade.grader_id == grading.grader.id, Grade.submitted.is_(True)
            )
            stmt = (
                select(Prediction.image_id)
                .where(
                    Prediction.model_version_id == view.scores.version_id, Prediction.uncertainty.is_not(None), ~done
                )
                .order_by(Prediction.uncertainty.desc(), Prediction.image_id)
                .limit(limit)
            )
            if exclude is not None:
                stmt = stmt.where(Prediction.image_id != exclude)
            return list(session.scalars(stmt))


def _done_future() -> Future[dict[int, np.ndarray | str]]:
    future: Future[dict[int, np.ndarray | str]] = Future()
    future.set_result({})
    return future
