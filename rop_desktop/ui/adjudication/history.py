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


COLUMNS = ("When", "Who", "What", "Before", "After")


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
    """The history rows, newest at the bottom."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setWordWrap(False)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

    def set_entries(self, entries: Sequence[HistoryEntry]) -> None:
        self.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            when = entry.at.astimezone().strftime("%Y-%m-%d %H:%M") if entry.at is not None else ""
            for column, text in enumerate((when, entry.who, entry.what, entry.before, entry.after)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if column == 0:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(row, column, item)
        if entries:
            self.scrollToBottom()

    def texts(self) -> list[tuple[str, ...]]:
        """Every row's cells as text (what the adjudicator reads)."""
        return [tuple(self._text(r, c) for c in range(self.columnCount())) for r in range(self.rowCount())]

    def _text(self, row: int, column: int) -> str:
        cell = self.item(row, column)
        return cell.text() if cell is not None else ""
