"""Instance segmentation average precision at one IoU threshold (paper B: AP@0.5 of the ridge masks).

Computed by pycocotools' ``COCOeval`` (``iouType="segm"``), the reference implementation that
torchmetrics' ``MeanAveragePrecision`` also wraps: one category, one area range (all sizes), one
IoU threshold. AP is COCO's 101-point interpolated average precision (precision made
monotone from the right, read at recall 0, 0.01, …, 1); the curve returned is those 101 points.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from training.metrics._common import MetricsInputError, ReportMixin
from training.metrics.segmentation import binary_mask

#: One image's predictions: (binary H x W mask, confidence score) pairs.
ImagePredictions = Sequence[tuple[np.ndarray | torch.Tensor, float]]


@dataclass(frozen=True, eq=False)
class APReport(ReportMixin):
    """AP at ``iou_threshold`` and the interpolated precision-recall curve it averages."""

    iou_threshold: float
    ap: float | None  #: None when there is no reference instance at all
    recall: np.ndarray  #: COCO's 101 recall points 0, 0.01, …, 1
    precision: np.ndarray  #: interpolated precision at each recall point (0 beyond the recall reached)
    n_images: int
    n_ground_truth: int
    n_predictions: int
    notes: tuple[str, ...] = ()


def _annotation(ann_id: int, image_id: int, mask: np.ndarray, score: float | None = None) -> dict[str, object]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    ann: dict[str, object] = {
        "id": ann_id,  # COCOeval reads id 0 as "unmatched": ids start at 1
        "image_id": image_id,
        "category_id": 1,
        "segmentation": rle,
        "area": float(mask_utils.area(rle)),
        "bbox": mask_utils.toBbox(rle).tolist(),
        "iscrowd": 0,
    }
    if score is not None:
        ann["score"] = float(score)
    return ann


def _coco(images: list[dict[str, int]], annotations: list[dict[str, object]]) -> COCO:
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "instance"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def instance_ap(
    predictions: Sequence[ImagePredictions],
    ground_truths: Sequence[Sequence[np.ndarray | torch.Tensor]],
    iou_threshold: float = 0.5,
    max_detections: int = 100,
) -> APReport:
    """AP at ``iou_threshold`` of scored instance masks against reference instance masks.

    ``predictions[i]`` is image i's list of ``(mask, score)``; ``ground_truths[i]`` its list of
    reference masks (either list may be empty). Masks are binary H x W arrays of the same size
    within an image. At most ``max_detections`` predictions per image count (highest scores first).
    """
    if len(predictions) != len(ground_truths):
        raise MetricsInputError(f"predictions cover {len(predictions)} images but ground_truths {len(ground_truths)}")
    if not predictions:
        raise MetricsInputError("no images given: nothing to evaluate")
    if not 0.0 < iou_threshold < 1.0:
        raise MetricsInputError(f"iou_threshold must be in (0, 1), got {iou_threshold}")
    images: list[dict[str, int]] = []
    gts: list[dict[str, object]] = []
    dts: list[dict[str, object]] = []
    for i, (preds, truths) in enumerate(zip(predictions, ground_truths, strict=True), start=1):
        shape: tuple[int, ...] | None = None
        for k, gt in enumerate(truths):
            m = binary_mask(gt, f"ground_truths[{i - 1}][{k}]")
            shape = shape or m.shape
            if m.shape != shape:
                raise MetricsInputError(f"image {i - 1}: reference masks differ in size ({shape} vs {m.shape})")
            gts.append(_annotation(len(gts) + 1, i, m))
        for k, pair in enumerate(preds):
            if len(pair) != 2 or not np.isfinite(float(pair[1])):
                raise MetricsInputError(f"predictions[{i - 1}][{k}] must be (mask, finite score)")
            m = binary_mask(pair[0], f"predictions[{i - 1}][{k}] mask")
            shape = shape or m.shape
            if m.shape != shape:
                raise MetricsInputError(f"image {i - 1}: prediction mask {m.shape} differs from {shape}")
            dts.append(_annotation(len(dts) + 1, i, m, float(pair[1])))
        height, width = shape if shape is not None else (1, 1)
        images.append({"id": i, "height": int(height), "width": int(width)})

    evaluator = COCOeval(_coco(images, gts), _coco(images, dts), iouType="segm")
    params = evaluator.params
    params.imgIds = [im["id"] for im in images]
    params.catIds = [1]
    params.iouThrs = np.array([iou_threshold])
    params.areaRng = [[0.0, 1e10]]
    params.areaRngLbl = ["all"]
    params.maxDets = [max_detections]
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
    curve = np.asarray(evaluator.eval["precision"][0, :, 0, 0, 0], dtype=np.float64)  # [iou, recall, cat, area, maxdet]
    recall = np.asarray(params.recThrs, dtype=np.float64)
    notes: list[str] = []
    ap: float | None
    if not gts:
        ap = None
        curve = np.zeros_like(recall)
        notes.append("AP undefined: there is no reference instance")
    else:
        ap = float(curve.mean())
        if not dts:
            notes.append("no predictions: AP is 0")
    return APReport(float(iou_threshold), ap, recall, curve, len(images), len(gts), len(dts), tuple(notes))
