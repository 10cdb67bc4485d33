"""The worklist: a Qt item model over the study's images (plain WorklistRow data) and its panel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPixmap, QPixmapCache
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QTableView,
                               QVBoxLayout, QWidget)

from rop_desktop.services.grading import WorklistRow

_Index = QModelIndex | QPersistentModelIndex

STATUS_LABEL = {"todo": "To do", "draft": "Draft", "submitted": "Submitted"}
STATUS_COLOR = {"todo": QColor("#9aa4ad"), "draft": QColor("#e0a030"), "submitted": QColor("#3aa55d")}
ROW_ID_ROLE = Qt.ItemDataRole.UserRole + 1
THUMB_HEIGHT = 48


class WorklistModel(QAbstractTableModel):
    COLUMNS = ("", "Patient", "Eye", "Exam", "Camera", "Status", "File")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[WorklistRow] = []
        self._row_of: dict[int, int] = {}

    # --- data in
    def set_rows(self, rows: Sequence[WorklistRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._row_of = {r.image_id: i for i, r in enumerate(self._rows)}
        self.endResetModel()

    def update_status(self, image_id: int, status: str) -> None:
        i = self._row_of.get(image_id)
        if i is None:
            return
        from dataclasses import replace

        self._rows[i] = replace(self._rows[i], status=status)
        self.dataChanged.emit(self.index(i, 0), self.index(i, self.columnCount() - 1))

    def row_of(self, image_id: int) -> int | None:
        return self._row_of.get(image_id)

    def image_id_at(self, row: int) -> int:
        return self._rows[row].image_id

    def rows(self) -> list[WorklistRow]:
        return list(self._rows)

    # --- Qt model API
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == ROW_ID_ROLE:
            return row.image_id
        if role == Qt.ItemDataRole.DisplayRole:
            return {1: row.patient, 2: row.eye.value if row.eye else "–",
                    3: row.exam_date.isoformat() if row.exam_date else "–", 4: row.camera or "–",
                    5: STATUS_LABEL[row.status], 6: row.original_name}.get(col)
        if role == Qt.ItemDataRole.DecorationRole and col == 0 and row.thumbnail is not None:
            key = f"rop-thumb:{row.thumbnail}"
            pixmap = QPixmapCache.find(key)
            if pixmap is None:
                pixmap = QPixmap(str(row.thumbnail))
                if not pixmap.isNull():
                    pixmap = pixmap.scaledToHeight(THUMB_HEIGHT, Qt.TransformationMode.SmoothTransformation)
                    QPixmapCache.insert(key, pixmap)
            return pixmap
        if role == Qt.ItemDataRole.ForegroundRole and col == 5:
            return QBrush(STATUS_COLOR[row.status])
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{row.original_name}\n{row.width}×{row.height}  {row.site or ''}"
        if role == Qt.ItemDataRole.SizeHintRole and col == 0:
            return QSize(THUMB_HEIGHT + 16, THUMB_HEIGHT + 4)
        return None


class WorklistPanel(QWidget):
    """Filter bar + table. Emits ``imageActivated(id)`` when the grader picks an image."""

    imageActivated = Signal(int)
    filterChanged = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = WorklistModel(self)
        self.status_filter = QComboBox()
        for label, value in (("To do for me", "todo"), ("All images", None), ("My drafts", "draft"),
                             ("Submitted by me", "submitted")):
            self.status_filter.addItem(label, value)
        self.patient_filter = QComboBox()
        self.camera_filter = QComboBox()
        self.count_label = QLabel()
        self.count_label.setObjectName("worklistCount")
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(THUMB_HEIGHT + 4)
        self.table.setIconSize(QSize(THUMB_HEIGHT * 4 // 3, THUMB_HEIGHT))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAlternatingRowColors(True)
        self.table.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

        filters = QHBoxLayout()
        filters.addWidget(self.status_filter, 2)
        filters.addWidget(self.patient_filter, 1)
        filters.addWidget(self.camera_filter, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)

        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        for combo in (self.status_filter, self.patient_filter, self.camera_filter):
            combo.currentIndexChanged.connect(lambda _=0: self.filterChanged.emit(self.filters()))

    def set_proxy(self, proxy: Any) -> None:
        """Show the worklist through a row-preserving proxy (e.g. extra model columns)."""
        proxy.setSourceModel(self.model)
        self.table.setModel(proxy)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)

    def set_choices(self, patients: Sequence[str], cameras: Sequence[str]) -> None:
        for combo, label, values in ((self.patient_filter, "All patients", patients),
                                     (self.camera_filter, "All cameras", cameras)):
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(label, None)
            for value in values:
                combo.addItem(value, value)
            combo.blockSignals(False)

    def filters(self) -> dict[str, Any]:
        return {"status": self.status_filter.currentData(), "patient": self.patient_filter.currentData(),
                "camera": self.camera_filter.currentData()}

    def set_rows(self, rows: Sequence[WorklistRow], current: int | None = None) -> None:
        self.table.selectionModel().blockSignals(True)
        self.model.set_rows(rows)
        self.table.selectionModel().blockSignals(False)
        done = sum(r.status == "submitted" for r in rows)
        self.count_label.setText(f"{len(rows)} images · {done} submitted by me")
        if current is not None:
            self.select(current, emit=False)

    def select(self, image_id: int, *, emit: bool = False) -> None:
        row = self.model.row_of(image_id)
        if row is None:
            self.table.clearSelection()
            return
        sm = self.table.selectionModel()
        sm.blockSignals(not emit)
        self.table.selectRow(row)
        sm.blockSignals(False)
        self.table.scrollTo(self.table.model().index(row, 0))

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.imageActivated.emit(self.model.image_id_at(current.row()))
