"""training.evaluate: bundles on snapshot splits, error reduction versus graders, saved reports."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from training.evaluate import EvaluationError, evaluate_bundle
from training.snapshot import Snapshot


def test_binary_report_with_error_reduction(trained: dict[str, Any], tmp_path: Path) -> None:
    finished = trained["binary"]
    report = evaluate_bundle(finished.bundle_dir, trained["snapshot"], "test", out=tmp_path / "ev")
    assert report.n == finished.test_metrics["n"]  # the card's training splits: same test patients
    assert report.binary.threshold == pytest.approx(finished.threshold)
    assert report.summary()["accuracy"] == pytest.approx(finished.test_metrics["accuracy"])
    reduction = report.error_reduction
    assert reduction is not None and set(reduction.per_grader) == {"A", "B"}
    assert reduction.per_grader["A"].grader_error_rate == 0.0 and reduction.per_grader["A"].error_reduction is None
    assert reduction.per_grader["B"].grader_error_rate > 0.0
    saved = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert saved["summary"]["n"] == report.n and "error_reduction" in saved
    with open(tmp_path / "ev" / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == report.n and {"id", "label", "probability", "predicted"} <= set(rows[0])


def test_all_splits_and_empty_selection(trained: dict[str, Any], tmp_path: Path) -> None:
    snap: Snapshot = trained["snapshot"]
    everything = evaluate_bundle(trained["binary"].bundle_dir, snap, "all")
    assert everything.n == len(snap)
    only_train = snap.with_records(r.replace(split="train") for r in snap)
    with pytest.raises(EvaluationError, match="no binary record"):
        evaluate_bundle(trained["binary"].bundle_dir, only_train, "test")


def test_segmentation_dice_at_the_original_size(trained: dict[str, Any], tmp_path: Path) -> None:
    report = evaluate_bundle(trained["seg"].bundle_dir, trained["snapshot"], "test", out=tmp_path / "ev")
    assert report.masks is not None and len(report.masks.dice) == report.n
    assert report.masks.mean_dice == pytest.approx(trained["seg"].test_metrics["dice"])
    assert all(0.0 <= row["dice"] <= 1.0 for row in report.predictions)
    assert (tmp_path / "ev" / "masks.csv").is_file()
    assert "dice" in report.text()
