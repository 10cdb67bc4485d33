"""Show, print and rasterise evaluation reports; the Models tab's "Report…" button.

Qt's rich-text engine renders the report's tables and ``data:`` PNG images but not inline SVG:
:func:`report_document` rasterises each ``<svg>`` chart with QtSvg and puts it in as an image
resource, so the PDF (``QPrinter``, PdfFormat) and the PNG (``drawContents`` on a ``QImage``) show
the same charts as a browser.

The PDF is laid out :data:`PDF_LAYOUT_WIDTH` CSS pixels wide and scaled onto the A4 page, page by
page: laid out at the printer's 1200 dpi instead, the report filled a quarter of one page in
unreadable type (issue 17). After a report is written, :class:`ReportNotice` says where the HTML
and the PDF are, with "Show in folder", because a workstation may have no browser to open it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QMarginsF, QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QFont, QImage, QPageLayout, QPageSize, QPainter, QTextDocument
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget

from rop_desktop.workers.runner import GeneratorWorker

_SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)
#: Width of the PDF's text column in the report's CSS pixels: about what a browser prints on A4,
#: so the 280-px charts sit three to a row and 10-pt text prints at about 9 pt.
PDF_LAYOUT_WIDTH = 760.0
#: Page margins of the PDF, millimetres.
PDF_MARGIN_MM = 12.0
#: Body text size of the PDF, points (before the scaling onto the page).
PDF_FONT_PT = 10


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
    if not image.save(str(path), "PNG"):  # type: ignore[call-overload]  # PySide6 takes a str; its stub says bytes
        raise ReportExportError(f"{path}: the PNG could not be written")
    return image


def write_pdf(html: str, path: str | Path) -> Path:
    """Print the report to an A4 PDF with Qt's printing (no printer needed), as many pages as it takes.

    The document is laid out :data:`PDF_LAYOUT_WIDTH` px wide and paginated at the page's aspect
    ratio; each page is scaled onto the printable area, so tables, charts and text fill the width.
    """
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    printer.setPageMargins(QMarginsF(*[PDF_MARGIN_MM] * 4), QPageLayout.Unit.Millimeter)
    printer.setOutputFileName(str(path))
    area = printer.pageRect(QPrinter.Unit.DevicePixel)  # the printable area, printer pixels
    scale = area.width() / PDF_LAYOUT_WIDTH
    doc = report_document(html, PDF_LAYOUT_WIDTH)
    font = QFont(doc.defaultFont())
    font.setPointSize(PDF_FONT_PT)
    doc.setDefaultFont(font)
    page = QSizeF(PDF_LAYOUT_WIDTH, area.height() / scale)
    doc.setPageSize(page)  # paginates: lines and images are not cut at a page's edge
    painter = QPainter()
    if not painter.begin(printer):
        raise ReportExportError(f"{path}: the PDF could not be written (is the folder writable?)")
    try:
        for k in range(doc.pageCount()):
            if k:
                printer.newPage()
            painter.save()
            painter.scale(scale, scale)
            painter.translate(0, -k * page.height())
            doc.drawContents(painter, QRectF(0, k * page.height(), page.width(), page.height()))
            painter.restore()
    finally:
        painter.end()
    if not Path(path).is_file() or Path(path).stat().st_size == 0:
        raise ReportExportError(f"{path}: the PDF could not be written")
    return Path(path)


class ReportNotice(QWidget):
    """Under the Report button: where the last report went, "Open report" and "Show in folder".

    Said whether or not a browser opened the report: on a workstation without one, nothing else
    would tell the user where to find it. ``open_url`` opens a file or folder (default
    ``QDesktopServices.openUrl``; tests record the URLs instead)."""

    def __init__(self, open_url: Callable[[QUrl], Any] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reportNotice")
        self._open_url = open_url or QDesktopServices.openUrl
        self.html: Path | None = None
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open report")
        self.folder_button = QPushButton("Show in folder")
        self.folder_button.setToolTip("Open the folder that holds the report's HTML and PDF")
        self.open_button.clicked.connect(lambda: self.html and self._open_url(QUrl.fromLocalFile(str(self.html))))
        self.folder_button.clicked.connect(
            lambda: self.html and self._open_url(QUrl.fromLocalFile(str(self.html.parent)))
        )
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.folder_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addLayout(buttons)
        self.hide()

    def show_written(self, html: Path, pdf: Path | None, *, opened: bool) -> None:
        """Say where the report is; ``opened``: a browser accepted the HTML."""
        self.html = html
        files = f"{html.name}" + (f" and {pdf.name}" if pdf is not None else " (the PDF could not be written)")
        where = "Opened in your browser" if opened else "No browser opened it"
        self.label.setText(f"{where}. The report is {files} in {html.parent}")
        self.label.setToolTip(str(html))
        self.show()


def add_report_button(controller: Any, *, make_report: Callable[[int], Path] | None = None) -> QPushButton:
    """Add "Report…" to the Models tab of ``controller`` (a ModelController) and wire it.

    A click writes the selected version's report (HTML in the study's ``cache/reports/``, and a PDF
    beside it), then opens the HTML with the system's browser via ``controller.open_url`` when set.
    ``make_report`` (version id → HTML path) defaults to :class:`ReportService`.
    """
    panel: QWidget = controller.versions_panel

    def write_report(version_id: int) -> Path:
        # imported in the worker thread on the first click: the evaluation loads torch (~2 s),
        # which neither the window's start nor its event loop should wait for (issue 17)
        from rop_desktop.services.reports import ReportService

        return ReportService(controller.study, controller.grading.actor).write(version_id).html

    build = make_report or write_report
    button = QPushButton("Report…")
    button.setObjectName("reportButton")
    button.setToolTip("Evaluate the selected version on the reference standard and write an HTML/PDF report")
    notice = ReportNotice(lambda url: getattr(controller, "open_url", QDesktopServices.openUrl)(url))

    def built(result: Any) -> None:  # UI thread: the PDF (Qt printing) and opening the report
        button.setEnabled(True)
        button.setText("Report…")
        html_path = Path(result)
        pdf: Path | None = None
        try:
            pdf = write_pdf(html_path.read_text(encoding="utf-8"), html_path.with_suffix(".pdf"))
        except Exception as exc:  # noqa: BLE001 - shown to the user, never raised in the event loop
            QMessageBox.warning(panel, "ROP Desktop", f"The PDF could not be written: {exc}")
        controller.last_report = html_path
        open_url: Callable[[QUrl], Any] = getattr(controller, "open_url", QDesktopServices.openUrl)
        notice.show_written(html_path, pdf, opened=bool(open_url(QUrl.fromLocalFile(str(html_path)))))

    def failed(exc: BaseException) -> None:
        button.setEnabled(True)
        button.setText("Report…")
        QMessageBox.warning(panel, "ROP Desktop", f"The report could not be made: {exc}")

    def on_click() -> None:
        version_id = panel.selected_id() if hasattr(panel, "selected_id") else None
        if version_id is None:
            QMessageBox.information(panel, "ROP Desktop", "Select a model version first.")
            return

        def work() -> Generator[None, None, Path]:  # worker thread: export, evaluate, write HTML (never the UI thread)
            return build(version_id)
            yield  # a generator for GeneratorWorker, with nothing to report on the way

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
    layout.addWidget(notice)
    controller.report_notice = notice
    return button
