"""The eye-level adjudication queue: exams (one eye at one visit) the eye-level votes did not settle.

Three lists (tabs), as at image level: "To decide" (:meth:`ExamReferenceService.queue`), "Too few
votes" (:meth:`ExamReferenceService.insufficient`) and "Settled" (what was decided in this
window). A row shows the exam (patient · eye · visit date) with why the votes did not settle it
under it (every reason in full in the tooltip), the number of confirmed eye-level grades, and
their tally of stage / zone / plus / treatment class — a unanimous field without its count. A click (or the keyboard) emits
``examSelected(exam_id, eye)`` — ``eye`` the :class:`~rop_desktop.domain.labels.Eye` value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFocusEvent, QResizeEvent
from PySide6.QtWidgets import QTabWidget, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from rop_desktop.domain.etrop import TreatmentClass

from .queue_panel import short_reasons

#: An exam as the queue names it: (exam id, eye value).
ExamRef = tuple[int, str]
COLUMNS = ("Exam · why", "Votes", "Tally")
_TALLY_FIELDS = (("stage", "st."), ("zone", "zone"), ("plus", "plus"))
_CLASS_SHORT = {
    TreatmentClass.TREAT.value: "treat",
    TreatmentClass.FOLLOW_UP.value: "follow-up",
    TreatmentClass.ROUTINE.value: "routine",
    TreatmentClass.UNDETERMINED.value: "n.d.",
}

#: The widest tally line the Tally column keeps whole (longer ones are cut; the tooltip has all).
_WIDEST = "class routine:2 treat:2"


def exam_tally_text(tally: Mapping[str, Mapping[str, int]], classes: Mapping[str, int]) -> str:
    """ "st. 1:2 0:1 2:1", "zone II", "plus normal:3 pre-plus:1", "class routine:3 treat:1" on
    separate lines (commonest answer first; a unanimous answer without its count)."""
    named: list[tuple[str, dict[str, int], Callable[[str], str]]] = [
        (label, dict(tally.get(name) or {}), str) for name, label in _TALLY_FIELDS
    ]
    named.append(("class", dict(classes), lambda k: _CLASS_SHORT.get(k, k)))
    lines = []
    for label, counts, show in named:
        given = sorted(((k, n) for k, n in counts.items() if n), key=lambda kv: -kv[1])
        if len(given) == 1:
            lines.append(f"{label} {show(given[0][0])}")
        elif given:
            lines.append(f"{label} " + " ".join(f"{show(k)}:{n}" for k, n in given))
    return "\n".join(lines)


def exam_title(item: Any) -> str:
    """ "P0002 · OD · 2026-03-25" for a queue item or a case."""
    when = item.exam_date.isoformat() if item.exam_date else "undated"
    return f"{item.patient} · {item.eye.value} · {when}"


class _ExamList(QTreeWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.setRootIsDecorated(False)
        self.setAlternatingRowColors(True)
        self.setWordWrap(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.header().setStretchLastSection(True)  # the tally takes what is left
        self._fit_columns()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Exam, Votes and Tally keep their text whole (a 1366 px screen gives the list ~320 px);
        "Why" wraps in what is left (the tooltip has every reason in full)."""
        metrics = self.fontMetrics()
        votes = self.header().fontMetrics().horizontalAdvance("Votes") + 14
        tally = metrics.horizontalAdvance(_WIDEST) + 12
        least = metrics.horizontalAdvance("P0000 · OD · 2026-03-25") + 12
        self.setColumnWidth(0, max(least, self.viewport().width() - votes - tally))
        self.setColumnWidth(1, votes)

    def add(self, key: ExamRef, texts: Sequence[str], tip: str, *, top: bool = False) -> None:
        row = QTreeWidgetItem(list(texts))
        row.setData(0, Qt.ItemDataRole.UserRole, key)
        row.setTextAlignment(1, Qt.AlignmentFlag.AlignCenter)
        for column in range(len(COLUMNS)):
            row.setToolTip(column, tip)
        if top:
            self.insertTopLevelItem(0, row)
        else:
            self.addTopLevelItem(row)

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt API
        """Entering the list by keyboard makes a row current without the adjudicator choosing it."""
        self.blockSignals(True)
        super().focusInEvent(event)
        self.blockSignals(False)

    def rows(self) -> list[QTreeWidgetItem]:
        return [item for i in range(self.topLevelItemCount()) if (item := self.topLevelItem(i)) is not None]

    def row_of(self, key: ExamRef) -> QTreeWidgetItem | None:
        return next((r for r in self.rows() if tuple(r.data(0, Qt.ItemDataRole.UserRole)) == tuple(key)), None)

    def exam_keys(self) -> list[ExamRef]:
        return [
            (int(r.data(0, Qt.ItemDataRole.UserRole)[0]), str(r.data(0, Qt.ItemDataRole.UserRole)[1]))
            for r in self.rows()
        ]


class ExamQueuePanel(QWidget):
    """The three lists (see the module docstring)."""

    examSelected = Signal(int, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.to_decide = _ExamList(self)
        self.too_few = _ExamList(self)
        self.settled = _ExamList(self)
        self.settled.setHeaderLabels(["Exam · how", "", "Reference"])
        self.tabs = QTabWidget(self)
        for tree, title in ((self.to_decide, "To decide"), (self.too_few, "Too few votes"), (self.settled, "Settled")):
            self.tabs.addTab(tree, title)
            tree.currentItemChanged.connect(self._on_current)
            tree.itemClicked.connect(lambda item, _column: self._on_current(item, None))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

    def set_items(self, to_decide: Sequence[Any], too_few: Sequence[Any], current: ExamRef | None = None) -> None:
        """Fill both queue lists (``ExamQueueItem`` values); keep ``current`` selected (no signal)."""
        for index, (tree, items, title) in enumerate(
            ((self.to_decide, to_decide, "To decide"), (self.too_few, too_few, "Too few votes"))
        ):
            tree.blockSignals(True)
            tree.clear()
            for entry in items:
                n = len(entry.image_ids)
                tip = f"{exam_title(entry)} · {n} image{'s' if n != 1 else ''}\n" + (
                    "\n".join(entry.reasons) or "No reason given"
                )
                why = short_reasons(entry.reasons)
                tree.add(
                    (entry.exam_id, entry.eye.value),
                    [
                        exam_title(entry) + (f"\n{why}" if why else ""),
                        str(entry.n_votes),
                        exam_tally_text(entry.tally, entry.classes),
                    ],
                    tip,
                )
            tree.blockSignals(False)
            self.tabs.setTabText(index, f"{title} ({len(items)})")
        if current is not None:
            self.select(current, emit=False)

    def add_settled(self, key: ExamRef, exam: str, reference: str, how: str) -> None:
        """List a decision made in this window (newest first; a second decision replaces the first)."""
        old = self.settled.row_of(key)
        if old is not None:
            self.settled.takeTopLevelItem(self.settled.indexOfTopLevelItem(old))
        self.settled.blockSignals(True)
        self.settled.add(key, [f"{exam}\n{how}", "", reference], f"{exam}\n{reference} ({how})", top=True)
        self.settled.blockSignals(False)
        self.tabs.setTabText(2, f"Settled ({self.settled.topLevelItemCount()})")

    def select(self, key: ExamRef, *, emit: bool = True) -> bool:
        """Select the exam's row in the first list that holds it; False when none does."""
        for index, tree in enumerate((self.to_decide, self.too_few, self.settled)):
            item = tree.row_of(key)
            if item is not None:
                self.tabs.setCurrentIndex(index)
                tree.blockSignals(not emit)
                tree.setCurrentItem(item)
                tree.blockSignals(False)
                tree.scrollToItem(item)
                return True
        return False

    def exam_keys(self) -> list[ExamRef]:
        """The exams to decide, in queue order."""
        return self.to_decide.exam_keys()

    def _on_current(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if item is not None:
            exam_id, eye = item.data(0, Qt.ItemDataRole.UserRole)
            self.examSelected.emit(int(exam_id), str(eye))
