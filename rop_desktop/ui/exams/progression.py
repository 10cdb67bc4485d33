"""The progression view: every visit of a patient's eyes in date order, two of them side by side.

The table lists each eye's visits (stage, zone, plus, treatment class, what got worse since the
visit before — worse rows are marked). Any two visits open side by side (*Left* / *Right*), each on
its own canvas with its landmarks and zone rings; zoom and pan are linked (:class:`LinkedViews`):
aligned by the disc and fovea when both images have them (scale, position — the small rotation
between visits is not turned), else by the images' centres and widths, and the window says which.

Views only: the window emits ``sideRequested(side, image_id)`` and the host answers with
:meth:`ProgressionWindow.show_side` once the image is decoded (off the UI thread).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rop_desktop.domain.zones import Landmarks, Similarity, ZoneRefused, alignment
from rop_desktop.ui.canvas import ImageCanvas
from rop_desktop.ui.tables import row_picker_table

from .badge import CLASS_COLORS, badge_text

if TYPE_CHECKING:  # the window only shows what the service computed
    from rop_desktop.services.exams import Progression, VisitRow

SIDES = ("left", "right")
COLUMNS = ("Eye", "Date", "PMA", "Stage", "Zone", "Plus", "Class", "Worse since the visit before")


class LinkedViews:
    """Keeps two canvases on the same anatomy: what one shows (zoom, centre) the other follows,
    through ``transform`` (image A's pixels → image B's)."""

    def __init__(self, a: ImageCanvas, b: ImageCanvas) -> None:
        self.a, self.b = a, b
        self.transform = Similarity()
        self.enabled = True
        self._syncing = False
        for source, target in ((a, b), (b, a)):
            source.zoomChanged.connect(lambda _z, s=source, t=target: self.follow(s, t))
            source.horizontalScrollBar().valueChanged.connect(lambda _v, s=source, t=target: self.follow(s, t))
            source.verticalScrollBar().valueChanged.connect(lambda _v, s=source, t=target: self.follow(s, t))

    def set_transform(self, transform: Similarity) -> None:
        self.transform = transform
        self.follow(self.a, self.b)

    def follow(self, source: ImageCanvas, target: ImageCanvas) -> None:
        """Show on ``target`` what ``source`` shows."""
        if self._syncing or not self.enabled or source.image_size() is None or target.image_size() is None:
            return
        t = self.transform if source is self.a else self.transform.inverse()
        self._syncing = True
        try:
            target.set_view(source.zoom() / t.scale, t.map(source.view_centre()))
        finally:
            self._syncing = False


class ProgressionWindow(QWidget):
    """See the module docstring."""

    sideRequested = Signal(str, int)  # "left" | "right", image id
    sideShown = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("ProgressionWindow")
        self.resize(1300, 760)
        self.visits: list[VisitRow] = []  # table order
        self._eyes: list[str] = []
        self._landmarks: dict[str, Landmarks | None] = {"left": None, "right": None}
        self._images: dict[str, int | None] = {"left": None, "right": None}
        self.header = QLabel("", self)
        font = self.header.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.header.setFont(font)
        self.table = row_picker_table(COLUMNS, self)
        self.table.setMaximumHeight(190)
        self.combos = {side: QComboBox(self) for side in SIDES}
        self.canvases = {side: ImageCanvas(self) for side in SIDES}
        self.captions = {side: QLabel("", self) for side in SIDES}
        for side, canvas in self.canvases.items():
            canvas.setObjectName(f"progression_{side}")
            canvas.set_tool("pan")
            canvas.setMinimumSize(300, 260)
        self.linked = LinkedViews(self.canvases["left"], self.canvases["right"])
        self.link_check = QCheckBox("Link zoom and pan", self)
        self.link_check.setChecked(True)
        self.alignment_label = QLabel("", self)
        self._build()
        for side in SIDES:
            self.combos[side].currentIndexChanged.connect(lambda _i, s=side: self._request(s))
        self.link_check.toggled.connect(self._link_toggled)
        self.table.cellDoubleClicked.connect(self._row_to_right)

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.table)
        bar = QHBoxLayout()
        for side in SIDES:
            bar.addWidget(QLabel(f"{side.capitalize()}:", self))
            bar.addWidget(self.combos[side], 1)
        bar.addWidget(self.link_check)
        layout.addLayout(bar)
        layout.addWidget(self.alignment_label)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        for side in SIDES:
            pane = QWidget(splitter)
            grid = QGridLayout(pane)
            grid.setContentsMargins(0, 0, 0, 0)
            grid.addWidget(self.captions[side], 0, 0)
            grid.addWidget(self.canvases[side], 1, 0)
            grid.setRowStretch(1, 1)
            splitter.addWidget(pane)
        layout.addWidget(splitter, 1)

    # ------------------------------------------------------------------ content
    def set_progression(self, progression: Progression, current_image: int | None = None) -> None:
        """Show a ``services.exams.Progression``: the table, and by default the eye of
        ``current_image`` — its visit before on the left and its visit on the right."""
        self.header.setText(f"Progression — {progression.patient}")
        self.setWindowTitle(f"Progression — {progression.patient}")
        self.visits = [v for eye in sorted(progression.eyes, key=lambda e: e.value) for v in progression.eyes[eye]]
        self.table.setRowCount(len(self.visits))
        for row, visit in enumerate(self.visits):
            self._fill_row(row, visit)
        for side in SIDES:
            combo = self.combos[side]
            combo.blockSignals(True)
            combo.clear()
            for visit in self.visits:
                combo.addItem(_visit_text(visit))
            combo.blockSignals(False)
        right = next((i for i, v in enumerate(self.visits) if current_image in v.image_ids), len(self.visits) - 1)
        eye = self.visits[right].key.eye if self.visits else None
        same_eye = [i for i, v in enumerate(self.visits) if v.key.eye == eye]
        before = [i for i in same_eye if i < right]
        left = before[-1] if before else (same_eye[0] if same_eye else 0)
        if self.visits:
            self.choose(left, right)

    def choose(self, left: int, right: int) -> None:
        """Show visit ``left`` and visit ``right`` (indexes into :attr:`visits`) side by side."""
        for side, index in (("left", left), ("right", right)):
            combo = self.combos[side]
            if combo.currentIndex() != index:
                combo.setCurrentIndex(index)  # emits: requests the image
            else:
                self._request(side)

    def _fill_row(self, row: int, visit: VisitRow) -> None:
        v = visit.values
        klass = visit.classification
        cells = [
            visit.key.eye.value,
            visit.date.isoformat() if visit.date else "undated",
            f"{visit.pma_weeks:g}" if visit.pma_weeks else "",
            v.stage.value if v.stage else "–",
            v.zone.value if v.zone else "–",
            v.plus.value if v.plus else "–",
            badge_text(klass),
            ", ".join(visit.flags) or "",
        ]
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if column == 6:
                item.setBackground(QBrush(QColor(CLASS_COLORS[klass.klass])))
                item.setForeground(QBrush(QColor("white")))
                item.setToolTip(klass.reason)
            if column == 7 and visit.flags:
                item.setForeground(QBrush(QColor("#c62828")))
                item.setText("⚠ " + text)
            item.setToolTip(item.toolTip() or f"{visit.basis}")
            self.table.setItem(row, column, item)

    def _request(self, side: str) -> None:
        index = self.combos[side].currentIndex()
        if not 0 <= index < len(self.visits):
            return
        visit = self.visits[index]
        image_id = visit.image_id
        self.captions[side].setText(_visit_text(visit))
        self._landmarks[side] = visit.landmarks
        if image_id is not None:
            self.sideRequested.emit(side, int(image_id))

    def _row_to_right(self, row: int, _column: int) -> None:
        self.combos["right"].setCurrentIndex(row)

    # ------------------------------------------------------------------ images
    def show_side(
        self, side: str, image_id: int, rgb: np.ndarray, fov: tuple[float, float, float] | None = None
    ) -> None:
        """Put the decoded image of one side on its canvas (with that visit's landmarks)."""
        canvas = self.canvases[side]
        canvas.set_image(rgb, (), fov)
        landmarks = self._landmarks.get(side)
        if landmarks is not None:
            canvas.set_landmarks(landmarks)
        self._images[side] = image_id
        self._align()
        self.sideShown.emit(side)

    def _align(self) -> None:
        left, right = self.canvases["left"], self.canvases["right"]
        size_a, size_b = left.image_size(), right.image_size()
        if size_a is None or size_b is None:
            return
        a, b = self._landmarks["left"], self._landmarks["right"]
        try:
            transform = alignment(a or Landmarks(), b or Landmarks())
            self.alignment_label.setText("Aligned by the optic disc and the fovea of both visits.")
        except ZoneRefused:
            (wa, ha), (wb, hb) = size_a, size_b
            scale = wb / wa
            transform = Similarity(scale, 0.0, wb / 2 - scale * wa / 2, hb / 2 - scale * ha / 2)
            self.alignment_label.setText(
                "Aligned by the image centres: place the disc and the fovea on both images to align the anatomy."
            )
        left.fit()
        self.linked.set_transform(transform)

    def _link_toggled(self, on: bool) -> None:
        self.linked.enabled = on
        if on:
            self.linked.follow(self.canvases["left"], self.canvases["right"])


def _visit_text(visit: VisitRow) -> str:
    v = visit.values
    when = visit.date.isoformat() if visit.date else "undated"
    stage = f"stage {v.stage.value}" if v.stage else "stage –"
    return f"{visit.key.eye.value} · {when} · {stage} · {badge_text(visit.classification)}"
