"""HTML evaluation report: tables, curves, examples with saliency, snapshot hash, card; rop-train report."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from training.bundle import read_card
from training.cli import main
from training.evaluate import evaluate_predictor
from training.predictor import Predictor
from training.report import EXAMPLES_TITLE, ReportError, ReportSection, build_report, render_html, svg_curve


def _images(text: str) -> list[np.ndarray]:
    found = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    return [cv2.imdecode(np.frombuffer(base64.b64decode(b), np.uint8), cv2.IMREAD_COLOR) for b in found]


def test_binary_report_holds_tables_curves_examples_hash_and_card(trained: dict[str, Any], tmp_path: Path) -> None:
    snap = trained["snapshot"]
    extra = ReportSection("Agreement", "<p id='agree'>kappa 0.5</p>")
    path, report = build_report(trained["binary"].bundle_dir, snap, tmp_path / "r" / "report.html", examples=3,
                                device="cpu", sections=[extra])
    text = path.read_text(encoding="utf-8")
    assert report.binary is not None and report.n > 0
    for column in ("Precision", "Sensitivity", "Specificity", "Accuracy", "F1", "AUROC"):
        assert f"<th>{column}</th>" in text
    assert f"<td>{report.binary.sensitivity:.3f}</td>" in text
    assert f"<td>{report.binary.tp}</td>" in text  # confusion matrix cell
    assert snap.stored_hash and snap.stored_hash in text
    assert text.count("<svg") == 2 and "ROC (AUROC" in text and "Precision-recall" in text
    assert "Model versus graders" in text  # the snapshot carries graders' answers
    assert "<h2>Agreement</h2>" in text and "id='agree'" in text
    assert "<h2>Model card</h2>" in text and "tiny_cnn" in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # self-contained
    pictures = _images(text)
    assert len(pictures) == 6  # each example: the image and its saliency overlay
    assert all(p is not None and p.std() > 0 for p in pictures)
    assert not np.array_equal(pictures[0], pictures[1])


def test_segmentation_report_shows_dice_and_no_binary_table(trained: dict[str, Any], tmp_path: Path) -> None:
    path, report = build_report(trained["seg"].bundle_dir, trained["snapshot"].root, tmp_path / "seg.html",
                                examples=0, device="cpu")
    text = path.read_text(encoding="utf-8")
    assert report.masks is not None
    assert "<th>Mean Dice</th>" in text and f"<td>{report.masks.mean_dice:.3f}</td>" in text
    assert "paper A" not in text and "<img" not in text


def test_svg_curve_rejects_mismatched_points() -> None:
    with pytest.raises(ReportError, match="as many x as y"):
        svg_curve("ROC", np.zeros(3), np.zeros(2), "x", "y")
    svg = svg_curve("ROC", np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.9, 1.0]), "x", "y", diagonal=True)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "polyline" in svg


def test_cli_report_exit_codes(trained: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.html"
    code = main(["report", "--bundle", trained["binary"].bundle_dir, "--snapshot", str(trained["snapshot"].root),
                 "--out", str(out), "--examples", "1", "--device", "cpu"])
    assert code == 0 and out.is_file() and "report written to" in capsys.readouterr().out
    assert "<th>Sensitivity</th>" in out.read_text(encoding="utf-8")
    code = main(["report", "--bundle", trained["binary"].bundle_dir, "--snapshot", str(trained["snapshot"].root),
                 "--out", str(out), "--examples", "-1", "--device", "cpu"])
    assert code == 2 and "0 or more" in capsys.readouterr().err
    code = main(["report", "--bundle", str(tmp_path / "missing"), "--snapshot", str(trained["snapshot"].root),
                 "--out", str(out)])
    assert code == 2


def test_report_says_where_the_threshold_came_from_and_names_one_snapshot(trained: dict[str, Any],
                                                                         tmp_path: Path) -> None:
    snap = trained["snapshot"]
    path, report = build_report(trained["binary"].bundle_dir, snap, tmp_path / "r.html", examples=2, device="cpu")
    text = path.read_text(encoding="utf-8")
    card = read_card(trained["binary"].bundle_dir)
    n_val = card.metrics["validation"]["n"]
    assert f"chosen on the validation split ({n_val} images, " in text  # "…, N ROP), tolerance rule: …"
    assert f"applied to the {report.n} test images" in text and n_val != report.n
    assert f"<h2>{EXAMPLES_TITLE}</h2>" in text and "Mistakes first" in text
    assert text.count(snap.stored_hash) == 1  # trained and evaluated on the same snapshot: named once
    assert "Confidence intervals" in text and "patient-level bootstrap" in text and "95% CI" in text


def test_one_answer_for_every_image_is_a_warning(trained: dict[str, Any]) -> None:
    predictor = Predictor.from_bundle(trained["binary"].bundle_dir, "cpu")
    report = evaluate_predictor(predictor, trained["snapshot"], "test", threshold=0.0)  # everything is ROP
    assert report.warnings and "predicted 'ROP' for every one" in report.warnings[0]
    assert report.summary()["warnings"] == report.warnings and "WARNING" in report.text()
    html = render_html(report, predictor.card, snapshot_hash=None)
    assert 'class="warning"' in html and "for every one of the" in html
    assert not evaluate_predictor(predictor, trained["snapshot"], "test").warnings
