"""The weights' exponential moving average (``ema_decay``): validated, kept, saved and resumed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from training.config import TrainConfig
from training.engine import RunControl, fit, load_checkpoint
from training.events import BatchProgress, Cancelled, CheckpointSaved, EpochEnd, Finished
from training.snapshot import Snapshot

from .conftest import run_all, tiny_config


def _ema_weights(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The averaged model's state dict inside a checkpoint (AveragedModel prefixes ``module.``)."""
    return {k.removeprefix("module."): v for k, v in ckpt["ema"].items() if k.startswith("module.")}


def test_the_run_validates_and_saves_the_hand_computed_average(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    """One batch per epoch: after epoch 2 the average is decay x (weights after step 1) + (1 - decay) x
    (weights after step 2), BatchNorm running statistics included; the bundle holds the average."""
    decay = 0.75
    config = tiny_config(epochs=2, max_batches_per_epoch=1, ema_decay=decay)
    checkpoints: list[dict[str, Any]] = []
    events = []
    for event in fit(config, binary_snapshot, tmp_path / "run"):
        events.append(event)
        if isinstance(event, CheckpointSaved):
            checkpoints.append(load_checkpoint(event.path))  # last.pt is overwritten every epoch
    assert isinstance(events[-1], Finished), events[-1]
    first, second = checkpoints
    raw1, raw2, ema2 = first["model"], second["model"], _ema_weights(second)
    assert set(ema2) == set(raw2)
    averaged = [k for k, v in raw2.items() if v.is_floating_point()]
    assert any("running_mean" in k for k in averaged) and any("running_var" in k for k in averaged)
    for k in averaged:
        torch.testing.assert_close(ema2[k], decay * raw1[k] + (1 - decay) * raw2[k])
    assert any(not torch.allclose(ema2[k], raw2[k]) for k in averaged)  # the average is not the last weights
    best = {1: first, 2: second}[events[-1].best_epoch]
    bundle = load_file(str(tmp_path / "run" / "bundle" / "weights.safetensors"))
    for k, v in _ema_weights(best).items():
        torch.testing.assert_close(bundle[k], v)
    assert best["best"]["state"].keys() == bundle.keys()


def test_resume_restores_the_average(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    config = tiny_config(epochs=3, ema_decay=0.8)
    full = run_all(fit(config, binary_snapshot, tmp_path / "full"))
    control = RunControl()
    first = []
    for event in fit(config, binary_snapshot, tmp_path / "cut", control=control):
        first.append(event)
        if isinstance(event, BatchProgress) and event.epoch == 2 and event.batch == 2:
            control.cancel()
    assert isinstance(first[-1], Cancelled)
    assert load_checkpoint(tmp_path / "cut")["ema"]["n_averaged"] > 0
    resumed = run_all(fit(config, binary_snapshot, tmp_path / "cut", resume=tmp_path / "cut"))
    assert isinstance(resumed[-1], Finished), resumed[-1]
    val_full = [e.val_loss for e in full if isinstance(e, EpochEnd)]
    val_cut = [e.val_loss for e in first + resumed if isinstance(e, EpochEnd)]
    assert val_cut == pytest.approx(val_full, abs=1e-6)
    a = load_file(str(tmp_path / "full" / "bundle" / "weights.safetensors"))
    b = load_file(str(tmp_path / "cut" / "bundle" / "weights.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_ema_decay_must_lie_between_0_and_1() -> None:
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="ema_decay"):
            TrainConfig(ema_decay=bad)
    assert TrainConfig.from_dict(TrainConfig(ema_decay=0.97).to_dict()).ema_decay == 0.97
