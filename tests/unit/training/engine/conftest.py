"""Tiny synthetic snapshots (48x56 fundus-like images, a bright drawn line = ROP) and tiny runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from training.config import TrainConfig
from training.engine import fit
from training.events import Event, Finished
from training.snapshot import Snapshot, SnapshotWriter

H, W = 48, 56


def fundus(seed: int, line: bool, h: int = H, w: int = W) -> tuple[np.ndarray, np.ndarray]:
    """An orange textured disc on black; with ``line`` a bright thick stroke (and its mask)."""
    rng = np.random.default_rng(seed)
    rgb = np.zeros((h, w, 3), np.uint8)
    cv2.circle(rgb, (w // 2, h // 2), int(min(h, w) * 0.46), (170, 90, 45), -1)
    disc = rgb[..., 0] > 0
    noise = rng.integers(-25, 25, size=(h, w, 3))
    rgb[disc] = np.clip(rgb[disc].astype(int) + noise[disc], 1, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    if line:
        x0 = int(rng.integers(w // 4, w // 2))
        cv2.line(mask, (x0, h // 4), (x0 + w // 5, 3 * h // 4), 255, max(3, h // 10))
        mask[~disc] = 0
        rgb[mask > 0] = (250, 235, 215)
    return rgb, mask


def build_snapshot(folder: Path, n_patients: int = 12, *, stages: tuple[str, ...] | None = None,
                   labels: Callable[[int], int] | None = None, graders: bool = False,
                   size: tuple[int, int] = (H, W)) -> Snapshot:
    """Two images (OD, OS) per patient. Binary by default (odd patients have ROP); with ``stages``
    patient p gets stage ``stages[p % len(stages)]`` (a line for every stage but "0")."""
    with SnapshotWriter(folder) as writer:
        for p in range(n_patients):
            for k, eye in enumerate(("OD", "OS")):
                fields: dict[str, Any] = {"patient": f"p{p:02d}", "eye": eye}
                if stages is not None:
                    fields["stage"] = stages[p % len(stages)]
                    positive = fields["stage"] != "0"
                else:
                    positive = bool(labels(p) if labels is not None else p % 2)
                    fields["label_binary"] = int(positive)
                if graders:
                    fields["graders"] = {"A": {"rop": int(positive)},  # A is always right, B wrong on left eyes
                                         "B": {"rop": int(positive) if eye == "OD" else 1 - int(positive)}}
                rgb, mask = fundus(2 * p + k, positive, *size)
                writer.add(rgb, id=f"p{p:02d}-{eye}", mask=mask, **fields)
    return Snapshot.load(folder)


def tiny_config(**changes: Any) -> TrainConfig:
    """tiny_cnn on 32 px, a few epochs, CPU, splits 50/25/25 (train/test/val)."""
    base = TrainConfig(task="binary", architecture="tiny_cnn", preset="fast", preset_overrides={"image_size": 32},
                       epochs=3, batch_size=4, lr=3e-3, l2=0.0, split_ratios=(0.5, 0.25, 0.25), device="cpu",
                       early_stopping_patience=None)
    return base.with_(**changes)


def run_all(gen: Iterator[Event]) -> list[Event]:
    return list(gen)


@pytest.fixture
def binary_snapshot(tmp_path: Path) -> Snapshot:
    return build_snapshot(tmp_path / "snap")


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One binary and one segmentation run shared by the predictor / evaluate / CLI tests."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("trained")
    snap = build_snapshot(root / "snap", graders=True)
    events = run_all(fit(tiny_config(epochs=4), snap, root / "binary"))
    seg_cfg = tiny_config(task="segmentation", architecture="tiny_unet", preset="segmentation", epochs=4, lr=1e-2,
                          class_weighted=True, positive_fraction=None)
    seg_events = run_all(fit(seg_cfg, snap, root / "seg"))
    binary, seg = events[-1], seg_events[-1]
    assert isinstance(binary, Finished), binary
    assert isinstance(seg, Finished), seg
    return {"root": root, "snapshot": snap, "binary": binary, "binary_events": events, "seg": seg,
            "seg_events": seg_events}
