"""Line-first hybrids evaluated honestly: ``fit(..., line_bundle=DIR)`` feeds the validation and test
images the line model's predicted masks (threshold chosen on what the model sees in use), the card
names the line model; without it the card calls the figures an upper bound."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training.bundle import ModelCard, load_bundle, read_card, save_bundle
from training.cli import main
from training.config import recipe
from training.data.io import read_mask, read_rgb
from training.engine import fit, load_checkpoint
from training.events import Failed, Finished, Log
from training.line_masks import LineMaskError, LineMasks, predict_line_masks
from training.metrics import choose_operating_threshold
from training.models import create_model
from training.predictor import Predictor
from training.snapshot import Snapshot

from .conftest import run_all, tiny_config

# the empirical rule puts the threshold on the lowest validation ROP score: the masks fed to those images decide it
HYBRID = {"preset_overrides": {"image_size": 32, "mask_channel": True}, "epochs": 2, "threshold_rule": "empirical"}


@pytest.fixture(scope="module")
def empty_line_bundle(trained: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared tiny line model, cut above any probability: a line model that predicts no line."""
    model, card = load_bundle(trained["seg"].bundle_dir)
    card.threshold = 2.0
    return save_bundle(tmp_path_factory.mktemp("line") / "bundle", model, card)


def _val_scores(bundle: str, snap: Snapshot, masks: str) -> dict[str, float]:
    """P(ROP) of the bundle's validation images fed empty (``"none"``) or reference line masks."""
    predictor = Predictor.from_bundle(bundle, "cpu")
    splits = read_card(bundle).extra["training"]["splits_by_id"]
    records = [r for r in snap if splits[r.id] == "val"]
    images = [read_rgb(snap.image_path(r)) for r in records]
    given = [np.zeros(im.shape[:2], np.uint8) if masks == "none" else read_mask(snap.path(r.mask or "")) for r, im
             in zip(records, images, strict=True)]
    preds = predictor.predict_batch(images, saliency=False, line_masks=given)
    return {r.id: float(p.probability) for r, p in zip(records, preds, strict=True)}


def _chosen(card: ModelCard, scores: dict[str, float], snap: Snapshot) -> float:
    labels = {r.id: r.label_binary for r in snap}
    config = card.config
    return choose_operating_threshold(
        [labels[i] for i in scores], list(scores.values()), target_sensitivity=config["target_sensitivity"],
        rule=config["threshold_rule"], confidence=config["threshold_confidence"],
        min_specificity=config["threshold_min_specificity"]).threshold


def test_threshold_and_test_figures_come_from_the_predicted_masks(
        trained: dict[str, Any], empty_line_bundle: Path, tmp_path: Path) -> None:
    snap = trained["snapshot"]
    events = run_all(fit(tiny_config(**HYBRID), snap, tmp_path / "run", line_bundle=empty_line_bundle))
    finished = events[-1]
    assert isinstance(finished, Finished), finished
    bundle = finished.bundle_dir
    card = read_card(bundle)
    predicted, reference = _val_scores(bundle, snap, "none"), _val_scores(bundle, snap, "reference")
    assert predicted != reference  # the ROP images' lines are in the reference masks, not in the predicted ones
    assert card.threshold == pytest.approx(_chosen(card, predicted, snap))  # chosen on what the model sees in use
    assert card.threshold != pytest.approx(_chosen(card, reference, snap))  # not on the reference masks
    # the test report too: the line model's (empty) masks, not the reference masks
    with open(Path(finished.bundle_dir).parent / "report" / "predictions.csv", newline="") as fh:
        reported = {row["id"]: float(row["probability"]) for row in csv.DictReader(fh)}
    predictor = Predictor.from_bundle(bundle, "cpu")
    for record_id, p in reported.items():
        rgb = read_rgb(snap.image_path(snap.by_id()[record_id]))
        empty = predictor.predict(rgb, saliency=False, line_mask=np.zeros(rgb.shape[:2], np.uint8)).probability
        assert p == pytest.approx(empty, abs=1e-5)
    # the card names the line model that fed it, by its weights' SHA-256
    fed = card.metrics["line_masks"]
    digest = hashlib.sha256((empty_line_bundle / "weights.safetensors").read_bytes()).hexdigest()
    assert fed["source"] == "predicted" and fed["line_model"]["weights_sha256"] == digest
    assert fed["line_model"]["bundle"] == str(empty_line_bundle.resolve())
    assert "predicted line masks" in card.metrics["threshold_source"]
    assert any(digest in note for note in card.notes)
    assert any("predicted once by the line model" in e.message for e in events if isinstance(e, Log))
    assert load_checkpoint(tmp_path / "run")["line_bundle"] == str(empty_line_bundle)


def test_without_a_line_bundle_the_card_calls_the_figures_an_upper_bound(
        trained: dict[str, Any], tmp_path: Path) -> None:
    snap = trained["snapshot"]
    finished = run_all(fit(tiny_config(**HYBRID), snap, tmp_path / "run"))[-1]
    assert isinstance(finished, Finished), finished
    card = read_card(finished.bundle_dir)
    assert card.metrics["line_masks"]["source"] == "reference" and card.metrics["line_masks"]["line_model"] is None
    assert "upper bound" in card.metrics["line_masks"]["description"]
    assert card.threshold == pytest.approx(_chosen(card, _val_scores(finished.bundle_dir, snap, "reference"), snap))


def test_a_line_bundle_needs_a_hybrid_and_a_line_segmenter(trained: dict[str, Any], empty_line_bundle: Path,
                                                           tmp_path: Path) -> None:
    snap = trained["snapshot"]
    plain = run_all(fit(tiny_config(epochs=1), snap, tmp_path / "plain", line_bundle=empty_line_bundle))[-1]
    assert isinstance(plain, Failed) and "takes no line mask" in plain.reason
    wrong = run_all(fit(tiny_config(**HYBRID), snap, tmp_path / "wrong", line_bundle=trained["binary"].bundle_dir))[-1]
    assert isinstance(wrong, Failed) and "not a line segmenter" in wrong.reason


def test_cli_train_line_bundle(trained: dict[str, Any], empty_line_bundle: Path, tmp_path: Path) -> None:
    shutil.copytree(trained["snapshot"].root, tmp_path / "snap")
    code = main(["train", "--snapshot", str(tmp_path / "snap"), "--arch", "tiny_cnn", "--image-size", "32",
                 "--batch-size", "4", "--epochs", "1", "--device", "cpu", "--quiet", "--out", str(tmp_path / "run"),
                 "--config", str(_hybrid_config(tmp_path)), "--line-bundle", str(empty_line_bundle)])
    assert code == 0
    assert read_card(tmp_path / "run" / "bundle").metrics["line_masks"]["source"] == "predicted"


def _hybrid_config(tmp_path: Path) -> Path:
    path = tmp_path / "hybrid.json"
    path.write_text('{"split_ratios": [0.5, 0.25, 0.25], "l2": 0.0, "preset_overrides": {"mask_channel": true}}')
    return path


def test_predicted_masks_are_computed_once_and_fit_the_working_copy(trained: dict[str, Any],
                                                                     empty_line_bundle: Path) -> None:
    snap = trained["snapshot"]
    masks = predict_line_masks(trained["seg"].bundle_dir, [snap])
    assert len(masks) == len(snap)
    record = next(iter(snap))
    full = masks.get(record.id)
    rgb = read_rgb(snap.image_path(record))
    assert full.shape == rgb.shape[:2] and set(np.unique(full)) <= {0, 255}
    line = Predictor.from_bundle(trained["seg"].bundle_dir, "cpu")
    assert np.array_equal(full, line.line_mask(rgb))  # what Predictor.hybrid would feed the hybrid in use
    small = masks.mask_fn(record, rgb[::2, ::2])
    assert small.shape == (rgb.shape[0] // 2, rgb.shape[1] // 2)
    with pytest.raises(LineMaskError, match="no predicted line mask"):
        LineMasks({}).get("nope")


def test_a_one_logit_hybrid_is_a_binary_model() -> None:
    card = ModelCard.for_model(create_model("resnet18_hybrid", num_classes=1, in_channels=2, pretrained=False), "x")
    assert card.task == "binary"
    line_first = recipe("fast_binary_line")
    assert line_first.task == "binary" and line_first.preset_overrides["mask_channel"] is True
