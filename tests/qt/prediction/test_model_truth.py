"""What the window says about a model: each figure with its 95 % interval in a Models table that
fits the side panel at 1366x768; one operating threshold, chosen on validation data and labelled
so, in the Model tab, the worklist's P(ROP) column and the agreement dashboard; and empty outputs
(no line found, a flat Grad-CAM map, nothing to outline) said in words (issue 17, items 4, 6-8)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt

from rop_desktop.services.demo_study import DEMO_ADJUDICATOR
from rop_desktop.services.predictions import PredictionService
from rop_desktop.ui.agreement import AgreementDashboard, compute_dashboard
from training.bundle import ModelCard, save_bundle
from training.models import create_model
from training.presets import get_preset

SOURCE = (
    "validation split (60 images, 18 ROP), tolerance rule: sensitivity 0.95 of all ROP images with 0.9 "
    "confidence (binormal lower bound, k 2.22); set by the tolerance bound"
)
TEST_METRICS = {
    "split": "test",
    "n": 62,
    "threshold": 0.31,
    "sensitivity": 0.947,
    "specificity": 0.953,
    "accuracy": 0.952,
    "precision": 0.9,
    "f1": 0.923,
    "auroc": 0.973,
    "ci95": {
        "sensitivity": [0.81, 1.0],
        "specificity": [0.9, 1.0],
        "accuracy": [0.9, 0.99],
        "precision": [0.75, 1.0],
        "f1": [0.83, 0.98],
        "auroc": [0.92, 1.0],
    },
    "ci_method": "95% CI: patient-level bootstrap, 16 patients, 2000 resamples, seed 0",
    "threshold_source": SOURCE,
}


def _binary_bundle(folder: Path, *, threshold: float, metrics: dict, saturated: bool = False) -> Path:
    torch.manual_seed(0)
    model = create_model("tiny_cnn", num_classes=1, in_channels=3, pretrained=False)
    if saturated:  # a constant, huge logit: P(ROP) 1.0 and no gradient for Grad-CAM
        with torch.no_grad():
            model.fc.weight.zero_()
            model.fc.bias.fill_(30.0)
    card = ModelCard.for_model(
        model,
        "screening ROP",
        classes=["no ROP", "ROP"],
        threshold=threshold,
        preset=get_preset("fast", image_size=48).to_dict(),
        config={"task": "binary"},
        metrics=metrics,
    )
    return save_bundle(folder, model, card)


@pytest.fixture(scope="module")
def truth_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("truth")
    line = create_model("tiny_unet", num_classes=1, in_channels=3, pretrained=False)
    with torch.no_grad():  # sees no line anywhere
        line.head.weight.zero_()
        line.head.bias.fill_(-8.0)
    blank = ModelCard.for_model(
        line,
        "blank line",
        classes=["line"],
        threshold=0.5,
        config={"task": "segmentation"},
        preset=get_preset("segmentation", image_size=48).to_dict(),
    )
    return {
        "figures": _binary_bundle(root / "figures", threshold=0.31, metrics=TEST_METRICS),
        "saturated": _binary_bundle(
            root / "saturated",
            threshold=0.99999,
            saturated=True,
            metrics={
                "threshold_source": "validation split (30 images, 9 ROP), the "
                "highest threshold reaching sensitivity 0.95"
            },
        ),
        "blank_line": save_bundle(root / "blank_line", line, blank),
    }


def _cut(table) -> int:
    """How many pixels of the visible columns do not fit the table's viewport."""
    used = sum(table.columnWidth(c) for c in range(table.columnCount()) if not table.isColumnHidden(c))
    return max(0, used - table.viewport().width())


def test_models_tab_shows_each_figure_with_its_interval_uncut_at_1366x768(
    qtbot, open_window, bundles, truth_bundles
) -> None:
    mw = open_window(DEMO_ADJUDICATOR)
    mw.window.resize(1366, 768)
    mw.register(bundles["segmentation"], activate=False)
    version = mw.register(truth_bundles["figures"], activate=False)
    panel = mw.controller.versions_panel
    mw.tab(panel)
    mw.controller.versions.refresh()
    qtbot.mouseClick(
        panel.table.viewport(),
        Qt.MouseButton.LeftButton,
        pos=panel.table.visualRect(panel.table.model().index(0, 2)).center(),
    )
    assert panel.selected_id() == version.id
    qtbot.waitUntil(lambda: panel.figures.isVisible())
    assert panel.width() < 420  # the side panel at its default width
    assert panel.table.item(0, 3).text() == "AUROC 0.97"
    assert "Sensitivity 0.95 (95 % CI 0.81–1.00)" in panel.table.item(0, 3).toolTip()
    shown = [[panel.figures.item(r, c).text() for c in range(3)] for r in range(panel.figures.rowCount())]
    assert shown[:3] == [
        ["AUROC", "0.97", "0.92–1.00"],
        ["Sensitivity", "0.95", "0.81–1.00"],
        ["Specificity", "0.95", "0.90–1.00"],
    ]
    text = panel.threshold_label.text()
    assert text.startswith("On 62 test images; 95% CI: patient-level bootstrap, 16 patients")
    assert f"Operating threshold 0.31 (chosen on the {SOURCE})." in text
    for table in (panel.table, panel.figures):
        assert _cut(table) == 0 and table.horizontalScrollBar().maximum() == 0
    assert panel.figures.verticalScrollBar().maximum() == 0  # every figure in sight, no inner scrolling
    panel.select(None)
    assert not panel.figures.isVisible() and not panel.threshold_label.text()


def test_one_operating_threshold_in_the_model_tab_the_worklist_and_the_dashboard(
    qtbot, open_window, truth_bundles
) -> None:
    mw = open_window(DEMO_ADJUDICATOR)
    mw.register(truth_bundles["figures"], activate=True)
    for _progress in PredictionService(mw.store, mw.admin, device="cpu").predict_all():
        pass
    mw.controller.refresh_worklist_scores()  # as after a batch prediction in the window
    mw.start()
    qtbot.waitUntil(
        lambda: mw.controller.result is not None and "binary" in mw.controller.result.outputs, timeout=60_000
    )
    label = f"operating threshold 0.31 (chosen on the {SOURCE})"
    binary = mw.controller.result.outputs["binary"]
    assert binary.threshold == pytest.approx(0.31) and mw.panel.rop_bar.threshold() == pytest.approx(0.31)
    assert mw.panel.threshold_label.text() == "O" + label[1:] + "."
    assert f"{binary.probability:.2f} {'≥' if binary.positive else '<'} 0.31 →" in mw.panel.rop_label.text()

    proxy = mw.controller.worklist_columns
    p_col = mw.window.worklist.model.columnCount()
    assert proxy.threshold() == pytest.approx(0.31)
    assert label in proxy.headerData(p_col, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    row = mw.window.worklist.model.row_of(mw.workspace.shown)
    assert proxy.index(row, p_col).data(Qt.ItemDataRole.ToolTipRole).endswith(f"({label})")

    view = AgreementDashboard(lambda t: compute_dashboard(mw.study, mw.actor, t), title="truth")
    qtbot.addWidget(view)
    assert view.threshold.text() == "model's own"
    with qtbot.waitSignal(view.reportShown, timeout=120_000) as shown:
        view.refresh()
    assert shown.args[0].threshold == pytest.approx(0.31)
    assert f"at the {label}." in view.model_label.text()
    figures = {
        view.model_figures.item(r, 0).text(): [view.model_figures.item(r, c).text() for c in (1, 2)]
        for r in range(view.model_figures.rowCount())
    }
    assert {"Sensitivity", "Specificity", "Accuracy", "Mean error reduction vs the graders"} <= set(figures)
    assert figures["Accuracy"][0].endswith("%") and " – " in figures["Accuracy"][1]  # with its interval
    view.threshold.setValue(0.4)
    with qtbot.waitSignal(view.reportShown, timeout=120_000) as shown:
        view.refresh()
    assert shown.args[0].threshold == pytest.approx(0.4)
    assert "threshold 0.40 (set by hand, not the model's operating threshold)" in view.model_label.text()
    view.close()


def test_empty_outputs_are_said_in_words(qtbot, open_window, truth_bundles) -> None:
    mw = open_window(DEMO_ADJUDICATOR)
    mw.register(truth_bundles["saturated"], activate=True)
    mw.register(truth_bundles["blank_line"], activate=True)
    mw.start()
    qtbot.waitUntil(lambda: mw.controller.result is not None and len(mw.controller.result.outputs) == 2, timeout=60_000)
    mw.tab(mw.panel)
    note = mw.panel.overlay_note.text()
    assert "Line mask: the model found no line on this image." in note
    assert "Saliency is flat (model output saturated)" in note
    assert "output saturated), so it calls ROP only at P(ROP) ≥ 1.0000" in mw.panel.threshold_label.text()
    assert mw.panel.threshold_label.text().startswith("Operating threshold 1.00 (chosen on the validation split")
    qtbot.mouseClick(mw.panel.propose_button, Qt.MouseButton.LeftButton)
    assert mw.panel.proposals() == []
    assert mw.panel.status.text() == "The model found no line to outline on this image."
