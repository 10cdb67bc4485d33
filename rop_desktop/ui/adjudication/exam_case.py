"""One exam for the adjudicator: its images as a strip, the chosen one on a read-only canvas, every
grader's confirmed eye-level grade with its treatment badge, and why the votes did not settle.

The strip is the grader's exam strip (``ui.exams.strip``); a click on a thumbnail shows that
image on the canvas (decoded off the UI thread by an :class:`~rop_desktop.workers.image_loader.
ImageLoader`; ``imageShown(image_id)`` once its pixels are on screen). The first image of the exam
is shown when a case opens. Nothing here edits anything: the decision is the window's right column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from rop_desktop.ui.canvas import ImageCanvas
from rop_desktop.ui.display_bar import DisplayBar
from rop_desktop.ui.exams.strip import ExamStrip
from rop_desktop.workers.image_loader import ImageLoader

from .exam_queue import exam_title
from .exam_votes import ExamVotesTable

if TYPE_CHECKING:
    from rop_desktop.services.exam_reference import ExamCase


def _muted(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet("color: #aab3bd;")
    return label


def outcome_text(case: ExamCase) -> str:
    """The vote's outcome in words: how it was settled, or why it was not."""
    n = len(case.votes)
    votes = f"{n} confirmed eye-level grade{'s' if n != 1 else ''}"
    if case.outcome.settled:
        return f"{votes}: settled by the votes ({case.outcome.method})."
    reasons = "; ".join(case.outcome.reasons) or "no reason given"
    return f"{votes}, not settled: {reasons}."


class ExamCaseView(QWidget):
    """See the module docstring. ``load_image(image_id)`` decodes an image (worker thread)."""

    imageShown = Signal(int)

    def __init__(self, load_image: Callable[[int], Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.case: ExamCase | None = None
        self.current: int | None = None  #: the image chosen in the strip
        self.shown: int | None = None  #: the image whose pixels are on the canvas
        self.loader = ImageLoader(load_image, parent=self)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_failed)
        self.header = QLabel("Pick an exam in the queue.")
        self.header.setStyleSheet("font-weight: bold; padding: 2px 6px;")
        self.header.setMinimumWidth(1)
        self.strip = ExamStrip()
        self.strip.imageChosen.connect(self.show_image)
        self.display_bar = DisplayBar()
        self.canvas = ImageCanvas()
        self.canvas.setObjectName("canvas")
        self.canvas.set_tool("pan")  # read-only: the adjudicator looks, the graders outlined
        self.display_bar.settingsChanged.connect(self.canvas.set_display_settings)
        self.votes = ExamVotesTable()
        self.outcome = _muted()
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(2)
        for widget in (self.header, self.strip, self.display_bar):
            top_layout.addWidget(widget)
        top_layout.addWidget(self.canvas, 1)
        below = QWidget()
        below_layout = QVBoxLayout(below)
        below_layout.setContentsMargins(4, 4, 4, 4)
        caption = QLabel("Eye-level grades")
        caption.setStyleSheet("font-weight: bold;")
        for part in (caption, self.votes, self.outcome):
            below_layout.addWidget(part)
        below_layout.addStretch(1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(below)
        splitter.setStretchFactor(0, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def set_case(self, case: ExamCase) -> None:
        """Show ``case``; the image on screen stays when the case is the same exam (a reload)."""
        same = self.case is not None and (self.case.exam_id, self.case.eye) == (case.exam_id, case.eye)
        self.case = case
        n = len(case.image_ids)
        self.header.setText(f"{exam_title(case)} · {n} image{'s' if n != 1 else ''} of this eye at this visit")
        keep = self.current if same and self.current in case.image_ids else None
        self.strip.set_images(case.images, keep)
        self.votes.set_votes(case.votes, case.outcome)
        self.outcome.setText(outcome_text(case))
        if keep is None and case.image_ids:
            self.show_image(case.image_ids[0])
        elif keep is not None and self.shown == keep:
            self.imageShown.emit(keep)  # a reload of the exam on screen: it is shown already

    def show_image(self, image_id: int) -> None:
        """Put the exam's image ``image_id`` on the canvas (decoded in the background)."""
        self.current = image_id
        self.strip.mark_current(image_id)
        self.loader.request(image_id)

    def _on_loaded(self, image_id: int, data: Any) -> None:
        if image_id != self.current:
            return
        self.canvas.set_image(data.rgb, (), data.fov)
        self.shown = image_id
        self.imageShown.emit(image_id)

    def _on_failed(self, image_id: int, message: str) -> None:
        if image_id == self.current:
            self.canvas.clear()
            self.shown = None
            self.header.setText(f"{self.header.text()} — {message}")
            self.imageShown.emit(image_id)

    def shutdown(self) -> None:
        """Stop the decoding thread."""
        self.loader.shutdown()
