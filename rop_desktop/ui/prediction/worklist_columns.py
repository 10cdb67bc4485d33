"""Two worklist columns from the active ROP model: P(ROP) and uncertainty.

:class:`ModelColumnsProxy` is a ``QIdentityProxyModel`` over the worklist's
:class:`~rop_desktop.ui.worklist.WorklistModel` that appends the columns; rows, ids and every
other column are the source's. The values are the worklist rows' own (``SCORES_ROLE``): the
grading service reads them with each page, only those the account may see now (blinding, assist
mode), so the proxy never holds the study's predictions. An image whose model output the
account may not see yet shows "hidden" — whether or not a prediction exists — and one without a
prediction shows "–". Sorting by a model column is the source's (the service sorts; a hidden
score sorts as none).

:meth:`ModelColumnsProxy.set_scores` overrides the rows' values with a dict and a ``visible``
predicate (a list held in memory; tests).

Installing it is the worklist's job (see the report of this feature): the table's model becomes
the proxy, whose source is the panel's model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QIdentityProxyModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from rop_desktop.ui.worklist import ROW_ID_ROLE, SCORES_ROLE

_Index = QModelIndex | QPersistentModelIndex
HEADERS = ("P(ROP)", "Uncertainty")
HIDDEN = "hidden"
#: Sort role: the raw number (None sorts first).
VALUE_ROLE = Qt.ItemDataRole.UserRole + 7


class ModelColumnsProxy(QIdentityProxyModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._scores: dict[int, tuple[float | None, float | None]] | None = None  # None: the rows'
        self._visible: Callable[[int], bool] = lambda _image_id: True
        self._threshold: float | None = None
        self._threshold_label = ""

    # ------------------------------------------------------------------ data in
    def set_scores(
        self, scores: dict[int, tuple[float | None, float | None]], visible: Callable[[int], bool] | None = None
    ) -> None:
        """``{image_id: (probability, uncertainty)}`` and who may see them; refreshes the columns."""
        self._scores = dict(scores)
        if visible is not None:
            self._visible = visible
        self.refresh()

    def set_threshold(self, threshold: float | None, label: str = "") -> None:
        """The active ROP model's operating threshold and its label (``ModelVersionInfo.threshold_label``):
        the P(ROP) column's header and cells say which side of it each image falls."""
        self._threshold, self._threshold_label = threshold, label
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, self._extra_column(0), self._extra_column(0))
        self.refresh()

    def threshold(self) -> float | None:
        return self._threshold

    def refresh(self) -> None:
        """Repaint the model columns (e.g. after a submit unblinded an image)."""
        rows = self.rowCount()
        if rows:
            first = self._extra_column(0)
            self.dataChanged.emit(self.index(0, first), self.index(rows - 1, first + len(HEADERS) - 1))

    def score(self, image_id: int) -> tuple[float | None, float | None] | None:
        return self._scores.get(image_id) if self._scores is not None else None

    def use_row_scores(self) -> None:
        """Show the rows' own scores again (undo :meth:`set_scores`)."""
        self._scores = None
        self.refresh()

    def _value(self, row: int, image_id: int | None, extra: int) -> tuple[float | None, bool]:
        """(value, visible) of model column ``extra`` in ``row``."""
        if self._scores is None:
            probability, uncertainty, hidden = self.sourceModel().index(row, 0).data(SCORES_ROLE) or (None, None, False)
            return (None if hidden else (probability, uncertainty)[extra]), not hidden
        score = self._scores.get(image_id) if image_id is not None else None
        visible = image_id is not None and self._visible(image_id)
        return (score[extra] if score is not None and visible else None), visible

    # ------------------------------------------------------------------ structure
    def _source_columns(self) -> int:
        source = self.sourceModel()
        return source.columnCount() if source is not None else 0

    def _extra_column(self, k: int) -> int:
        return self._source_columns() + k

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else self._source_columns() + len(HEADERS)

    def index(self, row: int, column: int, parent: _Index = QModelIndex()) -> QModelIndex:
        if column < self._source_columns():
            return super().index(row, column, parent)
        if parent.isValid() or not (0 <= row < self.rowCount()) or column >= self.columnCount():
            return QModelIndex()
        return self.createIndex(row, column)

    def parent(self, index: _Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        return QModelIndex()

    def sibling(self, row: int, column: int, index: _Index) -> QModelIndex:
        return self.index(row, column)

    def mapToSource(self, index: _Index) -> QModelIndex:  # noqa: N802 - Qt API
        if not index.isValid() or index.column() >= self._source_columns():
            return QModelIndex()
        return super().mapToSource(index)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if index.isValid() and index.column() >= self._source_columns():
            return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        return super().flags(index)

    def headerData(  # noqa: N802 - Qt override
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        extra = section - self._source_columns()
        if orientation == Qt.Orientation.Horizontal and 0 <= extra < len(HEADERS):
            if role == Qt.ItemDataRole.DisplayRole:
                return HEADERS[extra]
            if role == Qt.ItemDataRole.ToolTipRole and extra == 0 and self._threshold_label:
                return f"The active ROP model's probability; it calls ROP at its {self._threshold_label}"
            return None
        return super().headerData(section, orientation, role)

    # ------------------------------------------------------------------ values
    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        extra = index.column() - self._source_columns()
        if extra < 0:
            return super().data(index, role)
        image_id = self.sourceModel().index(index.row(), 0).data(ROW_ID_ROLE)
        if role == ROW_ID_ROLE:
            return image_id
        if role not in (
            VALUE_ROLE,
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.TextAlignmentRole,
            Qt.ItemDataRole.ForegroundRole,
            Qt.ItemDataRole.ToolTipRole,
        ):
            return None
        value, visible = self._value(index.row(), image_id, extra)
        if role == VALUE_ROLE:
            return value
        if role == Qt.ItemDataRole.DisplayRole:
            if not visible:
                return HIDDEN
            return f"{value:.2f}" if value is not None else "–"
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and value is not None and extra == 1 and value >= 0.5:
            return QBrush(QColor("#e0a030"))
        if role == Qt.ItemDataRole.ToolTipRole and extra == 1:
            return "1 = the model sits on its operating threshold, 0 = certain"
        if role == Qt.ItemDataRole.ToolTipRole and extra == 0 and value is not None and self._threshold is not None:
            side, verdict = ("≥", "ROP") if value >= self._threshold else ("<", "no ROP")
            return f"P(ROP) {value:.2f} {side} {self._threshold:.2f} → {verdict} ({self._threshold_label})"
        return None
