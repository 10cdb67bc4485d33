"""The "Report…" button of the Models tab: a real report of a tiny model on the demo study, opened,
printed to PDF and rendered to PNG (non-blank, charts drawn)."""

from __future__ import annotations

from pathlib import Path

import cv2
from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QPushButton

from rop_desktop.services.demo_study import DEMO_ADJUDICATOR
from rop_desktop.ui.model.report_export import add_report_button, render_png, write_pdf


def test_report_button_writes_opens_and_renders_the_report(qtbot, open_window, bundles, tmp_path: Path) -> None:  # noqa: ANN001
    mw = open_window(DEMO_ADJUDICATOR)  # reports evaluate models: adjudicators and admins
    version = mw.register(bundles["binary"], activate=False)
    mw.controller.versions.refresh()
    opened: list[QUrl] = []
    mw.controller.open_url = opened.append
    button = mw.controller.versions_panel.findChild(QPushButton, "reportButton")  # installed with the tab
    mw.tab(mw.controller.versions_panel)
    mw.controller.versions_panel.select(version.id)

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not button.isEnabled()  # the report is built in a worker thread; the window stays live
    qtbot.waitUntil(lambda: getattr(mw.controller, "last_report", None) is not None, timeout=120_000)

    html_path = Path(mw.controller.last_report)
    assert opened == [QUrl.fromLocalFile(str(html_path))]
    assert html_path.parent == mw.study.cache_path("reports") and html_path.suffix == ".html"
    text = html_path.read_text(encoding="utf-8")
    assert "<th>Sensitivity</th>" in text and "<h2>Agreement between graders</h2>" in text
    assert "Fleiss&#x27; kappa" in text and "<h2>Model card</h2>" in text and "tiny ROP" in text
    pdf = html_path.with_suffix(".pdf")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5_000

    image = render_png(text, tmp_path / "report.png")
    pixels = cv2.imread(str(tmp_path / "report.png"))[..., ::-1]  # the PNG file as written, RGB
    assert pixels.shape[:2] == (image.height(), image.width())
    assert image.height() > 600 and (pixels < 200).any(axis=2).mean() > 0.01  # text, tables, charts
    blue = (pixels[..., 2] > 150) & (pixels[..., 0] < 80)  # the ROC curve's stroke
    assert blue.sum() > 50


def test_pdf_of_a_plain_report(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    path = write_pdf("<h1>Report</h1><table border=1><tr><th>a</th></tr><tr><td>1</td></tr></table>",
                     tmp_path / "r.pdf")
    assert path.read_bytes().startswith(b"%PDF")


def test_without_a_selection_nothing_is_made(qtbot, open_window, monkeypatch) -> None:  # noqa: ANN001
    mw = open_window(DEMO_ADJUDICATOR)  # reports evaluate models: adjudicators and admins
    made: list[int] = []
    button = add_report_button(mw.controller, make_report=lambda version_id: made.append(version_id) or Path())
    shown: list[str] = []
    monkeypatch.setattr("rop_desktop.ui.model.report_export.QMessageBox.information",
                        lambda parent, title, text: shown.append(text))
    mw.controller.versions_panel.select(None)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert made == [] and shown == ["Select a model version first."]
