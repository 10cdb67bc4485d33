"""Every grader's grade of the case side by side, dissent highlighted; and the outline IoU matrix.

Rows are graders (a colour chip matching their outlines), columns are grade fields, the last
row is the vote's result per field. A value that differs from the settled value of its column
is a *dissent* (red tint); in a voted column the votes left open (a tie, a plurality) every
answer is *disputed* (amber tint). Confidence is never highlighted. Drafts are shown in grey
italics: they are not votes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Quality
from rop_desktop.ui.tables import make_read_only

from .outlines import grader_color

if TYPE_CHECKING:
    from rop_desktop.services.reference import AdjudicationCase


#: (field, column title) in display order.
FIELDS: tuple[tuple[str, str], ...] = (
    ("quality", "Quality"),
    ("rop", "ROP"),
    ("stage", "Stage"),
    ("zone", "Zone"),
    ("plus", "Plus"),
    ("arop", "A-ROP"),
    ("extent_clock_hours", "Extent"),
    ("confidence", "Conf."),
)
#: Fields the vote rules settle (quality by its own majority): an open one is *disputed*.
VOTED_FIELDS = frozenset({"quality", "rop", "stage", "zone", "plus"})
#: Each grader's own confidence: never highlighted.
PERSONAL_FIELDS = frozenset({"confidence"})
DISSENT = QColor(198, 40, 40, 110)
DISPUTED = QColor(199, 120, 0, 95)
RESULT_ROW_TITLE = "Votes →"


def cell_text(field: str, value: Any) -> str:
    """How one answer reads in the table."""
    if value is None:
        return "—"
    if field == "arop":
        return "yes" if value else "no"
    if field == "extent_clock_hours":
        return f"{value} h"
    if field == "quality":
        return value.label
    return getattr(value, "label", str(value))


def column_verdicts(votes: Mapping[str, GradeValues], outcome: Any) -> dict[str, tuple[str, Any]]:
    """field → ("settled", value) | ("open", None) | ("agree", value) | ("none", None).

    Voted fields take the vote outcome; the others (A-ROP, extent, confidence, quality) a strict
    majority of the answers, else "open" when the answers differ."""
    out: dict[str, tuple[str, Any]] = {}
    fields = getattr(outcome, "fields", {}) or {}
    for name, _ in FIELDS:
        answers = [getattr(v, name) for v in votes.values() if getattr(v, name) is not None]
        if name in fields:
            value = fields[name].value
            out[name] = ("settled", value) if value is not None else ("open", None)
            continue
        if not answers:
            out[name] = ("none", None)
            continue
        value, count = Counter(answers).most_common(1)[0]
        if 2 * count > len(answers):
            out[name] = ("agree", value)
        else:
            out[name] = ("open", None)
    return out


class VotesTable(QTableWidget):
    """The graders' grades of one case (see the module docstring)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(len(FIELDS))
        self.setHorizontalHeaderLabels([title for _, title in FIELDS])
        make_read_only(self)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._kinds: dict[tuple[int, int], str] = {}

    def set_case(self, case: AdjudicationCase) -> None:
        """Show every grader's grade of an :class:`AdjudicationCase`, the vote result below."""
        votes = {g.name: g.values for g in case.graders if g.submitted and g.values is not None}
        verdicts = column_verdicts(votes, case.outcome)
        self._kinds.clear()
        self.setRowCount(len(case.graders) + 1)
        headers = []
        for row, work in enumerate(case.graders):
            chip = "●" if work.shapes else "○"
            headers.append(f"{chip} {work.name}" + ("" if work.submitted else " (draft)"))
            values = work.values or GradeValues()
            for column, (name, _) in enumerate(FIELDS):
                value = getattr(values, name)
                item = QTableWidgetItem(cell_text(name, value))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                kind = self._kind(name, value, verdicts[name], work.submitted, values)
                self._kinds[(row, column)] = kind
                self._paint(item, kind, work.submitted)
                self.setItem(row, column, item)
            header = QTableWidgetItem(headers[-1])
            header.setForeground(QBrush(QColor(grader_color(row))))
            tip = f"{work.name} · {work.role.label}"
            if work.submitted_at is not None:
                tip += f"\nsubmitted {work.submitted_at.astimezone():%Y-%m-%d %H:%M}"
            if values.comment:
                tip += f"\n“{values.comment}”"
            header.setToolTip(tip)
            self.setVerticalHeaderItem(row, header)
        last = len(case.graders)
        self.setVerticalHeaderItem(last, QTableWidgetItem(RESULT_ROW_TITLE))
        for column, (name, _) in enumerate(FIELDS):
            state, value = verdicts[name]
            text = (
                {"open": "open" if name in VOTED_FIELDS else "varies", "none": "—"}.get(state, cell_text(name, value))
                if name not in PERSONAL_FIELDS
                else ""
            )
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            font = item.font()
            font.setBold(True)
            item.setFont(font)
            if state == "open" and name in VOTED_FIELDS:
                item.setBackground(QBrush(DISPUTED))
            self.setItem(last, column, item)
        self.resizeRowsToContents()
        height = self.horizontalHeader().sizeHint().height() + 2 * self.frameWidth() + 2
        self.setFixedHeight(height + sum(self.rowHeight(r) for r in range(self.rowCount())))

    @staticmethod
    def _kind(name: str, value: Any, verdict: tuple[str, Any], submitted: bool, values: GradeValues) -> str:
        if not submitted or value is None or name in PERSONAL_FIELDS:
            return "plain"
        if values.quality is Quality.UNGRADABLE and name not in ("quality", "confidence"):
            return "plain"  # an ungradable vote takes no part in the grade majorities
        state, settled = verdict
        if state == "open":
            return "disputed" if name in VOTED_FIELDS else "plain"
        if state in ("settled", "agree") and settled is not None and value != settled:
            return "dissent"
        return "plain"

    @staticmethod
    def _paint(item: QTableWidgetItem, kind: str, submitted: bool) -> None:
        if kind == "dissent":
            item.setBackground(QBrush(DISSENT))
            item.setToolTip("Differs from the vote's result")
        elif kind == "disputed":
            item.setBackground(QBrush(DISPUTED))
            item.setToolTip("The votes do not settle this field")
        if not submitted:
            font = QFont(item.font())
            font.setItalic(True)
            item.setFont(font)
            item.setForeground(QBrush(QColor("#7d8792")))
            item.setToolTip("Draft: not a vote")

    def kind(self, row: int, column: int) -> str:
        """ "dissent", "disputed" or "plain" for a grader's cell (tests and tooltips)."""
        return self._kinds.get((row, column), "plain")

    def column_of(self, field: str) -> int:
        return [name for name, _ in FIELDS].index(field)


class IouTable(QTableWidget):
    """Pairwise IoU of the voting graders' outlines (1.0 on the diagonal; two empties agree)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        make_read_only(self)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def set_matrix(self, matrix: Mapping[str, Mapping[str, float]]) -> None:
        names = list(matrix)
        self.setRowCount(len(names))
        self.setColumnCount(len(names))
        short = [n.split()[-1] for n in names]
        self.setHorizontalHeaderLabels(short)
        self.setVerticalHeaderLabels(short)
        for r, a in enumerate(names):
            for c, b in enumerate(names):
                value = matrix[a].get(b)
                item = QTableWidgetItem("—" if value is None or r == c else f"{value:.2f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setToolTip(f"{a} vs {b}")
                if value is not None and r != c:
                    item.setBackground(QBrush(QColor.fromHsvF(0.33 * value, 0.65, 0.45, 0.8)))
                self.setItem(r, c, item)
        metrics = self.fontMetrics()
        column = max([metrics.horizontalAdvance(n) for n in short] + [metrics.horizontalAdvance("0.00")]) + 16
        self.setMinimumWidth(self.verticalHeader().sizeHint().width() + column * len(names) + 2 * self.frameWidth())
