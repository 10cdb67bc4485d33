"""The worklist's *Class* column: the treatment badge of each image's exam.

:class:`TreatmentColumnProxy` is a ``QIdentityProxyModel`` that appends one column to the
worklist (``WorklistPanel.set_proxy`` stacks it with the model's columns, in either order). The
value is the worklist row's own ``treatment`` (``services.exams.worklist_classes``: read with
each page, from the grader's own grades, or the reference standard for adjudicators and admins),
so the proxy holds nothing of the study. The cell is the badge's colour and text, the reason its
tooltip; an exam not graded yet shows "–".

Sorting: the worklist is sorted by the service, column by column. A click on a column of a proxy
stacked above this one reaches this proxy with that proxy's column number; :meth:`sort` passes
it down without this proxy's column, so the columns above still sort by their own key. The
class column itself sorts in import order (the service has no index on a class).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractProxyModel,
    QIdentityProxyModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from .badge import CLASS_COLORS, badge_text

_Index = QModelIndex | QPersistentModelIndex
HEADER = "Class"


class TreatmentColumnProxy(QIdentityProxyModel):
    """See the module docstring."""

    #: The width ``WorklistPanel.set_proxy`` gives the column.
    column_width = 150

    def setSourceModel(self, source: Any) -> None:  # noqa: N802 - Qt API
        """A row changed below (its status, its class): its class cell is repainted too."""
        super().setSourceModel(source)
        if source is not None:
            source.dataChanged.connect(self._source_changed)

    def _source_changed(self, first: QModelIndex, last: QModelIndex, _roles: Any = ()) -> None:
        column = self._source_columns()
        if first.isValid() and last.isValid():
            self.dataChanged.emit(self.index(first.row(), column), self.index(last.row(), column))

    # ------------------------------------------------------------------ the rows
    def _base(self) -> Any:
        """The worklist model under the proxies (the one that holds the rows)."""
        model: QAbstractItemModel | None = self.sourceModel()
        while model is not None and not hasattr(model, "row_at"):
            model = model.sourceModel() if isinstance(model, QAbstractProxyModel) else None
        return model

    def classification(self, row: int) -> Any:
        base = self._base()
        found = base.row_at(row) if base is not None else None
        return getattr(found, "treatment", None)

    def refresh(self) -> None:
        rows = self.rowCount()
        if rows:
            column = self._source_columns()
            self.dataChanged.emit(self.index(0, column), self.index(rows - 1, column))

    # ------------------------------------------------------------------ structure
    def _source_columns(self) -> int:
        source = self.sourceModel()
        return source.columnCount() if source is not None else 0

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else self._source_columns() + 1

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
        if orientation == Qt.Orientation.Horizontal and section == self._source_columns():
            if role == Qt.ItemDataRole.DisplayRole:
                return HEADER
            if role == Qt.ItemDataRole.ToolTipRole:
                return "ETROP treatment class of the image's eye at that visit"
            return None
        return super().headerData(section, orientation, role)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """See the module docstring: the columns below keep their number, the ones above lose this one."""
        own = self._source_columns()
        self.sourceModel().sort(column if column < own else (0 if column == own else column - 1), order)

    # ------------------------------------------------------------------ values
    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if index.column() < self._source_columns():
            return super().data(index, role)
        if role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.BackgroundRole,
            Qt.ItemDataRole.ForegroundRole,
            Qt.ItemDataRole.ToolTipRole,
            Qt.ItemDataRole.TextAlignmentRole,
        ):
            return None
        classification = self.classification(index.row())
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if classification is None:
            return "–" if role == Qt.ItemDataRole.DisplayRole else None
        if role == Qt.ItemDataRole.DisplayRole:
            return badge_text(classification)
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(QColor(CLASS_COLORS[classification.klass]))
        if role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(QColor("white"))
        return classification.reason
