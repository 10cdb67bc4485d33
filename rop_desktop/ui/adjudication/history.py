"""The image's history in the adjudication view: who did what, when, with the value before and after.

Two sources give :class:`HistoryEntry` rows:

* :func:`entries_from_audit` reads audit records — objects with ``at``, ``actor``, ``entity``,
  ``action``, ``before``, ``after`` — as a service that exposes the study's audit trail of one
  image returns them (``ReferenceService.history(image_id)``);
* :func:`entries_from_case` rebuilds the essentials from an adjudication case alone: each
  grader's submission and the stored reference decision (with the method it replaced).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from .suggestion import describe, describe_payload

if TYPE_CHECKING:
    from rop_desktop.services.reference import AdjudicationCase


#: The fields of a history row (:meth:`HistoryTable.texts`).
FIELDS = ("When", "Who", "What", "Before", "After")
#: The table's two columns: the history reads like a log, so a narrow side column holds it whole.
COLUMNS = ("When · who", "What changed")


@dataclass(frozen=True)
class HistoryEntry:
    """One row of the history table (plain text, except the time)."""

    at: datetime | None
    who: str
    what: str
    before: str
    after: str


def entries_from_case(case: AdjudicationCase) -> list[HistoryEntry]:
    """Submissions and the current reference decision of an :class:`AdjudicationCase`, oldest first."""
    rows = [
        HistoryEntry(g.submitted_at, g.name, "submitted grade", "", describe(g.values))
        for g in case.graders
        if g.submitted
    ]
    ref = case.reference
    if ref is not None:
        replaced = (ref.detail or {}).get("replaced")
        what = {"adjudicated": "adjudicated reference", "imported": "imported reference"}.get(
            ref.method, f"reference by the votes ({ref.method})"
        )
        rows.append(
            HistoryEntry(
                ref.decided_at,
                ref.decided_by or "votes",
                what,
                f"({replaced})" if replaced else ("—" if ref.method == "adjudicated" else ""),
                f"{describe(ref.values)} ({ref.method})",
            )
        )
    return sorted(rows, key=_when)


def entries_from_audit(records: Iterable[Any]) -> list[HistoryEntry]:
    """Audit records (see the module docstring) as rows, oldest first."""
    rows = [
        HistoryEntry(
            r.at, r.actor or "system", f"{r.entity} {r.action}", describe_payload(r.before), describe_payload(r.after)
        )
        for r in records
    ]
    return sorted(rows, key=_when)


def _when(entry: HistoryEntry) -> float:
    return entry.at.timestamp() if entry.at is not None else 0.0


class HistoryTable(QTableWidget):
    """The history rows, newest at the bottom, as a log: when and who in the first column, what
    was done with the value before and after (wrapped) in the second, so that the adjudication
    view's narrow left column shows every row whole at 1366 px."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setWordWrap(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.verticalHeader().hide()
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self._entries: list[HistoryEntry] = []

    def set_entries(self, entries: Sequence[HistoryEntry]) -> None:
        self._entries = list(entries)
        self.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            when = entry.at.astimezone().strftime("%Y-%m-%d %H:%M") if entry.at is not None else ""
            change = entry.after if not entry.before else f"{entry.before} → {entry.after}"
            texts = (f"{when}\n{entry.who}".strip(), f"{entry.what}\n{change}".strip())
            for column, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
                self.setItem(row, column, item)
        if entries:
            self.scrollToBottom()

    def texts(self) -> list[tuple[str, ...]]:
        """Every row as its :data:`FIELDS` (when, who, what, before, after), as the table shows them."""
        return [
            (e.at.astimezone().strftime("%Y-%m-%d %H:%M") if e.at is not None else "", e.who, e.what, e.before, e.after)
            for e in self._entries
        ]
