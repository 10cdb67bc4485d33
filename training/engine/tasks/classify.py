"""Classification tasks: paper A's ROP yes/no and paper B's stages 1–3 (plain or hybrid input)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.data.datasets import ClassificationDataset, HybridDataset, MaskFn, SnapshotDataset
from training.data.samplers import class_weights
from training.engine.tasks.base import Row, Task, drop_none, label_counts
from training.metrics import binary_report, multiclass_report
from training.models import main_logits
from training.presets import Preset
from training.snapshot import Snapshot, SnapshotRecord

#: Weight of Inception's auxiliary head in the training loss (torchvision's recipe).
AUX_WEIGHT = 0.4


def _zeros_mask(_record: SnapshotRecord, rgb: np.ndarray) -> np.ndarray:
    return np.zeros(rgb.shape[:2], np.uint8)


def _classification_loss(loss_fn: nn.Module, output: Any, target: torch.Tensor) -> torch.Tensor:
    """Loss of the main logits, plus ``AUX_WEIGHT`` × the auxiliary head's (Inception, train mode)."""
    loss = loss_fn(main_logits(output), target)
    aux = getattr(output, "aux_logits", None)
    if aux is not None:
        loss = loss + AUX_WEIGHT * loss_fn(aux, target)
    return loss


def positive_weight(labels: Any) -> float:
    """Paper A's class weight of the ROP class: negatives / positives of the training labels."""
    y = np.asarray(labels)
    return float((y == 0).sum()) / max(float((y == 1).sum()), 1.0)


class BinaryTask(Task):
    """Paper A: ROP yes/no, one logit, BCE (``pos_weight`` when class-weighted)."""

    name, snapshot_task, stratify, registry_tasks = "binary", "binary", "label_binary", ("binary", "multiclass")

    @property
    def num_classes(self) -> int:
        return 1

    @property
    def classes(self) -> list[str]:
        return list(self.snapshot_classes.get("binary", ["no ROP", "ROP"]))

    def check(self, splits: dict[str, Snapshot]) -> str | None:
        train = label_counts(splits["train"], "binary")
        if len(train) < 2:
            only = "ROP" if 1 in train else "no-ROP"
            return (
                f"the training split holds only {only} images ({sum(train.values())}); "
                "binary training needs both classes"
            )
        if label_counts(splits["val"], "binary").get(1, 0) == 0:
            return (
                "the validation split holds no ROP image: the operating threshold (target sensitivity "
                f"{self.config.target_sensitivity:g}) cannot be chosen; add ROP cases or change the split"
            )
        return None

    def dataset(
        self, snapshot: Snapshot, preset: Preset, train: bool, cache: bool, mask_fn: MaskFn | None = None
    ) -> SnapshotDataset:
        if preset.mask_channel:  # the line-first input (image + line mask) for the yes/no question too
            if self.config.mask_channel == "none":
                mask_fn = _zeros_mask
            return HybridDataset(
                snapshot,
                preset,
                "binary",
                train,
                mask_fn=mask_fn,
                allow_missing_mask=True,
                cache=cache,
                mask_dropout=self.config.mask_dropout if train else 0.0,
            )
        return ClassificationDataset(snapshot, preset, "binary", train, cache=cache)

    def setup_loss(self, train: Any, device: torch.device, batch_positive_fraction: float | None) -> None:
        pos_weight = None
        if self.config.class_weighted:
            # Paper A's class-weighted cross-entropy: ROP cases weighted by the training split's
            # negatives / positives. With ratio batches on top (paper A's sampling) the loss leans
            # towards the ROP class, as a screening model should; class_weighted=False turns it off.
            pos_weight = torch.tensor([positive_weight(train.labels)], device=device)
        self.pos_weight = pos_weight
        self.loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)

    def train_loss(
        self, model: nn.Module, x: torch.Tensor, batch: dict[str, Any], device: torch.device
    ) -> torch.Tensor:
        y = batch["label"].to(device, non_blocking=True).float()[:, None]
        return _classification_loss(self.loss_fn, model(x), y)

    def eval_rows(self, model: nn.Module, x: torch.Tensor, batch: dict[str, Any], device: torch.device) -> list[Row]:
        logits = main_logits(model(x)).float()[:, 0]
        y = batch["label"].to(device).float()
        losses = F.binary_cross_entropy_with_logits(logits, y, pos_weight=self.pos_weight, reduction="none")
        scores = torch.sigmoid(logits)
        return [
            {"index": int(i), "loss": float(loss), "score": float(s), "label": int(t)}
            for i, loss, s, t in zip(batch["index"].tolist(), losses.tolist(), scores.tolist(), y.tolist(), strict=True)
        ]

    def metrics(self, rows: list[Row]) -> dict[str, float]:
        report = binary_report([r["label"] for r in rows], [r["score"] for r in rows], 0.5)
        return drop_none(
            {
                "auroc": report.auroc,
                "sensitivity": report.sensitivity,
                "specificity": report.specificity,
                "accuracy": report.accuracy,
            }
        )


class StageTask(Task):
    """Paper B: stages 1–3, class-weighted cross-entropy (+ Inception's auxiliary loss)."""

    name, snapshot_task, stratify, registry_tasks = "stage3", "stage3", "stage3", ("multiclass", "binary")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def classes(self) -> list[str]:
        return list(self.snapshot_classes.get("stage3", ["stage 1", "stage 2", "stage 3"]))

    def check(self, splits: dict[str, Snapshot]) -> str | None:
        train = label_counts(splits["train"], "stage3")
        if len(train) < 2:
            return (
                f"the training split holds one stage class only ({', '.join(self.classes[k] for k in train)}); "
                "the stage task needs at least two"
            )
        return None

    def dataset(
        self, snapshot: Snapshot, preset: Preset, train: bool, cache: bool, mask_fn: MaskFn | None = None
    ) -> SnapshotDataset:
        if preset.mask_channel:
            if self.config.mask_channel == "none":
                mask_fn = _zeros_mask
            return HybridDataset(
                snapshot,
                preset,
                "stage3",
                train,
                mask_fn=mask_fn,
                allow_missing_mask=True,
                cache=cache,
                mask_dropout=self.config.mask_dropout if train else 0.0,
            )
        return ClassificationDataset(snapshot, preset, "stage3", train, cache=cache)

    def setup_loss(self, train: Any, device: torch.device, batch_positive_fraction: float | None) -> None:
        weight = class_weights(train.labels, self.num_classes).to(device) if self.config.class_weighted else None
        self.weight = weight
        self.loss_fn = nn.CrossEntropyLoss(weight=weight)

    def train_loss(
        self, model: nn.Module, x: torch.Tensor, batch: dict[str, Any], device: torch.device
    ) -> torch.Tensor:
        return _classification_loss(self.loss_fn, model(x), batch["label"].to(device, non_blocking=True))

    def eval_rows(self, model: nn.Module, x: torch.Tensor, batch: dict[str, Any], device: torch.device) -> list[Row]:
        logits = main_logits(model(x)).float()
        y = batch["label"].to(device)
        losses = F.cross_entropy(logits, y, weight=self.weight, reduction="none")
        probs = torch.softmax(logits, dim=1)
        return [
            {"index": int(i), "loss": float(loss), "pred": int(p.argmax()), "label": int(t)}
            for i, loss, p, t in zip(batch["index"].tolist(), losses.tolist(), probs, y.tolist(), strict=True)
        ]

    def metrics(self, rows: list[Row]) -> dict[str, float]:
        report = multiclass_report([r["label"] for r in rows], [r["pred"] for r in rows], self.classes)
        return {"accuracy": report.accuracy, "macro_f1": report.macro_f1}
