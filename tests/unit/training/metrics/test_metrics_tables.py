"""Paper tables as text and reports written to real JSON / CSV files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from training.metrics import (
    MetricsInputError,
    binary_report,
    instance_ap,
    paper_a_table,
    paper_b_table,
    report_from_confusion,
    save_report,
)

CLASSES = ["stage 1", "stage 2", "stage 3"]
HYBRID = np.array([[25, 6, 2], [7, 22, 5], [3, 10, 20]])  # accuracy 0.67 (see test_metrics_multiclass)


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _binary_rows() -> dict:
    return {
        "ROPBaseCNN": binary_report([1, 1, 1, 0, 0, 0, 0, 1], [0.9, 0.8, 0.4, 0.3, 0.6, 0.1, 0.5, 0.5]),
        "one class": binary_report([1, 1], [0.2, 0.9]),
    }


def test_paper_a_table_columns_and_values() -> None:
    lines = paper_a_table(_binary_rows()).splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == ["Model", "Precision", "Sensitivity", "Specificity", "Accuracy", "F1"]
    assert [c.strip() for c in lines[2].strip("|").split("|")] == ["ROPBaseCNN", "0.60", "0.75", "0.50", "0.62", "0.67"]
    assert "n/a" in lines[3]  # specificity without negative cases
    assert len(lines) == 4


def test_paper_b_table_per_stage_and_accuracy() -> None:
    rows = {"hybrid": report_from_confusion(HYBRID, CLASSES)}
    lines = paper_b_table(rows).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:4] == ["Model", "stage 1 precision", "stage 1 recall", "stage 1 F1"] and header[-1] == "Accuracy"
    values = [c.strip() for c in lines[2].strip("|").split("|")]
    assert values[1:4] == ["0.71", "0.76", "0.74"] and values[-1] == "0.67"
    with pytest.raises(MetricsInputError, match="one class list"):
        paper_b_table({**rows, "other": report_from_confusion(np.eye(2, dtype=int), ["a", "b"])})


def test_save_binary_reports_as_json_and_csv(tmp_path: Path) -> None:
    rows = _binary_rows()
    save_report(rows, tmp_path / "out" / "a.json", tmp_path / "out" / "a.csv")
    data = json.loads((tmp_path / "out" / "a.json").read_text())
    assert data["ROPBaseCNN"]["tp"] == 3 and data["ROPBaseCNN"]["auroc"] == pytest.approx(12.5 / 16)
    assert data["ROPBaseCNN"]["roc"]["thresholds"] == pytest.approx(rows["ROPBaseCNN"].roc.thresholds.tolist())
    assert data["one class"]["roc"] is None and data["one class"]["notes"]
    table = _read_csv(tmp_path / "out" / "a.csv")
    assert table[0] == ["Model", "Precision", "Sensitivity", "Specificity", "Accuracy", "F1"]
    assert table[1][0] == "ROPBaseCNN" and float(table[1][2]) == pytest.approx(0.75)
    assert table[2][3] == ""  # undefined specificity


def test_save_multiclass_and_ap_reports(tmp_path: Path) -> None:
    report = report_from_confusion(HYBRID, CLASSES)
    save_report(report, tmp_path / "b.json", tmp_path / "b.csv", name="hybrid")
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["confusion"] == HYBRID.tolist() and data["classes"] == CLASSES
    table = _read_csv(tmp_path / "b.csv")
    assert table[1][0] == "hybrid" and float(table[1][-1]) == pytest.approx(0.67)

    mask = np.zeros((8, 8), bool)
    mask[2:5, 2:5] = True
    ap = instance_ap([[(mask, 0.9)]], [[mask]])
    save_report(ap, tmp_path / "ap.json", tmp_path / "ap.csv")
    assert json.loads((tmp_path / "ap.json").read_text())["ap"] == pytest.approx(1.0)
    curve = _read_csv(tmp_path / "ap.csv")
    assert curve[0] == ["Recall", "Precision"] and len(curve) == 102


def test_save_refuses_a_table_it_cannot_write_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(MetricsInputError, match="no CSV table"):
        save_report({"x": binary_report([0, 1], [0.1, 0.9]).roc}, tmp_path / "x.json", tmp_path / "x.csv")
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(MetricsInputError, match="needs a report or a non-empty mapping"):
        save_report({"a": 1}, tmp_path / "y.json")  # type: ignore[dict-item]
