"""The adjudication queue: images the votes did not settle, and those still short of votes.

Three lists (tabs): "To decide" (:meth:`ReferenceService.queue`), "Too few votes"
(:meth:`ReferenceService.insufficient`) and "Settled" (what was decided in this window, to look
back at a decision and its history). Each queue row shows the image, the number of votes, the
ROP / stage tally and the reasons; the tooltip lists every reason in full. A click (or the
keyboard) emits ``imageSelected(image_id)``, also for the row that is already current.

A list holds the first page of its queue (``QUEUE_PAGE`` images, in image order: the
adjudicator works from the top and settled images leave it). Its tab says how many images the
queue holds: "100+" until the exact count, counted in a background call, arrives (:meth:`set_counts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFocusEvent, QResizeEvent
from PySide6.QtWidgets import QTabWidget, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from rop_desktop.services.reference import QUEUE_PAGE

COLUMNS = ("Image", "Votes", "Tally", "Why")
_TALLY_FIELDS = (("rop", "ROP"), ("stage", "st."))


def tally_text(tally: dict[str, dict[str, int]]) -> str:
    """ "ROP yes 2 no 2", "st. 0:2 1:2", "ungradable 1" on separate lines (commonest answer first)."""
    parts = []
    for name, label in _TALLY_FIELDS:
        counts = tally.get(name) or {}
        if counts:
            ordered = sorted(counts.items(), key=lambda kv: -kv[1])
            sep = " " if name == "rop" else ":"
            parts.append(f"{label} " + " ".join(f"{value}{sep}{n}" for value, n in ordered))
    quality = tally.get("quality") or {}
    if quality.get("ungradable"):
        parts.append(f"ungradable {quality['ungradable']}")
    return "\n".join(parts)


def short_reasons(reasons: Sequence[str], lines: int = 2) -> str:
    """The reasons without their details, one per line ("2–2 tie on ROP presence"); the
    closing "required field(s) not settled" line only when nothing else explains the image."""
    short = [r.split(";")[0].split(" (")[0].strip() for r in reasons]
    specific = [r for r in short if not r.startswith("required field")]
    return "\n".join((specific or short)[:lines])


class _QueueList(QTreeWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.setRootIsDecorated(False)
        self.setAlternatingRowColors(True)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._fit_columns()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Image, Votes and Tally share the list's width (a 1366 px screen gives it ~300 px): the
        tally ("ROP yes 3 no 1") and the Votes header stay whole, the image name is elided in its
        middle (the tooltip has it all); "Why" gets what is left."""
        metrics = self.fontMetrics()
        votes = self.header().fontMetrics().horizontalAdvance(self.headerItem().text(1) or "Votes") + 14
        tally = metrics.horizontalAdvance("ROP yes 3 no 1") + 14
        image = int(
            min(max(self.viewport().width() - votes - tally, metrics.horizontalAdvance("P0000 · OD") + 14), 165)
        )
        for column, width in enumerate((image, votes, tally)):
            self.setColumnWidth(column, width)

    def fill(self, items: Sequence[Any]) -> None:
        self.clear()
        for entry in items:
            eye = entry.eye.value if entry.eye is not None else "eye ?"
            row = QTreeWidgetItem(
                [
                    f"{entry.patient} · {eye}\n{entry.original_name}",
                    str(entry.n_votes),
                    tally_text(entry.tally),
                    short_reasons(entry.reasons),
                ]
            )
            row.setData(0, Qt.ItemDataRole.UserRole, entry.image_id)
            tip = f"{entry.original_name}\n" + ("\n".join(entry.reasons) or "No reason given")
            if entry.dissenters:
                tip += "\nDissenting: " + ", ".join(entry.dissenters)
            for column in range(len(COLUMNS)):
                row.setToolTip(column, tip)
            row.setTextAlignment(1, Qt.AlignmentFlag.AlignCenter)
            self.addTopLevelItem(row)

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt API
        """Qt makes the first row current when the keyboard enters a list without a current row;
        that is not a choice of the adjudicator's, so it opens nothing."""
        self.blockSignals(True)
        super().focusInEvent(event)
        self.blockSignals(False)

    def rows(self) -> list[QTreeWidgetItem]:
        """The list's rows, top to bottom."""
        return [item for i in range(self.topLevelItemCount()) if (item := self.topLevelItem(i)) is not None]

    def row_of(self, image_id: int) -> QTreeWidgetItem | None:
        return next((row for row in self.rows() if row.data(0, Qt.ItemDataRole.UserRole) == image_id), None)

    def image_ids(self) -> list[int]:
        return [row.data(0, Qt.ItemDataRole.UserRole) for row in self.rows()]


class QueuePanel(QWidget):
    """The two queue lists (see the module docstring)."""

    imageSelected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.to_decide = _QueueList(self)
        self.too_few = _QueueList(self)
        self.settled = _QueueList(self)
        self.settled.setHeaderLabels(["Image", "", "Reference", "How"])
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.to_decide, "To decide")
        self.tabs.addTab(self.too_few, "Too few votes")
        self.tabs.addTab(self.settled, "Settled")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        #: The queue sizes last counted (None: not yet, or the lists changed since).
        self.counts: tuple[int, int] | None = None
        for tree in self._lists():
            tree.currentItemChanged.connect(self._on_current)
            tree.itemClicked.connect(lambda item, _column: self._on_current(item, None))

    def _lists(self) -> tuple[_QueueList, _QueueList, _QueueList]:
        return (self.to_decide, self.too_few, self.settled)

    def set_items(self, to_decide: Sequence[Any], too_few: Sequence[Any], current: int | None = None) -> None:
        """Fill both lists (QueueItems: the first page of each queue); keep ``current`` selected if
        it is still listed (no signal)."""
        for tree, items in ((self.to_decide, to_decide), (self.too_few, too_few)):
            tree.blockSignals(True)
            tree.fill(items)
            tree.blockSignals(False)
        self.counts = None
        self._title(0, "To decide", len(to_decide), None)
        self._title(1, "Too few votes", len(too_few), None)
        if current is not None:
            self.select(current, emit=False)

    def set_counts(self, to_decide: int, too_few: int) -> None:
        """The exact sizes of the two queues (counted in the background)."""
        self.counts = (to_decide, too_few)
        self._title(0, "To decide", self.to_decide.topLevelItemCount(), to_decide)
        self._title(1, "Too few votes", self.too_few.topLevelItemCount(), too_few)

    def _title(self, tab: int, label: str, listed: int, counted: int | None) -> None:
        if counted is not None:
            size = f"{counted:,}" if counted == listed else f"{listed:,} of {counted:,}"
        else:
            size = f"{listed:,}+" if listed >= QUEUE_PAGE else f"{listed:,}"
        self.tabs.setTabText(tab, f"{label} ({size})")

    def add_settled(self, image_id: int, image: str, reference: str, how: str) -> None:
        """List a decision made in this window (the newest first; a second decision replaces the first)."""
        old = self.settled.row_of(image_id)
        if old is not None:
            self.settled.takeTopLevelItem(self.settled.indexOfTopLevelItem(old))
        row = QTreeWidgetItem([image, "", reference, how])
        row.setData(0, Qt.ItemDataRole.UserRole, image_id)
        for column in range(len(COLUMNS)):
            row.setToolTip(column, f"{image}\n{reference} ({how})")
        self.settled.blockSignals(True)
        self.settled.insertTopLevelItem(0, row)
        self.settled.blockSignals(False)
        self.tabs.setTabText(2, f"Settled ({self.settled.topLevelItemCount()})")

    def select(self, image_id: int, *, emit: bool = True) -> bool:
        """Select the image's row in the first list that holds it; False when none does."""
        for index, tree in enumerate(self._lists()):
            item = tree.row_of(image_id)
            if item is not None:
                self.tabs.setCurrentIndex(index)
                tree.blockSignals(not emit)
                tree.setCurrentItem(item)
                tree.blockSignals(False)
                tree.scrollToItem(item)
                return True
        return False

    def image_ids(self) -> list[int]:
        """The images to decide, in queue order."""
        return self.to_decide.image_ids()

    def _on_current(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if item is not None:
            self.imageSelected.emit(int(item.data(0, Qt.ItemDataRole.UserRole)))
