"""training.reproduce at smoke scale: both papers' pipelines end to end on a tiny synthetic snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.events import Finished
from training.reproduce import PAPER_A_RUNS, PAPER_B_RUNS, reproduce

from .conftest import build_snapshot


@pytest.mark.slow
def test_smoke_reproduce_prints_both_tables(tmp_path: Path) -> None:
    snap = build_snapshot(tmp_path / "snap", n_patients=12, stages=("0", "1", "2", "3"), size=(72, 80))
    printed: list[str] = []
    result = reproduce(snap, tmp_path / "out", scale="smoke", device="cpu", echo=printed.append)
    assert result.ok, {k: v for k, v in result.runs.items() if not isinstance(v, Finished)}
    assert set(result.runs) == {name for name, *_ in PAPER_A_RUNS + PAPER_B_RUNS}
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
