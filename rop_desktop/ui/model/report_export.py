"""Show, print and rasterise evaluation reports; the Models tab's "Report…" button.

Qt's rich-text engine renders the report's tables and ``data:`` PNG images but not inline SVG:
:func:`report_document` rasterises each ``<svg>`` chart with QtSvg and puts it in as an image
resource, so the PDF (``QPrinter``, PdfFormat) and the PNG (``drawContents`` on a ``QImage``) show
the same charts as a browser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QRectF, QSizeF, QUrl
from PySide6.QtGui import QDesktopServices, QImage, QPageSize, QPainter, QTextDocument
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

from rop_desktop.workers.runner import GeneratorWorker

_SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


class ReportExportError(ValueError):
    """The report could not be rendered or written; the message says why."""


def report_document(html: str, width: float = 900.0) -> QTextDocument:
    """A QTextDocument of the report, its SVG charts replaced by rendered images, ``width`` px wide."""
    doc = QTextDocument()
    images: list[QImage] = []

    def replace(match: re.Match[str]) -> str:
        renderer = QSvgRenderer(QByteArray(match.group(0).encode("utf-8")))
        if not renderer.isValid():
            raise ReportExportError(f"chart {len(images) + 1} of the report is not valid SVG")
        size = renderer.defaultSize()
        image = QImage(size, QImage.Format.Format_ARGB32)
        image.fill(0xFFFFFFFF)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        images.append(image)
        return f'<img src="chart{len(images)}.png" width="{size.width()}" height="{size.height()}"/>'

    text = _SVG.sub(replace, html)
    for k, image in enumerate(images, 1):
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(f"chart{k}.png"), image)
    doc.setHtml(text)
    doc.setTextWidth(width)
    return doc


def render_png(html: str, path: str | Path, width: int = 900) -> QImage:
    """Render the report to a PNG of ``width`` px (height: the whole document); returns the image."""
    doc = report_document(html, width)
    image = QImage(width, max(1, int(doc.size().height()) + 1), QImage.Format.Format_RGB32)
    image.fill(0xFFFFFFFF)
    painter = QPainter(image)
    doc.drawContents(painter, QRectF(0, 0, image.width(), image.height()))
    painter.end()
    if not image.save(str(path), "PNG"):
        raise ReportExportError(f"{path}: the PNG could not be written")
    return image


def write_pdf(html: str, path: str | Path) -> Path:
    """Print the report to an A4 PDF with Qt's printing (no printer needed)."""
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    printer.setOutputFileName(str(path))
    doc = report_document(html)
    doc.setPageSize(QSizeF(printer.pageRect(QPrinter.Unit.DevicePixel).size()))
    doc.print_(printer)
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        raise ReportExportError(f"{path}: the PDF could not be written")
    return Path(path)


def add_report_button(controller: Any, *, make_report: Callable[[int], Path] | None = None) -> QPushButton:
    """Add "Report…" to the Models tab of ``controller`` (a ModelController) and wire it.

    A click writes the selected version's report (HTML in the study's ``cache/reports/``, and a PDF
    beside it), then opens the HTML with the system's browser via ``controller.open_url`` when set.
    ``make_report`` (version id → HTML path) defaults to :class:`ReportService`.
    """
    from rop_desktop.services.reports import ReportService

    panel: QWidget = controller.versions_panel
    service = ReportService(controller.study, controller.grading.actor)
    build = make_report or (lambda version_id: service.write(version_id).html)
    button = QPushButton("Report…")
    button.setObjectName("reportButton")
    button.setToolTip("Evaluate the selected version on the reference standard and write an HTML/PDF report")

    def built(result: Any) -> None:  # UI thread: the PDF (Qt printing) and opening the report
        button.setEnabled(True)
        button.setText("Report…")
        html_path = Path(result)
        try:
            write_pdf(html_path.read_text(encoding="utf-8"), html_path.with_suffix(".pdf"))
        except Exception as exc:  # noqa: BLE001 - shown to the user, never raised in the event loop
            QMessageBox.warning(panel, "ROP Desktop", f"The PDF could not be written: {exc}")
        controller.last_report = html_path
        open_url: Callable[[QUrl], Any] = getattr(controller, "open_url", QDesktopServices.openUrl)
        open_url(QUrl.fromLocalFile(str(html_path)))

    def failed(exc: BaseException) -> None:
        button.setEnabled(True)
        button.setText("Report…")
        QMessageBox.warning(panel, "ROP Desktop", f"The report could not be made: {exc}")

    def on_click() -> None:
        version_id = panel.selected_id() if hasattr(panel, "selected_id") else None
        if version_id is None:
            QMessageBox.information(panel, "ROP Desktop", "Select a model version first.")
            return

        def work() -> Iterator[None]:  # worker thread: export, evaluate, write HTML (never the UI thread)
            return build(version_id)
            yield  # noqa: B901 - a generator for GeneratorWorker, with nothing to report on the way

        worker = GeneratorWorker(work, parent=panel)
        worker.returned.connect(built)
        worker.errored.connect(failed)
        controller.report_worker = worker
        button.setEnabled(False)
        button.setText("Report … (working)")
        worker.start()

    button.clicked.connect(on_click)
    layout = panel.layout()
    if layout is None:
        raise ReportExportError("the Models tab has no layout to add the Report button to")
    layout.addWidget(button)
    return button

