"""Evaluate a model bundle on a snapshot split with :mod:`training.metrics`.

Binary models: paper A's report at the card's operating threshold (chosen on validation data at
training time). Stage classifiers: paper B's per-class report with the confusion matrix (the
hybrid is fed the line segmenter's predicted masks when one is given, else the reference masks).
Segmenters: Dice and IoU per image at the original resolution; Mask R-CNN models also AP at
IoU 0.5 with its precision-recall curve, and per-stage Mask R-CNN models (paper B's
segmentation-only baseline) a stage report by largest predicted area. When records carry
``graders`` answers, the model's error rate is compared with each grader's ("error reduction").
Every headline figure carries a 95 % confidence interval from a patient-level bootstrap
(:mod:`training.metrics.bootstrap`); a classifier that gives one answer for every image is
flagged with a warning.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from training.data.augment import apply_augment
from training.data.io import read_mask, read_rgb
from training.formats.masks import polygons_to_mask
from training.line_masks import LineMasks
from training.metrics import (
    APReport,
    BinaryReport,
    ErrorReductionReport,
    MaskScores,
    MulticlassReport,
    binary_report,
    error_reduction,
    instance_ap,
    mask_scores,
    multiclass_report,
    save_report,
)
from training.metrics._common import to_builtin
from training.metrics.bootstrap import (
    ConfidenceIntervals,
    binary_intervals,
    format_interval,
    mean_intervals,
    multiclass_intervals,
)
from training.predictor import NO_LINE, Predictor, PredictorError
from training.snapshot import Snapshot, SnapshotRecord

#: Instance masks are compared for AP at most this many pixels on their longer side (memory).
AP_MAX_SIDE = 512
Progress = Callable[[int, int], None]


class EvaluationError(ValueError):
    """Nothing to evaluate (no record of the split fits the model's task) or inputs that do not fit."""


@dataclass
class EvaluationReport:
    """The figures of one model on one split; ``summary()`` flattens the headline numbers."""

    task: str
    split: str | None
    n: int
    binary: BinaryReport | None = None
    multiclass: MulticlassReport | None = None
    masks: MaskScores | None = None
    ap: APReport | None = None
    error_reduction: ErrorReductionReport | None = None
    ci: ConfidenceIntervals | None = None  #: 95 % intervals of the headline figures (patient bootstrap)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  #: e.g. one predicted class for every image
    bundle: str | None = None

    def summary(self) -> dict[str, Any]:
        """Headline figures, JSON-ready: what model cards and ``Finished.test_metrics`` carry."""
        out: dict[str, Any] = {"split": self.split, "n": self.n}
        if self.binary is not None:
            b = self.binary
            out.update(
                threshold=b.threshold,
                sensitivity=b.sensitivity,
                specificity=b.specificity,
                precision=b.precision,
                accuracy=b.accuracy,
                f1=b.f1,
                auroc=b.auroc,
                tp=b.tp,
                fp=b.fp,
                tn=b.tn,
                fn=b.fn,
            )
        if self.multiclass is not None:
            m = self.multiclass
            out.update(
                accuracy=m.accuracy,
                macro_precision=m.macro_precision,
                macro_recall=m.macro_recall,
                macro_f1=m.macro_f1,
                classes=list(m.classes),
                confusion=to_builtin(m.confusion),
            )
        if self.masks is not None:
            out.update(dice=self.masks.mean_dice, iou=self.masks.mean_iou)
        if self.ap is not None:
            out.update(ap50=self.ap.ap)
        if self.error_reduction is not None:
            out.update(error_reduction=self.error_reduction.mean_error_reduction)
        if self.ci is not None:
            out["ci95"] = {
                k: (None if v is None else list(v)) for k, v in self.ci.intervals.items() if " " not in k
            }  # headline figures; per-class intervals are in report.json
            out["ci_method"] = self.ci.describe()
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out

    def to_dict(self) -> dict[str, Any]:
        reports = {
            name: getattr(self, name) for name in ("binary", "multiclass", "masks", "ap", "error_reduction", "ci")
        }
        return {
            "task": self.task,
            "split": self.split,
            "n": self.n,
            "bundle": self.bundle,
            "summary": self.summary(),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            **{k: v.to_dict() for k, v in reports.items() if v is not None},
        }

    def save(self, folder: str | Path) -> list[Path]:
        """Write ``report.json`` (everything), the tables as CSV (``binary.csv`` = paper A's row,
        ``multiclass.csv`` = paper B's, ``masks.csv``, ``ap_curve.csv``) and ``predictions.csv``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = [folder / "report.json"]
        written[0].write_text(
            json.dumps(to_builtin(self.to_dict()), indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        name = Path(self.bundle).name if self.bundle else "model"
        for key, file in (("binary", "binary"), ("multiclass", "multiclass"), ("masks", "masks"), ("ap", "ap_curve")):
            report = getattr(self, key)
            if report is not None:
                save_report(report, folder / f"{file}.json", folder / f"{file}.csv", name=name)
                written += [folder / f"{file}.json", folder / f"{file}.csv"]
        if self.predictions:
            keys = list(dict.fromkeys(k for row in self.predictions for k in row))
            with open(folder / "predictions.csv", "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, keys, lineterminator="\n")
                writer.writeheader()
                writer.writerows({k: _cell(row.get(k)) for k in keys} for row in self.predictions)
            written.append(folder / "predictions.csv")
        return written

    def text(self) -> str:
        """A short human-readable summary (one ``key: value (95% CI …)`` per line)."""
        lines = [f"{self.task} model on {self.split or 'all'} split: {self.n} images", format_summary(self.summary())]
        if self.multiclass is not None:
            lines.append("  confusion (rows = reference): " + json.dumps(to_builtin(self.multiclass.confusion)))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def format_summary(summary: dict[str, Any]) -> str:
    """``summary()`` (or ``Finished.test_metrics``) as lines ``  key: value (95% CI low-high)``,
    warnings first."""
    ci = summary.get("ci95") or {}
    lines = [f"  WARNING: {w}" for w in summary.get("warnings", [])]
    for key, value in summary.items():
        if key in ("split", "n", "confusion", "classes", "ci95", "ci_method", "warnings"):
            continue
        if isinstance(value, float):
            lines.append(f"  {key}: {format_interval(value, ci.get(key), 4)}")
        else:
            lines.append(f"  {key}: {value}")
    if summary.get("ci_method"):
        lines.append(f"  ({summary['ci_method']})")
    return "\n".join(lines)


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else value


def snapshot_task(predictor: Predictor) -> str:
    """The snapshot filter for this model: "binary", "stage3" or "segmentation"."""
    trained = predictor.card.config.get("task")
    if trained in ("binary", "stage3"):
        return trained
    return {"binary": "binary", "multiclass": "stage3"}.get(predictor.task, "segmentation")


def _reference_mask(snapshot: Snapshot, record: SnapshotRecord, hw: tuple[int, int]) -> np.ndarray:
    if record.mask:
        return read_mask(snapshot.path(record.mask))
    if record.polygons:
        return polygons_to_mask(record.polygons, hw)
    return np.zeros(hw, np.uint8)


def _small(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    scale = AP_MAX_SIDE / max(h, w)
    if scale >= 1.0:
        return mask.astype(bool)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0


def select_records(
    snapshot: Snapshot, task: str, split: str | None, splits_by_id: dict[str, str] | None = None
) -> list[SnapshotRecord]:
    """Original records of ``task`` in ``split`` (None / "all": every split). Records without a
    split take theirs from ``splits_by_id`` (the card's training splits) when given."""
    records = [r for r in snapshot.for_task(task) if r.parent is None]
    if splits_by_id:
        records = [r if r.split is not None else r.replace(split=splits_by_id.get(r.id)) for r in records]
    if split not in (None, "all"):
        records = [r for r in records if r.split == split]
    return records


def probability_maps(
    predictor: Predictor, snapshot: Snapshot, split: str | None = "val"
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(probability map, reference mask) of a line segmenter on every original record of ``split``,
    one image at a time, at the image's own size (for :func:`training.metrics.choose_mask_threshold`)."""
    for r in select_records(snapshot, "segmentation", split):
        rgb = read_rgb(snapshot.image_path(r))
        ref: np.ndarray | None = _reference_mask(snapshot, r, rgb.shape[:2])
        rgb, ref = apply_augment(rgb, ref, r.augment)
        pred = predictor.predict(rgb, saliency=False, line_probability=True)
        assert pred.line_probability is not None and ref is not None
        yield pred.line_probability, ref


def evaluate_predictor(
    predictor: Predictor,
    snapshot: Snapshot,
    split: str | None = "test",
    *,
    threshold: float | None = None,
    batch_size: int = 8,
    progress: Progress | None = None,
    intervals: bool = True,
    line_masks: LineMasks | None = None,
) -> EvaluationReport:
    """Evaluate ``predictor`` on the snapshot's ``split`` (None or "all": every record of the task).

    ``threshold`` overrides the card's operating threshold of a binary model. The hybrid is fed
    ``line_masks`` (a line model's masks, predicted once by record id) when given, else the
    predictor's ``mask_provider`` when it has one, else the reference masks (noted: an upper
    bound). ``intervals``: the patient-bootstrap 95 % confidence intervals (``report.ci``).
    """
    task = snapshot_task(predictor)
    splits_by_id = predictor.card.extra.get("training", {}).get("splits_by_id")
    records = select_records(snapshot, task, split, splits_by_id)
    if not records:
        raise EvaluationError(f"no {task} record in the {split or 'whole'} split of {snapshot.root}")
    acc = _Accumulator(predictor, task, threshold, intervals)
    predicted = line_masks if predictor.needs_line_mask else None
    reference = predictor.needs_line_mask and predicted is None and predictor.mask_provider is None
    if predicted is not None:
        acc.notes.append(
            f"line masks: predicted by the line model {predicted.line_model.get('bundle')} "
            f"(weights SHA-256 {str(predicted.line_model.get('weights_sha256'))[:12]})"
        )
    elif predictor.needs_line_mask:
        acc.notes.append(
            "line masks: predicted by the line segmenter"
            if predictor.mask_provider is not None
            else "line masks: the reference (annotated) masks — an upper bound of what the model does "
            "with a line model's predicted masks"
        )
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        images, masks = [], []
        for r in chunk:
            rgb = read_rgb(snapshot.image_path(r))
            ref = _reference_mask(snapshot, r, rgb.shape[:2]) if task == "segmentation" or reference else None
            rgb, ref = apply_augment(rgb, ref, r.augment)
            images.append(rgb)
            masks.append(predicted.get(r.id) if predicted is not None else ref)
        use_masks = masks if reference or predicted is not None else None
        preds = predictor.predict_batch(
            images, saliency=False, line_masks=use_masks, keep_instances=predictor.task == "instance_segmentation"
        )
        acc.add(chunk, preds, masks)
        if progress is not None:
            progress(min(start + batch_size, len(records)), len(records))
    report = acc.report(split)
    report.error_reduction = _error_reduction(records, report, task)
    return report


class _Accumulator:
    """Per-image results collected batch by batch (full-size masks are not kept)."""

    def __init__(self, predictor: Predictor, task: str, threshold: float | None, intervals: bool = True) -> None:
        self.predictor, self.task, self.intervals = predictor, task, intervals
        # a binary model's operating threshold (the predictor has one for every binary model);
        # the other tasks never read it
        card_threshold = predictor.threshold if predictor.threshold is not None else 0.5
        self.threshold: float = threshold if threshold is not None else card_threshold
        self.rows: list[dict[str, Any]] = []
        self.scores: list[MaskScores] = []
        self.instances: list[list[tuple[np.ndarray, float]]] = []
        self.truths: list[list[np.ndarray]] = []
        self.notes: list[str] = []

    def add(self, records: list[SnapshotRecord], preds: list[Any], masks: list[np.ndarray | None]) -> None:
        kind = self.predictor.task
        for r, p, ref in zip(records, preds, masks, strict=True):
            row: dict[str, Any] = {"id": r.id, "patient": r.patient}
            if kind == "binary":
                positive = p.probability >= self.threshold
                row.update(label=r.label_binary, probability=p.probability, predicted=int(positive))
            elif kind == "multiclass":
                row.update(
                    label=r.stage3,
                    predicted=self.predictor.classes.index(p.predicted_class),
                    **{f"p[{c}]": v for c, v in p.class_probabilities.items()},
                )
            else:
                assert ref is not None
                row.update(line_pixels=int((p.line_mask > 0).sum()), reference_pixels=int((ref > 0).sum()))
                if p.predicted_class is not None:
                    row.update(label=r.stage3, predicted=p.predicted_class)
                if kind == "instance_segmentation":
                    from training.engine.tasks import mask_instances

                    self.instances.append([(_small(m), s) for m, s in (p.instances or [])])
                    self.truths.append([_small(m) for m in mask_instances(ref)])
            self.rows.append(row)
        if kind in ("segmentation", "instance_segmentation"):
            # every mask is there: the loop above asserted it for these tasks
            batch = mask_scores([p.line_mask > 0 for p in preds], [m > 0 for m in masks if m is not None])
            self.scores.append(batch)
            for row, d in zip(self.rows[-len(preds) :], batch.dice.tolist(), strict=True):
                row["dice"] = d

    def report(self, split: str | None) -> EvaluationReport:
        kind, rows = self.predictor.task, self.rows
        out = EvaluationReport(task=kind, split=split, n=len(rows), predictions=rows, notes=self.notes)
        patients = [r["patient"] for r in rows]
        names = list(self.predictor.classes)
        if kind == "binary":
            labels, scores = [r["label"] for r in rows], [r["probability"] for r in rows]
            out.binary = binary_report(labels, scores, self.threshold)
            out.ci = binary_intervals(labels, scores, self.threshold, patients) if self.intervals else None
            names = names if len(names) == 2 else ["negative", "positive"]
        elif kind == "multiclass":
            out.multiclass = multiclass_report(
                [r["label"] for r in rows], [r["predicted"] for r in rows], self.predictor.classes
            )
            out.ci = (
                multiclass_intervals(
                    [r["label"] for r in rows], [r["predicted"] for r in rows], self.predictor.classes, patients
                )
                if self.intervals
                else None
            )
        else:
            d = np.concatenate([s.dice for s in self.scores])
            j = np.concatenate([s.iou for s in self.scores])
            out.masks = MaskScores(d, j, float(d.mean()), float(j.mean()), sum(s.n_both_empty for s in self.scores))
            out.ci = mean_intervals({"dice": d, "iou": j}, patients) if self.intervals else None
            if kind == "instance_segmentation":
                out.ap = instance_ap(self.instances, self.truths)
                out.notes.append(f"AP@0.5 compares masks at most {AP_MAX_SIDE} px on their longer side")
                if any("predicted" in r for r in rows):
                    classes = [NO_LINE, *self.predictor.classes]
                    labelled = [r for r in rows if r.get("label") is not None]
                    if labelled:
                        truth = [r["label"] + 1 for r in labelled]
                        guess = [classes.index(r["predicted"]) for r in labelled]
                        out.multiclass = multiclass_report(truth, guess, classes)
                        if out.ci is not None:
                            stage_ci = multiclass_intervals(truth, guess, classes, [r["patient"] for r in labelled])
                            out.ci.intervals.update(stage_ci.intervals)
        predicted = {r["predicted"] for r in rows if r.get("predicted") is not None}
        classifies = kind in ("binary", "multiclass") or out.multiclass is not None  # per-stage segmenters too
        if len(rows) > 1 and len(predicted) == 1 and classifies:
            (only,) = predicted
            name = names[only] if isinstance(only, int) and 0 <= only < len(names) else str(only)
            out.warnings.append(
                f"the model predicted {name!r} for every one of the {len(rows)} images: it does not "
                "tell the classes apart (its accuracy is the share of that class)"
            )
        return out


def _grader_label(task: str, answer: dict[str, Any]) -> Any:
    if task == "binary":
        if answer.get("rop") is not None:
            return int(answer["rop"])
        return None if answer.get("stage") is None else int(answer["stage"] != "0")
    return answer.get("stage")  # any other stage than the reference's 1-3 is an error


def _error_reduction(records: list[SnapshotRecord], report: EvaluationReport, task: str) -> ErrorReductionReport | None:
    graders = sorted({name for r in records for name in r.graders})
    if not graders or task not in ("binary", "stage3") or report.task not in ("binary", "multiclass"):
        return None
    stage_names = ["1", "2", "3"]
    if task == "binary":
        reference: list[Any] = [r.label_binary for r in records]
        model: list[Any] = [row["predicted"] for row in report.predictions]
    else:
        reference = [stage_names[r.stage3] if r.stage3 is not None else None for r in records]
        model = [stage_names[row["predicted"]] for row in report.predictions]
    by_grader = {g: [_grader_label(task, r.graders[g]) if g in r.graders else None for r in records] for g in graders}
    try:
        return error_reduction(reference, model, by_grader)
    except ValueError as exc:
        report.notes.append(f"error reduction versus graders not computed: {exc}")
        return None


def evaluate_bundle(
    bundle: str | Path,
    snapshot: Snapshot | str | Path,
    split: str | None = "test",
    *,
    out: str | Path | None = None,
    device: str = "auto",
    line_bundle: str | Path | None = None,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> EvaluationReport:
    """Load ``bundle`` (and for a hybrid, optionally the ``line_bundle`` whose predicted masks feed it),
    evaluate it on ``split`` of ``snapshot`` and, with ``out``, save the report there."""
    predictor = Predictor.hybrid(bundle, line_bundle, device) if line_bundle else Predictor.from_bundle(bundle, device)
    if line_bundle and not predictor.needs_line_mask:
        raise PredictorError(f"{bundle} takes no line mask: --line-bundle applies to a hybrid model only")
    snap = snapshot if isinstance(snapshot, Snapshot) else Snapshot.load(snapshot)
    report = evaluate_predictor(predictor, snap, split, batch_size=batch_size, progress=progress)
    report.bundle = str(bundle)
    if out is not None:
        report.save(out)
    return report
