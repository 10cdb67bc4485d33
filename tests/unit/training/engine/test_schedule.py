"""Learning-rate schedule, time budget, divergence recovery and the recipe details each fix is for."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from training.bundle import read_card
from training.config import recipe
from training.engine import fit
from training.engine.schedule import LrSchedule
from training.engine.setup import build_model, build_preset
from training.engine.tasks import BinaryTask, make_task
from training.events import BatchProgress, EpochEnd, Failed, Finished, Log
from training.models import create_model
from training.snapshot import Snapshot

from .conftest import run_all, tiny_config


def _of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def _schedule(**changes: Any) -> tuple[LrSchedule, torch.optim.Optimizer]:
    optimiser = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    config = tiny_config(**changes)
    return LrSchedule(config, optimiser, config.lr, total_batches=100), optimiser


def test_cosine_anneals_over_batches_or_the_budget_whichever_is_further() -> None:
    schedule, _ = _schedule(lr=1.0, lr_schedule="cosine", min_lr_fraction=0.01, max_minutes=10.0)
    assert schedule.rate(0, 0.0) == pytest.approx(1.0)
    assert schedule.rate(50, 0.0) == pytest.approx(0.505)
    assert schedule.rate(0, 300.0) == pytest.approx(0.505)  # half the budget spent, few batches done
    assert schedule.rate(10, 600.0) == pytest.approx(0.01) == schedule.rate(100, 0.0)


def test_warm_up_ramps_linearly_to_the_rate() -> None:
    schedule, _ = _schedule(lr=1.0, warmup_batches=4)
    assert [round(schedule.rate(b, 0.0), 3) for b in range(6)] == [0.2, 0.4, 0.6, 0.8, 1.0, 1.0]


def test_paper_a_plateau_multiplies_by_0_8_after_patience_epochs() -> None:
    config = recipe("paper_a_base")
    optimiser = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    schedule = LrSchedule(config, optimiser, config.lr, total_batches=100)
    lrs = []
    for loss in [1.0] + [1.0] * (config.plateau_patience + 1):
        schedule.after_epoch(loss)
        lrs.append(schedule.rate(0, 0.0))
    assert (config.plateau_factor, config.plateau_patience) == (0.8, 3)
    assert lrs[:-1] == [config.lr] * (config.plateau_patience + 1)
    assert lrs[-1] == pytest.approx(config.lr * 0.8)


def test_cosine_run_lowers_the_rate_every_epoch(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    events = run_all(fit(tiny_config(epochs=3, lr_schedule="cosine"), binary_snapshot, tmp_path / "run"))
    lrs = [e.lr for e in _of(events, EpochEnd)]
    assert isinstance(events[-1], Finished) and lrs[0] > lrs[1] > lrs[2] and lrs[0] < 3e-3


def test_time_budget_ends_training_with_the_best_weights(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    config = tiny_config(epochs=500, max_minutes=0.02)  # 1.2 s
    events = run_all(fit(config, binary_snapshot, tmp_path / "run"))
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.time_budget_reached
    assert 1 <= finished.epochs_run < 500
    card = read_card(finished.bundle_dir)
    assert card.extra["training"]["time_budget_reached"] and card.extra["training"]["minutes"] <= 0.02 + 0.01
    assert finished.best_epoch == min(_of(events, EpochEnd), key=lambda e: e.val_loss).epoch
    assert any("time budget" in e.message for e in _of(events, Log))


def test_a_non_finite_loss_goes_back_to_the_last_good_state_with_a_lower_rate(
        binary_snapshot: Snapshot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = BinaryTask.train_loss, {"n": 0}

    def once_nan(self: BinaryTask, *args: Any) -> torch.Tensor:
        loss = real(self, *args)
        calls["n"] += 1
        return loss * math.nan if calls["n"] == 5 else loss  # epoch 2, batch 2 (3 batches per epoch)

    monkeypatch.setattr(BinaryTask, "train_loss", once_nan)
    config = tiny_config(epochs=3)
    events = run_all(fit(config, binary_snapshot, tmp_path / "run"))
    finished = events[-1]
    assert isinstance(finished, Finished), finished
    warning = next(e for e in _of(events, Log) if "non-finite" in e.message)
    assert warning.level == "warning" and "after epoch 1" in warning.message
    ends = _of(events, EpochEnd)
    assert [e.epoch for e in ends] == [1, 2, 3]
    assert ends[1].lr == pytest.approx(config.lr * config.divergence_lr_factor)
    restarted = [p.batch for p in _of(events, BatchProgress) if p.epoch == 2]
    assert restarted[:2] == [1, 1]  # epoch 2 ran again from its first batch
    assert read_card(finished.bundle_dir).extra["training"]["divergences"] == 1


def test_divergence_still_fails_after_the_retries(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    events = run_all(fit(tiny_config(optimizer="sgd", lr=1e30, momentum=0.0, divergence_retries=2),
                         binary_snapshot, tmp_path / "run"))
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.category == "diverged" and "after 2 retries" in failed.reason
    assert len([e for e in _of(events, Log) if "non-finite" in e.message]) == 2


def test_random_weights_train_at_lr_from_scratch(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    events = run_all(fit(tiny_config(epochs=1, lr_from_scratch=1e-3), binary_snapshot, tmp_path / "run"))
    assert _of(events, EpochEnd)[0].lr == pytest.approx(1e-3)
    assert any("lr_from_scratch" in e.message for e in _of(events, Log))
    tuned = run_all(fit(tiny_config(epochs=1, lr_from_scratch=1e-3), binary_snapshot, tmp_path / "tuned",
                        init_bundle=events[-1].bundle_dir))
    assert _of(tuned, EpochEnd)[0].lr == pytest.approx(3e-3)  # starting from trained weights: config.lr


def test_class_weight_follows_the_training_split_even_with_ratio_batches() -> None:
    task = make_task(tiny_config(), {})

    class Train:
        labels = (0, 0, 0, 1, 0, 0, 1, 0)

    task.setup_loss(Train(), torch.device("cpu"), batch_positive_fraction=0.5)
    assert float(task.pos_weight) == pytest.approx(3.0)  # 6 negatives / 2 positives (was exactly 1.0)
    off = make_task(tiny_config(class_weighted=False), {})
    off.setup_loss(Train(), torch.device("cpu"), 0.5)
    assert off.pos_weight is None


def test_l2_penalty_of_paper_a_is_added_to_the_loss(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    base = tiny_config(architecture="rop_base_cnn", preset="paper_a", epochs=1, max_batches_per_epoch=1,
                       checkpoint_every=9)
    plain = _of(run_all(fit(base.with_(l2=0.0), binary_snapshot, tmp_path / "a")), BatchProgress)[0].loss
    with_l2 = _of(run_all(fit(base.with_(l2=0.5), binary_snapshot, tmp_path / "b")), BatchProgress)[0].loss
    torch.manual_seed(base.seed)
    model = create_model("rop_base_cnn", pretrained=False, image_size=32, l2_weight=0.5)
    penalty = float(model.l2_penalty().detach())
    assert penalty > 0.01 and with_l2 - plain == pytest.approx(penalty, rel=1e-4)


def test_mask_rcnn_is_never_normalised_twice() -> None:
    small = {"backbone": "resnet18", "min_size": 64, "max_size": 64}
    config = recipe("paper_b_maskrcnn", model_kwargs=small, init="random")
    task = make_task(config, {})
    model, _, _ = build_model(config, task, build_preset(config), None)
    assert model.transform.image_mean == pytest.approx([0.485, 0.456, 0.406])  # RGB in [0, 1]: normalised inside
    grey = config.with_(preset="paper_b", preset_overrides={"image_size": 64})  # already standardised
    model, _, _ = build_model(grey, task, build_preset(grey), None)
    assert model.transform.image_mean == [0.0] and model.transform.image_std == [1.0]
