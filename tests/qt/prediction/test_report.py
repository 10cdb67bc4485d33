"""The "Report…" button of the Models tab: a real report of a tiny model on the demo study, opened,
printed to PDF and rendered to PNG (non-blank, charts drawn); the PDF's pages rendered with pdfium
fill an A4 page in readable type; the notice says where the report went, with "Show in folder"."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pypdfium2 as pdfium
from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QPushButton

from rop_desktop.services.demo_study import DEMO_ADJUDICATOR
from rop_desktop.ui.prediction.report_export import ReportNotice, add_report_button, render_png, write_pdf
from training.report import STYLE, html_table, svg_curve

A4_POINTS = (595, 842)


def pdf_pages(path: Path, scale: float = 2.0) -> list[tuple[tuple[float, float], np.ndarray, float]]:
    """Each page of the PDF as (size in points, RGB pixels at ``scale`` x 72 dpi, median height in
    points of its capital letters and digits)."""
    pages = []
    pdf = pdfium.PdfDocument(str(path))
    try:
        for k in range(len(pdf)):
            page = pdf[k]
            text = page.get_textpage()
            chars = text.get_text_range()
            heights = [text.get_charbox(i)[3] - text.get_charbox(i)[1] for i in range(text.count_chars())
                       if chars[i].isupper() or chars[i].isdigit()]
            pixels = np.asarray(page.render(scale=scale).to_pil().convert("RGB"))
            pages.append((page.get_size(), pixels, float(np.median(heights)) if heights else 0.0))
            text.close()
            page.close()
    finally:
        pdf.close()
    return pages


def ink_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the non-white pixels."""
    ys, xs = np.nonzero((pixels < 230).any(axis=2))
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_report_button_writes_opens_and_renders_the_report(qtbot, open_window, bundles, tmp_path: Path) -> None:
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
    (width, height), first, cap_height = pdf_pages(pdf)[0]
    assert (round(width), round(height)) == A4_POINTS
    left, _top, right, _bottom = ink_box(first)
    assert (right - left) / first.shape[1] >= 0.7 and cap_height >= 5.0
    notice = mw.controller.report_notice  # no browser opened it (the test records the URL): say where it is
    assert notice.isVisible() and str(html_path.parent) in notice.label.text() and pdf.name in notice.label.text()
    qtbot.mouseClick(notice.folder_button, Qt.MouseButton.LeftButton)
    assert opened[-1] == QUrl.fromLocalFile(str(html_path.parent))

    image = render_png(text, tmp_path / "report.png")
    pixels = cv2.imread(str(tmp_path / "report.png"))[..., ::-1]  # the PNG file as written, RGB
    assert pixels.shape[:2] == (image.height(), image.width())
    assert image.height() > 600 and (pixels < 200).any(axis=2).mean() > 0.01  # text, tables, charts
    blue = (pixels[..., 2] > 150) & (pixels[..., 0] < 80)  # the ROC curve's stroke
    assert blue.sum() > 50


def report_html(paragraphs: int) -> str:
    """A report like training.report's: its style, a metadata and a results table, two charts, text."""
    x = np.linspace(0.0, 1.0, 20)
    charts = "".join(f'<span class="chart">{svg_curve(title, x, np.sqrt(x), "false positive rate", "sensitivity")}'
                     "</span>" for title in ("ROC", "Precision-recall"))
    rows = [[f"grader {k}", f"grader {k + 1}", 40 + k, 0.8, 0.7] for k in range(6)]
    text = "".join(f"<p>Paragraph {k}: the graders agreed on most images of the reference standard.</p>"
                   for k in range(paragraphs))
    return (f"<html><head><style>{STYLE}</style></head><body><h1>Evaluation report: tiny ROP</h1>"
            + html_table(["Model", "Task", "Split", "Images", "Dataset snapshot (SHA-256)", "Generated"],
                         [["tiny ROP", "binary", "test", 24, "ab" * 32, "2026-12-05T01:00:00+00:00"]], css="meta")
            + "<h2>Results</h2>" + html_table(["Field", "Grader A", "Grader B", "Images", "% agreement", "kappa"], rows)
            + f"<h2>Curves</h2><p>{charts}</p><h2>Agreement</h2>{text}</body></html>")


def test_the_pdf_fills_a4_pages_in_readable_type(qtbot, tmp_path: Path) -> None:
    path = write_pdf(report_html(paragraphs=60), tmp_path / "r.pdf")
    pages = pdf_pages(path)
    assert len(pages) >= 2  # the long report goes on to a second page, not shrunk onto one
    for (width, height), _pixels, cap_height in pages:
        assert (round(width), round(height)) == A4_POINTS
        assert cap_height >= 5.0  # capitals at least 5 pt high: about 7-pt type or larger (it was 0.5 pt)
    (_, first, _) = pages[0]
    left, top, right, bottom = ink_box(first)
    assert (right - left) / first.shape[1] >= 0.7  # the tables and charts span the page's width
    assert (bottom - top) / first.shape[0] >= 0.7  # and the first page is full before the next begins
    blue = (first[..., 2] > 150) & (first[..., 0] < 80)  # the curves' strokes: the charts are drawn
    assert blue.sum() > 200


def test_the_notice_says_where_the_report_is_and_shows_the_folder(qtbot, tmp_path: Path) -> None:
    opened: list[QUrl] = []
    notice = ReportNotice(opened.append)
    qtbot.addWidget(notice)
    html = tmp_path / "reports" / "model-1.html"
    notice.show_written(html, html.with_suffix(".pdf"), opened=False)
    assert not notice.isHidden()
    assert notice.label.text() == f"No browser opened it. The report is model-1.html and model-1.pdf in {html.parent}"
    qtbot.mouseClick(notice.folder_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(notice.open_button, Qt.MouseButton.LeftButton)
    assert opened == [QUrl.fromLocalFile(str(html.parent)), QUrl.fromLocalFile(str(html))]


def test_without_a_selection_nothing_is_made(qtbot, open_window, monkeypatch) -> None:
    mw = open_window(DEMO_ADJUDICATOR)  # reports evaluate models: adjudicators and admins
    made: list[int] = []
    button = add_report_button(mw.controller, make_report=lambda version_id: made.append(version_id) or Path())
    shown: list[str] = []
    monkeypatch.setattr("rop_desktop.ui.prediction.report_export.QMessageBox.information",
                        lambda parent, title, text: shown.append(text))
    mw.controller.versions_panel.select(None)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert made == [] and shown == ["Select a model version first."]
