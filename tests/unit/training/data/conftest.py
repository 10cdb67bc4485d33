"""Tiny synthetic fundus images and snapshots for the data tests (written into tmp_path)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.snapshot import Snapshot, SnapshotWriter


def synthetic_fundus(h: int = 40, w: int = 48, seed: int = 0, line: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A RetCam-like RGB image (textured disc on black) and its ridge mask (0/255; empty if no line)."""
    rng = np.random.default_rng(seed)
    rgb = np.zeros((h, w, 3), np.uint8)
    centre, radius = (w // 2, h // 2), int(min(h, w) * 0.45)
    cv2.circle(rgb, centre, radius, (190, 100, 50), -1)
    disc = rgb[..., 0] > 0
    noise = rng.integers(-35, 35, size=(h, w, 3))
    rgb[disc] = np.clip(rgb[disc].astype(int) + noise[disc], 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    if line:
        x0 = int(rng.integers(w // 4, w // 2))
        cv2.line(mask, (x0, h // 3), (x0 + w // 4, 2 * h // 3), 255, max(2, h // 12))
        mask[~disc] = 0
        rgb[mask > 0] = (250, 220, 200)
    return rgb, mask


@pytest.fixture
def fundus() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    return synthetic_fundus


@pytest.fixture
def make_snapshot(tmp_path: Path) -> Callable[..., Snapshot]:
    """Build a snapshot of ``n`` tiny images: patients p0, p0, p1, p1, ...; stages cycle 0,1,2,3."""

    def build(n: int = 8, folder: str = "snap", size: tuple[int, int] = (40, 48),
              stages: tuple[str, ...] = ("0", "1", "2", "3")) -> Snapshot:
        with SnapshotWriter(tmp_path / folder) as writer:
            for i in range(n):
                stage = stages[i % len(stages)]
                rgb, mask = synthetic_fundus(*size, seed=i, line=stage != "0")
                writer.add(rgb, id=f"img{i}", patient=f"p{i // 2}", eye="OD" if i % 2 == 0 else "OS",
                           stage=stage, mask=mask if stage != "0" else None)
        return Snapshot.load(tmp_path / folder)

    return build
