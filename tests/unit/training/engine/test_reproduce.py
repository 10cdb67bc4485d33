"""training.reproduce at smoke scale: both papers' pipelines end to end on a tiny synthetic snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.events import Finished
from training.reproduce import PAPER_A_RUNS, PAPER_B_RUNS, reproduce, run_config

from .conftest import build_snapshot


@pytest.mark.slow
def test_smoke_reproduce_prints_both_tables(tmp_path: Path) -> None:
    snap = build_snapshot(tmp_path / "snap", n_patients=12, stages=("0", "1", "2", "3"), size=(72, 80))
    printed: list[str] = []
    result = reproduce(snap, tmp_path / "out", scale="smoke", device="cpu", echo=printed.append)
    assert result.ok, {k: v for k, v in result.runs.items() if not isinstance(v, Finished)}
    assert set(result.runs) == {run.name for run in PAPER_A_RUNS + PAPER_B_RUNS}
    text = "\n".join(printed)
    assert "| ROPBaseCNN |" in text and "| ROPResCNN  |" in text
    for row in ("Hybrid", "Classifier-only", "Segmentation-only"):
        assert f"| {row}" in text
    assert "no line precision" in result.table_b and "Line segmenter on the test split: Dice" in text
    assert (tmp_path / "out" / "paper_a.md").read_text().count("|") > 10
    assert (tmp_path / "out" / "paper_b.csv").is_file() and (tmp_path / "out" / "line_segmentation" / "ap_curve.csv").is_file()
    hybrid = result.runs["paper_b_hybrid"]
    assert isinstance(hybrid, Finished)
    assert not (tmp_path / "out" / "paper_b_hybrid" / "checkpoints").exists()  # smoke runs keep no checkpoints
    assert result.segmentation is not None and result.segmentation.ap is not None
    assert "95% CI: patient-level bootstrap" in text and "- Hybrid: accuracy" in text


def test_quick_scale_gives_every_run_a_budget_and_its_own_size() -> None:
    configs = {run.name: run_config(run, scale="quick", epochs=None, image_size=None, device="cpu", seed=0)
               for run in PAPER_A_RUNS + PAPER_B_RUNS}
    assert all(c.max_minutes for c in configs.values())
    assert sum(c.max_minutes for c in configs.values()) <= 25  # room for evaluation in 30 min
    assert configs["paper_b_line"].architecture == "unet_small"  # the line model that learns from scratch on a CPU
    assert configs["paper_b_hybrid"].preset_overrides["mask_channel"] is True
    assert configs["paper_b_seg_only"].model_kwargs["backbone"] == "resnet18"
    assert len({c.preset_overrides["image_size"] for c in configs.values()}) > 1
    full = run_config(PAPER_B_RUNS[0], scale="full", epochs=None, image_size=None, device="cpu", seed=0)
    assert full.architecture == "maskrcnn_line" and full.max_minutes is None


@pytest.mark.slow
def test_one_paper_alone(tmp_path: Path) -> None:
    snap = build_snapshot(tmp_path / "snap", n_patients=10, size=(48, 56))
    printed: list[str] = []
    result = reproduce(snap, tmp_path / "out", paper="a", scale="smoke", device="cpu", echo=printed.append)
    assert result.ok and set(result.runs) == {run.name for run in PAPER_A_RUNS}
    assert not (tmp_path / "out" / "paper_b.md").exists() and "Paper B" not in "\n".join(printed)
