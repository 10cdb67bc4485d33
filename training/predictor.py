"""Run a trained model on images: probabilities, line masks, Grad-CAM saliency, feature maps.

>>> predictor = Predictor.from_bundle("runs/a/bundle")          # CUDA when present
>>> p = predictor.predict(rgb, feature_layer="features.conv2")
>>> p.probability, p.positive, p.saliency.shape == rgb.shape[:2]

Every map comes back at the ORIGINAL image size (the preset's letterbox is undone with
``Preset.restore``). Paper B's hybrid classifier needs the line mask as its second channel:
pass ``line_mask=`` or let a companion segmentation predictor draw it
(``Predictor.hybrid(stage_bundle, line_bundle)`` or ``mask_provider=``). One predictor may be
shared by threads: calls are serialised by a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import cv2
import numpy as np
import torch
from shapely.geometry import Polygon
from torch import nn

from training.bundle import ModelCard, load_bundle
from training.distributed import resolve_device
from training.explain import ExplainError, GradCAM, feature_grid, feature_maps, list_layers
from training.formats.masks import mask_to_polygons
from training.models import main_logits, model_info, seg_only_stage
from training.presets import Geometry, Preset, PresetError

MaskProvider = Union[Callable[[np.ndarray], np.ndarray], "Predictor"]
#: Name of the "no line found" outcome of a per-stage segmenter (paper B's segmentation-only baseline).
NO_LINE = "no line"
CLASSIFIER_TASKS = ("binary", "multiclass")
SEGMENTER_TASKS = ("segmentation", "instance_segmentation")


class PredictorError(ValueError):
    """The model cannot run on this input (wrong image, missing line mask, bad card)."""


@dataclass
class Prediction:
    """One image's result; maps are at the original image size.

    ``probability``/``threshold``/``positive``: binary models (``positive`` = probability ≥ the
    card's operating threshold). ``class_probabilities``: classifiers, class name → p.
    ``line_mask``: uint8 0/255 (segmenters; a line segmenter cuts its probability map at the card's
    mask threshold, chosen on validation data, given as ``threshold``); ``line_polygons`` its
    outline as shapely polygons; ``line_probability`` the probability map (float32, on request).
    ``saliency``: Grad-CAM, float32 in [0, 1] (classifiers; None for segmenters).
    ``feature_maps``: uint8 grid of ``feature_layer``'s strongest channels. ``timings``: ms.
    """

    task: str
    probability: float | None = None
    threshold: float | None = None
    positive: bool | None = None
    class_probabilities: dict[str, float] | None = None
    predicted_class: str | None = None
    line_mask: np.ndarray | None = None
    line_polygons: list[Polygon] | None = None
    line_probability: np.ndarray | None = None  #: line segmenters, on request (``line_probability=True``)
    instances: list[tuple[np.ndarray, float]] | None = None  #: (bool mask, score) per detection, on request
    saliency: np.ndarray | None = None
    feature_maps: np.ndarray | None = None
    feature_layer: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _check_rgb(image: Any, k: int) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise PredictorError(f"image {k}: expected RGB uint8 H×W×3 (or grey H×W), got {arr.dtype} {arr.shape}")
    return arr


class Predictor:
    """A model and its card, ready to predict. Build with :meth:`from_bundle`."""

    def __init__(
        self,
        model: nn.Module,
        card: ModelCard,
        device: torch.device | str | None = None,
        *,
        mask_provider: MaskProvider | None = None,
    ) -> None:
        try:
            self.preset = Preset.from_dict(card.preset)
        except PresetError as exc:
            raise PredictorError(f"the model card's preset is unusable: {exc}") from None
        if card.task not in CLASSIFIER_TASKS + SEGMENTER_TASKS:
            raise PredictorError(f"task {card.task!r} of the model card is not supported")
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.model = model.to(self.device).eval()
        self.card = card
        self.task = card.task
        self.classes = list(card.classes)
        self.mask_provider = mask_provider
        self.target_layer = model_info(card.architecture).default_target_layer
        self._lock = threading.Lock()

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_bundle(
        cls, folder: str | Path, device: str = "auto", *, mask_provider: MaskProvider | None = None
    ) -> Predictor:
        """Load a bundle (``BundleError`` when it is not one) onto ``device`` ("auto": CUDA if present)."""
        dev = resolve_device(device)
        model, card = load_bundle(folder, dev)
        return cls(model, card, dev, mask_provider=mask_provider)

    @classmethod
    def hybrid(cls, stage_bundle: str | Path, line_bundle: str | Path, device: str = "auto") -> Predictor:
        """Paper B's pipeline: the line segmenter's predicted mask feeds the hybrid stage classifier."""
        line = cls.from_bundle(line_bundle, device)
        if line.task not in SEGMENTER_TASKS:
            raise PredictorError(f"{line_bundle} holds a {line.task} model, not a line segmenter")
        return cls.from_bundle(stage_bundle, device, mask_provider=line)

    # -- description ---------------------------------------------------------------------------
    @property
    def needs_line_mask(self) -> bool:
        """True for the hybrid input (the line mask is a channel of the model's input)."""
        return self.preset.mask_channel

    @property
    def threshold(self) -> float | None:
        """The operating threshold of a binary model (the card's, chosen on validation data; else 0.5)."""
        if self.task != "binary":
            return None
        return float(self.card.threshold) if self.card.threshold is not None else 0.5

    @property
    def mask_threshold(self) -> float:
        """Where a line segmenter cuts its probability map: the card's threshold (the one with the
        highest validation Dice, chosen at training time), else 0.5 (bundles from before that choice)."""
        if self.task == "segmentation" and self.card.threshold is not None:
            return float(self.card.threshold)
        return 0.5

    def layers(self) -> list[str]:
        """Convolution layer names, in model order, for a feature-map dropdown."""
        return list_layers(self.model)

    def line_mask(self, rgb: np.ndarray) -> np.ndarray:
        """This segmenter's line mask for ``rgb`` (uint8 0/255, original size): a ``mask_provider``."""
        mask = self.predict(rgb, saliency=False).line_mask
        if mask is None:
            raise PredictorError(f"a {self.task} model predicts no line mask")
        return mask

    # -- prediction ------------------------------------------------------------------------------
    def predict(
        self,
        rgb: np.ndarray,
        *,
        saliency: bool = True,
        feature_layer: str | None = None,
        line_mask: np.ndarray | None = None,
        keep_instances: bool = False,
        line_probability: bool = False,
    ) -> Prediction:
        """Predict one RGB uint8 image (see :class:`Prediction`)."""
        return self.predict_batch(
            [rgb],
            saliency=saliency,
            feature_layer=feature_layer,
            line_masks=None if line_mask is None else [line_mask],
            keep_instances=keep_instances,
            line_probability=line_probability,
        )[0]

    def predict_batch(
        self,
        images: Sequence[np.ndarray],
        *,
        saliency: bool = True,
        feature_layer: str | None = None,
        line_masks: Sequence[np.ndarray | None] | None = None,
        keep_instances: bool = False,
        line_probability: bool = False,
    ) -> list[Prediction]:
        """Predict several images in one forward pass; timings are per image."""
        if not len(images):
            return []
        if line_masks is not None and len(line_masks) != len(images):
            raise PredictorError(f"{len(line_masks)} line masks for {len(images)} images")
        with self._lock:
            clock = _Clock(len(images))
            rgbs = [_check_rgb(im, k) for k, im in enumerate(images)]
            masks = self._line_masks(rgbs, line_masks) if self.needs_line_mask else [None] * len(rgbs)
            clock.lap("line_mask")
            prepared = [self.preset.prepare(rgb, mask) for rgb, mask in zip(rgbs, masks, strict=True)]
            x = torch.stack([p.image for p in prepared]).to(self.device)
            geometry = [p.geometry for p in prepared]
            clock.lap("prepare")
            if self.task in CLASSIFIER_TASKS:
                out = self._classify(x, geometry, saliency, clock)
            elif self.task == "segmentation":
                out = self._segment(x, geometry, clock, line_probability)
            else:
                out = self._detect(x, geometry, keep_instances, clock)
            if feature_layer is not None:
                for k, pred in enumerate(out):
                    sample = [x[k]] if self.task == "instance_segmentation" else x[k : k + 1]
                    try:
                        maps = feature_maps(self.model, sample, [feature_layer])[feature_layer]
                    except ExplainError as exc:
                        raise PredictorError(exc.reason) from None
                    pred.feature_maps, pred.feature_layer = feature_grid(maps), feature_layer
                clock.lap("feature_maps")
            for pred in out:
                pred.timings = clock.per_image()
            return out

    def _line_masks(self, rgbs: list[np.ndarray], given: Sequence[np.ndarray | None] | None) -> list[np.ndarray]:
        out = []
        for k, rgb in enumerate(rgbs):
            mask = given[k] if given is not None else None
            if mask is None and self.mask_provider is not None:
                provider = self.mask_provider
                mask = provider.line_mask(rgb) if isinstance(provider, Predictor) else provider(rgb)
            if mask is None:
                raise PredictorError(
                    "this hybrid model needs the demarcation-line mask as input: pass line_mask=, "
                    "or use Predictor.hybrid(stage_bundle, line_bundle)"
                )
            out.append(np.asarray(mask))
        return out

    def _restore(self, square: np.ndarray, geometry: Geometry, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        return self.preset.restore(square, geometry, interpolation)

    def _classify(self, x: torch.Tensor, geometry: list[Geometry], saliency: bool, clock: _Clock) -> list[Prediction]:
        maps = None
        if saliency:
            try:
                with GradCAM(self.model, self.target_layer) as cam:
                    maps = cam(x)
                    logits = cam.last_logits
            except ExplainError as exc:
                raise PredictorError(f"saliency: {exc.reason}") from None
        else:
            with torch.inference_mode():
                logits = main_logits(self.model(x))
        assert logits is not None
        logits = logits.float().cpu()
        clock.lap("model")
        out = []
        for k in range(len(geometry)):
            pred = Prediction(task=self.task)
            if self.task == "binary":
                p = float(torch.sigmoid(logits[k, 0]))
                pred.probability, pred.threshold = p, self.threshold
                pred.positive = p >= (self.threshold or 0.5)
                names = self.classes if len(self.classes) == 2 else ["negative", "positive"]
                pred.class_probabilities = {names[0]: 1.0 - p, names[1]: p}
                pred.predicted_class = names[int(pred.positive)]
            else:
                probs = torch.softmax(logits[k], dim=0).tolist()
                names = self.classes if len(self.classes) == len(probs) else [str(i) for i in range(len(probs))]
                pred.class_probabilities = dict(zip(names, probs, strict=True))
                pred.predicted_class = names[int(np.argmax(probs))]
            if maps is not None:
                pred.saliency = np.clip(self._restore(maps[k], geometry[k]), 0.0, 1.0).astype(np.float32)
            out.append(pred)
        clock.lap("postprocess")
        return out

    def _segment(
        self, x: torch.Tensor, geometry: list[Geometry], clock: _Clock, keep_probability: bool
    ) -> list[Prediction]:
        with torch.inference_mode():
            probs = torch.sigmoid(self.model(x).float())[:, 0].cpu().numpy()
        clock.lap("model")
        out = []
        threshold = self.mask_threshold
        for k, geom in enumerate(geometry):
            probability = self._restore(probs[k], geom).astype(np.float32, copy=False)
            mask = (probability >= threshold).astype(np.uint8) * 255
            out.append(
                Prediction(
                    task=self.task,
                    threshold=threshold,
                    line_mask=mask,
                    line_polygons=mask_to_polygons(mask),
                    line_probability=probability if keep_probability else None,
                )
            )
        clock.lap("postprocess")
        return out

    def _detect(
        self, x: torch.Tensor, geometry: list[Geometry], keep_instances: bool, clock: _Clock
    ) -> list[Prediction]:
        with torch.inference_mode():
            outputs = self.model(list(x))
        clock.lap("model")
        out = []
        for result, geom in zip(outputs, geometry, strict=True):
            squares = (result["masks"][:, 0] > 0.5).cpu().numpy()
            union = squares.any(axis=0) if len(squares) else np.zeros(x.shape[-2:], bool)
            mask = (self._restore(union.astype(np.uint8), geom, cv2.INTER_NEAREST) > 0).astype(np.uint8) * 255
            pred = Prediction(task=self.task, line_mask=mask, line_polygons=mask_to_polygons(mask))
            if self.card.model_kwargs.get("num_classes", 2) > 2:  # per-stage: the largest stage area wins
                stage = seg_only_stage({"labels": result["labels"], "masks": squares[:, None]})
                pred.predicted_class = NO_LINE if stage == 0 else self.classes[stage - 1]
            if keep_instances:
                scores = result["scores"].tolist()
                pred.instances = [
                    (self._restore(m.astype(np.uint8), geom, cv2.INTER_NEAREST) > 0, float(s))
                    for m, s in zip(squares, scores, strict=True)
                ]
            out.append(pred)
        clock.lap("postprocess")
        return out


class _Clock:
    """Milliseconds per stage of one call, shared out per image."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + (now - self.last) * 1000.0
        self.last = now

    def per_image(self) -> dict[str, float]:
        out = {k: v / self.n for k, v in self.laps.items()}
        out["total"] = (self.last - self.start) * 1000.0 / self.n
        return out
