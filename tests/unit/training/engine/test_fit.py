"""training.engine.fit: learning, events, cancel / pause / resume, failures, splits, bundles."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from training.bundle import read_card
from training.engine import RunControl, fit, load_checkpoint
from training.events import (
    BatchProgress,
    Cancelled,
    CheckpointSaved,
    EpochEnd,
    Failed,
    Finished,
    Log,
    Paused,
    RunStarted,
)
from training.metrics import MASK_THRESHOLDS
from training.snapshot import Snapshot

from .conftest import build_snapshot, run_all, tiny_config


def _of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def test_loss_falls_on_a_learnable_task_and_a_bundle_is_written(trained: dict[str, Any]) -> None:
    events, root = trained["binary_events"], trained["root"]
    started = _of(events, RunStarted)[0]
    epochs = _of(events, EpochEnd)
    assert [e.epoch for e in epochs] == [1, 2, 3, 4]
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert {"auroc", "sensitivity", "specificity"} <= set(epochs[-1].val_metrics)
    progress = _of(events, BatchProgress)
    assert len(progress) == 4 * started.batches_per_epoch
    assert all(p.images_per_s > 0 and p.eta_s >= 0 for p in progress)
    assert progress[-1].eta_s <= progress[0].eta_s
    assert started.init == "random" and "starting from random weights" in _of(events, Log)[0].message

    finished: Finished = events[-1]
    assert finished.bundle_dir == str(root / "binary" / "bundle")
    card = read_card(finished.bundle_dir)
    assert card.architecture == "tiny_cnn" and card.classes == ["no ROP", "ROP"]
    assert card.threshold == finished.threshold and card.snapshot_hash == trained["snapshot"].stored_hash
    assert card.metrics["threshold_source"].startswith("validation")
    assert card.metrics["validation"]["sensitivity"] >= 0.95  # the threshold reaches the target on validation
    choice = card.metrics["threshold_choice"]  # the rule's provenance travels with the bundle
    assert choice["threshold"] == card.threshold <= choice["empirical_threshold"]
    assert choice["rule"] == "tolerance" and choice["description"] == card.metrics["threshold_source"]
    assert card.config["epochs"] == 4 and card.preset["image_size"] == 32
    assert card.extra["training"]["best_epoch"] == finished.best_epoch
    assert finished.test_metrics["n"] == started.n_test and "sensitivity" in finished.test_metrics
    assert (root / "binary" / "report" / "binary.csv").is_file()
    logged = [json.loads(line)["kind"] for line in (root / "binary" / "events.jsonl").read_text().splitlines()]
    assert logged[-1] == "Finished" and "BatchProgress" not in logged


def test_splits_never_share_a_patient(trained: dict[str, Any]) -> None:
    splits = json.loads((trained["root"] / "binary" / "splits.json").read_text())
    by_id = trained["snapshot"].by_id()
    patients: dict[str, set[str]] = {}
    for rid, split in splits.items():
        patients.setdefault(by_id[rid].patient, set()).add(split)
    assert len(splits) == len(by_id)
    assert all(len(s) == 1 for s in patients.values())
    assert set(splits.values()) == {"train", "val", "test"}


def test_checkpoint_is_weights_only_and_holds_the_run(trained: dict[str, Any]) -> None:
    path = trained["root"] / "binary" / "checkpoints" / "last.pt"
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["epoch"] == 5 and raw["batch"] == 0 and len(raw["history"]) == 4
    assert set(raw["best"]["state"]) == set(raw["model"])
    assert load_checkpoint(path.parent.parent)["path"] == str(path)


def test_cancel_stops_within_one_batch_with_a_checkpoint(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    control = RunControl()
    gen = fit(tiny_config(epochs=3), binary_snapshot, tmp_path / "run", control=control)
    after: list[Any] = []
    for event in gen:
        if after or control.is_cancelled:
            after.append(event)
        elif isinstance(event, BatchProgress) and event.epoch == 2 and event.batch == 1:
            control.cancel()
    assert [type(e) for e in after] == [CheckpointSaved, Cancelled]
    cancelled: Cancelled = after[-1]
    assert (cancelled.epoch, cancelled.batch) == (2, 1)
    ckpt = load_checkpoint(cancelled.checkpoint)
    assert (ckpt["epoch"], ckpt["batch"]) == (2, 1)
    assert not (tmp_path / "run" / "bundle").exists()


def test_resume_after_cancel_reaches_the_uninterrupted_result(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    config = tiny_config(epochs=3)
    full = run_all(fit(config, binary_snapshot, tmp_path / "full"))
    control = RunControl()
    first = []
    for event in fit(config, binary_snapshot, tmp_path / "cut", control=control):
        first.append(event)
        if isinstance(event, BatchProgress) and event.epoch == 2 and event.batch == 2:
            control.cancel()
    assert isinstance(first[-1], Cancelled)
    resumed = run_all(fit(config, binary_snapshot, tmp_path / "cut", resume=tmp_path / "cut"))
    assert isinstance(resumed[-1], Finished), resumed[-1]
    assert [e.epoch for e in _of(resumed, EpochEnd)] == [2, 3]
    assert _of(resumed, BatchProgress)[0].batch == 3  # continues after the two batches done
    ends_full, ends_resumed = _of(full, EpochEnd), _of(first, EpochEnd) + _of(resumed, EpochEnd)
    assert [e.val_loss for e in ends_resumed] == pytest.approx([e.val_loss for e in ends_full], abs=1e-6)
    assert [e.train_loss for e in ends_resumed] == pytest.approx([e.train_loss for e in ends_full], abs=1e-6)
    a = load_file(str(tmp_path / "full" / "bundle" / "weights.safetensors"))
    b = load_file(str(tmp_path / "cut" / "bundle" / "weights.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_resume_refuses_other_settings(trained: dict[str, Any], tmp_path: Path) -> None:
    events = run_all(fit(tiny_config(epochs=4, lr=1e-2), trained["snapshot"], tmp_path / "run",
                         resume=trained["root"] / "binary"))
    assert [type(e) for e in events] == [Failed]
    assert events[0].category == "error" and "lr 0.003 -> 0.01" in events[0].reason


def test_pause_blocks_until_resumed(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    control = RunControl()
    gen = fit(tiny_config(epochs=1), binary_snapshot, tmp_path / "run", control=control)
    event = next(gen)
    while not isinstance(event, BatchProgress):
        event = next(gen)
    control.pause()
    paused = next(gen)
    assert isinstance(paused, Paused) and (paused.epoch, paused.batch) == (1, 1) and control.is_paused
    box: list[Any] = []
    worker = threading.Thread(target=lambda: box.append(next(gen)))
    worker.start()
    worker.join(0.3)
    assert worker.is_alive() and not box  # blocked while paused
    control.resume()
    worker.join(10)
    assert isinstance(box[0], BatchProgress) and box[0].batch == 2
    assert isinstance(run_all(gen)[-1], Finished)


def test_non_finite_loss_fails_as_diverged(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    events = run_all(fit(tiny_config(optimizer="sgd", lr=1e30, momentum=0.0), binary_snapshot, tmp_path / "run"))
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.category == "diverged", failed
    assert "learning rate" in failed.reason and failed.epoch >= 1
    assert not _of(events, EpochEnd) or not (tmp_path / "run" / "bundle").exists()


def test_single_class_is_bad_data_before_training(tmp_path: Path) -> None:
    snap = build_snapshot(tmp_path / "snap", n_patients=8, labels=lambda p: 0)
    events = run_all(fit(tiny_config(), snap, tmp_path / "run"))
    assert [type(e) for e in events] == [Failed]
    assert events[0].category == "bad_data" and "both classes" in events[0].reason


def test_unreadable_image_is_bad_data(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    victim = binary_snapshot.records[3]
    binary_snapshot.image_path(victim).write_bytes(b"not an image")
    events = run_all(fit(tiny_config(), binary_snapshot, tmp_path / "run"))
    assert [type(e) for e in events] == [Failed]
    assert events[0].category == "bad_data" and victim.id in events[0].reason


def test_empty_split_is_bad_data(tmp_path: Path) -> None:
    snap = build_snapshot(tmp_path / "snap", n_patients=2)
    events = run_all(fit(tiny_config(), snap, tmp_path / "run"))
    assert events[0].category == "bad_data" and "empty" in events[0].reason


def test_architecture_must_fit_the_task(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    events = run_all(fit(tiny_config(architecture="tiny_unet"), binary_snapshot, tmp_path / "run"))
    assert events[0].category == "error" and "segmentation model" in events[0].reason


def test_stage3_hybrid_oversamples_stage1_in_train_only(tmp_path: Path) -> None:
    snap = build_snapshot(tmp_path / "snap", n_patients=12, stages=("1", "2", "3"))
    config = tiny_config(task="stage3", preset="paper_b", preset_overrides={"image_size": 32, "mask_channel": True},
                         oversample_stage1=3, positive_fraction=None, epochs=2)
    events = run_all(fit(config, snap, tmp_path / "run"))
    finished = events[-1]
    assert isinstance(finished, Finished), finished
    started = _of(events, RunStarted)[0]
    splits = json.loads((tmp_path / "run" / "splits.json").read_text())
    stage1_train = sum(1 for r in snap if splits[r.id] == "train" and r.stage == "1")
    originals_train = sum(1 for s in splits.values() if s == "train")
    assert stage1_train > 0 and started.n_train == originals_train + 2 * stage1_train
    assert finished.test_metrics["n"] == sum(1 for s in splits.values() if s == "test")
    assert {"accuracy", "macro_f1"} <= set(_of(events, EpochEnd)[0].val_metrics)
    card = read_card(finished.bundle_dir)
    assert card.model_kwargs["in_channels"] == 2 and card.task == "multiclass"
    assert any("reference (annotated) line masks" in n for n in card.notes)
    assert len(card.metrics["confusion"]) == 3


def test_fine_tuning_from_a_bundle(trained: dict[str, Any], tmp_path: Path) -> None:
    bundle = trained["binary"].bundle_dir
    events = run_all(fit(tiny_config(epochs=1), trained["snapshot"], tmp_path / "run", init_bundle=bundle))
    assert isinstance(events[-1], Finished)
    assert _of(events, RunStarted)[0].init == f"bundle:{bundle}"
    wrong = run_all(fit(tiny_config(epochs=1, model_kwargs={"width": 4}), trained["snapshot"], tmp_path / "r2",
                        init_bundle=bundle))
    assert wrong[-1].category == "error" and "does not fit" in wrong[-1].reason


def test_segmentation_run_reports_dice(trained: dict[str, Any]) -> None:
    events = trained["seg_events"]
    ends = _of(events, EpochEnd)
    assert "dice" in ends[-1].val_metrics and ends[-1].train_loss < ends[0].train_loss
    finished: Finished = events[-1]
    assert 0.0 <= finished.test_metrics["dice"] <= 1.0
    card = read_card(finished.bundle_dir)
    assert card.task == "segmentation"
    # the mask threshold is the validation split's best cut-off, stored in the card
    val = card.metrics["validation"]
    assert finished.threshold == card.threshold and card.threshold in MASK_THRESHOLDS
    assert val["dice"] == val["dice_per_threshold"][str(card.threshold)]
    assert val["dice_per_threshold"][str(val["best_threshold"])] == max(val["dice_per_threshold"].values())
    assert card.threshold in (0.5, val["best_threshold"])  # 0.5 unless the best beats it beyond the noise
    assert card.metrics["threshold_source"].startswith("validation split")
    assert "dice" in finished.test_metrics["ci95"]


def test_predictor_cuts_line_masks_at_the_card_threshold(trained: dict[str, Any]) -> None:
    from training.bundle import load_bundle
    from training.predictor import Predictor

    from .conftest import fundus

    model, card = load_bundle(trained["seg"].bundle_dir)
    rgb, _ = fundus(5, True)
    prob = Predictor(model, card).predict(rgb, line_probability=True).line_probability
    cut = float(np.quantile(prob, 0.9))  # a cut-off that keeps about a tenth of the pixels
    card.threshold = cut
    pred = Predictor(model, card).predict(rgb, saliency=False)
    assert pred.threshold == cut
    assert np.array_equal(pred.line_mask > 0, prob >= cut)


def test_early_stopping_keeps_the_best_epoch(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    events = run_all(fit(tiny_config(epochs=8, lr=0.05, early_stopping_patience=1), binary_snapshot, tmp_path / "run"))
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.stopped_early
    ends = _of(events, EpochEnd)
    assert len(ends) < 8 and not ends[-1].is_best
    assert finished.best_epoch == min(ends, key=lambda e: e.val_loss).epoch == ends[-2].epoch
    assert any("early stopping" in e.message for e in _of(events, Log))
    assert _of(events, CheckpointSaved)[-1].epoch == len(ends)
    assert read_card(finished.bundle_dir).extra["training"]["stopped_early"] is True


def test_binary_line_first_input(binary_snapshot: Snapshot, tmp_path: Path) -> None:
    """Paper A's question with paper B's idea: the image plus the line mask as an extra channel."""
    config = tiny_config(epochs=1, preset_overrides={"image_size": 32, "mask_channel": True})
    finished = run_all(fit(config, binary_snapshot, tmp_path / "run"))[-1]
    assert isinstance(finished, Finished), finished
    card = read_card(finished.bundle_dir)
    assert card.model_kwargs["in_channels"] == 4 and card.preset["mask_channel"] is True
