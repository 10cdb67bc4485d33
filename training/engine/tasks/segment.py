"""Line segmentation: one logit map per image, BCE (line pixels up-weighted) + soft Dice."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.data.datasets import MaskFn, SegmentationDataset, SnapshotDataset
from training.engine.tasks.base import Row, Task
from training.metrics import dice
from training.presets import Preset
from training.snapshot import Snapshot


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 − soft Dice per image (N,) of sigmoid(logits) against a {0, 1} target (N, 1, H, W)."""
    probs = torch.sigmoid(logits.float()).flatten(1)
    t = target.float().flatten(1)
    inter = (probs * t).sum(1)
    return 1.0 - (2.0 * inter + eps) / (probs.sum(1) + t.sum(1) + eps)


class SegmentationTask(Task):
    """Line mask: one logit map, BCE (``pos_weight`` when class-weighted) + soft Dice."""

    name, snapshot_task, stratify, registry_tasks = "segmentation", "segmentation", "label_binary", ("segmentation",)

    @property
    def num_classes(self) -> int:
        return 1

    @property
    def classes(self) -> list[str]:
        return list(self.snapshot_classes.get("segmentation", ["demarcation line"]))

    def dataset(
        self, snapshot: Snapshot, preset: Preset, train: bool, cache: bool, mask_fn: MaskFn | None = None
    ) -> SnapshotDataset:
        return SegmentationDataset(snapshot, preset, train, cache=cache)

    def setup_loss(self, train: Any, device: torch.device, batch_positive_fraction: float | None) -> None:
        self.pos_weight = None
        if self.config.class_weighted:
            # Line pixels are rare (≈1 %): weight them by sqrt(negative / positive), estimated on a
            # sample of the training masks and capped, which keeps BCE from predicting "no line".
            sample = range(0, len(train), max(1, len(train) // 16))
            on = total = 0
            for i in sample:
                _, mask = train.load(i)
                if mask is not None:
                    on, total = on + int((mask > 0).sum()), total + mask.size
            fraction = on / total if total else 0.0
            weight = min(math.sqrt((1.0 - fraction) / fraction), 30.0) if fraction > 0 else 1.0
            self.pos_weight = torch.tensor([weight], device=device)

    def _pixel_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """BCE + soft Dice, per image (N,)."""
        bce = (
            F.binary_cross_entropy_with_logits(logits.float(), target, pos_weight=self.pos_weight, reduction="none")
            .flatten(1)
            .mean(1)
        )
        return bce + soft_dice_loss(logits, target)

    def train_loss(
        self, model: nn.Module, x: torch.Tensor, batch: dict[str, Any], device: torch.device
    ) -> torch.Tensor:
        return self._pixel_loss(model(x), batch["mask"].to(device, non_blocking=True)).mean()

    def eval_rows(self, model: nn.Module, x: torch.Tensor, batch: dict[str, Any], device: torch.device) -> list[Row]:
        logits = model(x).float()
        target = batch["mask"].to(device)
        losses = self._pixel_loss(logits, target)
        pred = (logits > 0).cpu().numpy()[:, 0]
        true = target.cpu().numpy()[:, 0] > 0.5
        return [
            {"index": int(i), "loss": float(loss), "dice": dice(p, t)}
            for i, loss, p, t in zip(batch["index"].tolist(), losses.tolist(), pred, true, strict=True)
        ]

    def metrics(self, rows: list[Row]) -> dict[str, float]:
        return {"dice": float(np.mean([r["dice"] for r in rows]))}
