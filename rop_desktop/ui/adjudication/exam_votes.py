"""Every grader's confirmed eye-level grade of one exam side by side, with its treatment badge.

Rows are graders, columns the eye-level ICROP3 fields (stage, zone, plus, A-ROP, extent) and the
ETROP class each grade leads to, as a coloured badge (``ui.exams.badge``); the last row is the
vote's result. Highlighting follows the image-level table (``votes_table``): a value that differs
from its column's settled value is a *dissent* (red), every answer in a column the votes left
open is *disputed* (amber). Only submitted (confirmed) eye-level grades are votes, so only they
are listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from rop_desktop.domain.etrop import classify
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Quality
from rop_desktop.ui.exams.badge import TreatmentBadge
from rop_desktop.ui.tables import make_read_only

from .outlines import grader_color
from .votes_table import DISPUTED, DISSENT, RESULT_ROW_TITLE, VOTED_FIELDS, cell_text, column_verdicts

#: (field, column title) in display order; the class column follows them.
EYE_FIELDS: tuple[tuple[str, str], ...] = (
    ("stage", "Stage"),
    ("zone", "Zone"),
    ("plus", "Plus"),
    ("arop", "A-ROP"),
    ("extent_clock_hours", "Extent"),
)
CLASS_TITLE = "Treatment class"


class ExamVotesTable(QTableWidget):
    """The graders' eye-level grades of one exam (see the module docstring)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(len(EYE_FIELDS) + 1)
        self.setHorizontalHeaderLabels([title for _, title in EYE_FIELDS] + [CLASS_TITLE])
        make_read_only(self)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._kinds: dict[tuple[int, int], str] = {}
        self.badges: dict[str, TreatmentBadge] = {}  #: grader name → their class badge

    def set_votes(self, votes: Mapping[str, GradeValues], outcome: Any) -> None:
        """Show ``votes`` (grader → submitted eye-level grade) and the vote ``outcome`` below them."""
        verdicts = column_verdicts(votes, outcome)
        self._kinds.clear()
        self.badges.clear()
        self.clearContents()
        self.setRowCount(len(votes) + 1)
        for row, (name, values) in enumerate(votes.items()):
            for column, (field, _) in enumerate(EYE_FIELDS):
                value = getattr(values, field)
                item = QTableWidgetItem(cell_text(field, value))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                kind = self._kind(field, value, verdicts[field], values)
                self._kinds[(row, column)] = kind
                if kind != "plain":
                    item.setBackground(QBrush(DISSENT if kind == "dissent" else DISPUTED))
                    item.setToolTip(
                        "Differs from the vote's result" if kind == "dissent" else "The votes do not settle this field"
                    )
                self.setItem(row, column, item)
            badge = TreatmentBadge()
            badge.set_classification(classify(values))
            self.badges[name] = badge
            self.setCellWidget(row, len(EYE_FIELDS), badge)
            header = QTableWidgetItem(name)
            header.setForeground(QBrush(QColor(grader_color(row))))
            if values.comment:
                header.setToolTip(f"“{values.comment}”")
            self.setVerticalHeaderItem(row, header)
        self._result_row(len(votes), verdicts)
        self.resizeRowsToContents()
        height = self.horizontalHeader().sizeHint().height() + 2 * self.frameWidth() + 2
        self.setFixedHeight(height + sum(self.rowHeight(r) for r in range(self.rowCount())))

    def _result_row(self, row: int, verdicts: Mapping[str, tuple[str, Any]]) -> None:
        self.setVerticalHeaderItem(row, QTableWidgetItem(RESULT_ROW_TITLE))
        for column, (field, _) in enumerate(EYE_FIELDS):
            state, value = verdicts[field]
            text = {"open": "open" if field in VOTED_FIELDS else "varies", "none": "—"}.get(
                state, cell_text(field, value)
            )
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            font = QFont(item.font())
            font.setBold(True)
            item.setFont(font)
            if state == "open" and field in VOTED_FIELDS:
                item.setBackground(QBrush(DISPUTED))
            self.setItem(row, column, item)
        self.setItem(row, len(EYE_FIELDS), QTableWidgetItem(""))

    @staticmethod
    def _kind(field: str, value: Any, verdict: tuple[str, Any], values: GradeValues) -> str:
        if value is None or values.quality is Quality.UNGRADABLE:
            return "plain"
        state, settled = verdict
        if state == "open":
            return "disputed" if field in VOTED_FIELDS else "plain"
        if state in ("settled", "agree") and settled is not None and value != settled:
            return "dissent"
        return "plain"

    def kind(self, row: int, column: int) -> str:
        """ "dissent", "disputed" or "plain" for a grader's cell."""
        return self._kinds.get((row, column), "plain")

    def graders(self) -> list[str]:
        """The graders listed, top to bottom."""
        return list(self.badges)

    def column_of(self, field: str) -> int:
        return [name for name, _ in EYE_FIELDS].index(field)
