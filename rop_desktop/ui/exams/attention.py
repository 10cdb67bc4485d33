"""The *Needs attention* list: eyes whose latest visit got worse than the one before (stage up,
zone more posterior, plus appearing, crossing into Type 1) or that are treatment-warranted.

Views only: ``set_items`` takes ``services.exams.Attention`` values; a double-click (or Enter)
asks for the latest visit's first image: ``imageRequested(image_id)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QLabel, QTableWidgetItem, QVBoxLayout, QWidget

from rop_desktop.ui.tables import row_picker_table

from .badge import CLASS_COLORS, badge_text

if TYPE_CHECKING:
    from rop_desktop.services.exams import Attention

COLUMNS = ("Patient", "Eye", "Latest visit", "Class", "Why")


class AttentionWindow(QWidget):
    """See the module docstring."""

    imageRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("AttentionWindow")
        self.setWindowTitle("Needs attention")
        self.resize(760, 380)
        self.items: list[Attention] = []
        self.note = QLabel("", self)
        self.note.setWordWrap(True)
        self.table = row_picker_table(COLUMNS, self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.table)
        self.table.cellActivated.connect(self._open)  # a double click or Enter

    def set_items(self, items: Sequence[Attention], basis: str) -> None:
        """``basis`` says whose grades the list is read from ("your grades", "the reference standard")."""
        self.items = list(items)
        self.note.setText(
            f"{len(self.items)} eye{'s' if len(self.items) != 1 else ''} need attention, from "
            f"{basis}. Double-click one to open its latest visit."
        )
        self.table.setRowCount(len(self.items))
        for row, item in enumerate(self.items):
            klass = item.classification
            cells = (
                item.patient,
                item.eye.value,
                item.date.isoformat() if item.date else "undated",
                badge_text(klass),
                "; ".join(item.reasons),
            )
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if column == 3:
                    cell.setBackground(QBrush(QColor(CLASS_COLORS[klass.klass])))
                    cell.setForeground(QBrush(QColor("white")))
                    cell.setToolTip(klass.reason)
                self.table.setItem(row, column, cell)

    def _open(self, row: int, _column: int) -> None:
        if 0 <= row < len(self.items):
            ids = self.items[row].image_ids
            if ids:
                self.imageRequested.emit(int(ids[0]))
