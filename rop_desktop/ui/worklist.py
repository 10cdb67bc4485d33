"""The worklist: a paged Qt item model over the grading service's worklist, and its panel.

A study may hold 100,000 images; the worklist never holds them. :class:`WorklistModel` knows how
many rows the list has (so the scroll bar is right) and keeps a few pages of rows around what
the view shows: a page the view paints that is not cached is read through the
:class:`WorklistSource` (one indexed query of ``PAGE_SIZE`` rows), the least recently used page
is dropped. Nothing the model does costs more with a larger study, and nothing is sized to its
contents: the columns have fixed widths, the rows a fixed height.

Thumbnails come from a :class:`~rop_desktop.workers.thumbnail_loader.ThumbnailLoader` thread
when a row is painted; the row shows none until then, and none when the file is missing.

The list is sorted by the service (click a column header: :attr:`WorklistModel.sortRequested`),
filtered by status, camera and the start of a patient code typed in the search box.

Rows never move under the cursor (issue 17). A row whose status changes after the list was read
(a submit on "To do for me", a draft started on a list sorted by status) is *held* at its place
(:meth:`WorklistModel.update_row`): a row that left the list's filter is shown as done (greyed and
struck through) and stays until the grader refreshes the list (↻, F5, or another filter or
order). Pages read later — a scroll to rows not in memory, :meth:`WorklistModel.reload` — skip
the held rows in the source's list and put them back where they were, so every other row keeps
its place too. The footer shows the grader's totals for the whole study, whatever the filter.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPixmap, QPixmapCache
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from rop_desktop.services.grading import PAGE_SIZE, GraderTotals, WorklistPage, WorklistRow
from rop_desktop.workers.thumbnail_loader import ThumbnailLoader

_Index = QModelIndex | QPersistentModelIndex

STATUS_LABEL = {"todo": "To do", "draft": "Draft", "submitted": "Submitted"}
STATUS_COLOR = {"todo": QColor("#9aa4ad"), "draft": QColor("#e0a030"), "submitted": QColor("#3aa55d")}
#: A held row that no longer matches the list's filter (see the module docstring).
DONE_COLOR = QColor("#a0a6ad")
#: The statuses each status filter lists.
FILTER_STATUSES = {
    None: ("todo", "draft", "submitted"),
    "todo": ("todo", "draft"),
    "draft": ("draft",),
    "submitted": ("submitted",),
}
#: Sort keys that depend on the grader's status (a blinded score is shown once submitted).
STATUS_SORTS = ("status", "probability", "uncertainty")
ROW_ID_ROLE = Qt.ItemDataRole.UserRole + 1
#: The model scores of a row for the model columns (``ui.prediction.worklist_columns``):
#: (probability, uncertainty, hidden).
SCORES_ROLE = Qt.ItemDataRole.UserRole + 2
THUMB_HEIGHT = 48
#: Pages of rows kept around the view (a page is ``PAGE_SIZE`` rows).
MAX_PAGES = 8
#: The sort key of each column (the model columns' P(ROP) and uncertainty follow the source's).
SORT_KEYS = ("order", "patient", "eye", "exam_date", "camera", "status", "file", "probability", "uncertainty")
COLUMN_WIDTHS = (THUMB_HEIGHT * 4 // 3 + 12, 80, 44, 86, 96, 78, 160)
#: The status filter's *Needs attention* entry (``WorklistQuery.attention``; ``services.exams``).
ATTENTION = "attention"
ATTENTION_TIP = (
    "The latest visits of the eyes that got worse since the visit before, or are treatment-warranted "
    "(your grades; the reference standard for adjudicators and admins)"
)
#: How long the patient search waits after the last key before asking.
SEARCH_DELAY_MS = 250


class WorklistSource(Protocol):
    """Where a paged worklist reads its rows (the workspace binds the grading service to it)."""

    def page(self, offset: int, limit: int) -> Sequence[WorklistRow]:
        """Rows ``offset`` .. ``offset + limit`` of the list."""

    def position(self, image_id: int) -> int | None:
        """The row of ``image_id`` in the list, or None when it is not listed."""


class _Rows:
    """A list already in memory as a source (small lists, tests)."""

    def __init__(self, rows: Sequence[WorklistRow]) -> None:
        self.rows = list(rows)

    def page(self, offset: int, limit: int) -> Sequence[WorklistRow]:
        return self.rows[offset : offset + limit]

    def position(self, image_id: int) -> int | None:
        return next((i for i, r in enumerate(self.rows) if r.image_id == image_id), None)


class WorklistModel(QAbstractTableModel):
    """A window of pages over a :class:`WorklistSource` (see the module docstring).

    Signals: ``sortRequested(key, descending)`` when a header asks for another order (the owner
    reloads the list: the service sorts); ``loadFailed(exception)`` when the source refused or
    failed to give a page (the rows stay empty; the owner says why)."""

    COLUMNS = ("", "Patient", "Eye", "Exam", "Camera", "Status", "File")

    sortRequested = Signal(str, bool)
    loadFailed = Signal(object)
    refreshed = Signal()

    def __init__(
        self,
        parent: Any = None,
        *,
        page_size: int | None = None,
        max_pages: int | None = None,
        thumbnails: ThumbnailLoader | None = None,
    ) -> None:
        super().__init__(parent)
        self.page_size = page_size or PAGE_SIZE
        self.max_pages = max_pages or MAX_PAGES
        self._source: WorklistSource = _Rows([])
        self._total = 0
        self._pages: OrderedDict[int, list[WorklistRow]] = OrderedDict()
        self._row_of: dict[int, int] = {}
        self._sort = ("order", False)
        self._status_filter: str | None = None
        self._other_filter = False
        #: Held rows (module docstring): image id -> (its row in the list, the row as it is now).
        self._held: dict[int, tuple[int, WorklistRow]] = {}
        #: Where the held rows still listed by the source are in the source's list (None: not asked).
        self._held_in_source: list[int] | None = None
        #: The image the grader is on and its row, kept even when its page is dropped: its edit
        #: must find its place to hold it there.
        self._current: tuple[int, WorklistRow] | None = None
        self._missing_thumbs: set[int] = set()
        #: How many pages were read from the source (the tests count them).
        self.fetches = 0
        self.thumbnails = thumbnails
        if thumbnails is not None:
            thumbnails.loaded.connect(self._on_thumbnail)

    # ------------------------------------------------------------------ data in
    def set_rows(self, rows: Sequence[WorklistRow]) -> None:
        """Show a list already in memory."""
        self.set_source(_Rows(rows), len(rows), rows)

    def set_source(self, source: WorklistSource, total: int, rows: Sequence[WorklistRow] = (), offset: int = 0) -> None:
        """Show the list of ``source`` (``total`` rows); ``rows`` is its page at ``offset`` when
        already read (it saves the first query)."""
        self.beginResetModel()
        self._source = source
        self._total = max(0, int(total))
        self._pages.clear()
        self._row_of.clear()
        self._held.clear()
        self._held_in_source = None
        self._current = None
        if rows:
            start = offset - offset % self.page_size
            if start == offset:
                for k in range(0, len(rows), self.page_size):
                    self._store(start // self.page_size + k // self.page_size, list(rows[k : k + self.page_size]))
        self.endResetModel()

    def set_sort(self, key: str, descending: bool) -> None:
        """The order the list is in now (set by the owner; no signal)."""
        self._sort = (key, descending)

    @property
    def sort_order(self) -> tuple[str, bool]:
        """(sort key, descending) of the list shown."""
        return self._sort

    def set_status_filter(self, status: str | None, *, others: bool = False) -> None:
        """The status filter of the list shown (set by the owner with the list; no signal).
        ``others``: another filter a grade may change (*Needs attention*) narrows the list too."""
        self._status_filter = status
        self._other_filter = others

    def in_filter(self, row: WorklistRow) -> bool:
        """Does the list's status filter still hold ``row``? (A held row that does not is done.)"""
        return row.status in FILTER_STATUSES.get(self._status_filter, FILTER_STATUSES[None])

    def held_ids(self) -> list[int]:
        """The rows held at their place since the list was read (module docstring)."""
        return list(self._held)

    def is_done(self, image_id: int) -> bool:
        """True for a held row that no longer matches the list's filter (shown struck through)."""
        held = self._held.get(image_id)
        return held is not None and not self.in_filter(held[1])

    def update_row(self, row: WorklistRow) -> WorklistRow | None:
        """Replace a cached row by its new state (an edit here or elsewhere); returns the old one.

        A row that is not cached needs nothing: it is read as it is when shown."""
        index = self._row_of.get(row.image_id)
        current = self._current is not None and self._current[1].image_id == row.image_id
        if index is not None:
            page, k = divmod(index, self.page_size)
            old = self._pages[page][k]
            self._pages[page][k] = row
        elif row.image_id in self._held:
            index, old = self._held[row.image_id]
        elif current and self._current is not None:
            index, old = self._current
        else:
            return None
        if current:
            self._current = (index, row)
        if row.image_id in self._held or (old.status != row.status and self._may_move(row)):
            self._held[row.image_id] = (index, row)
            self._held_in_source = None
        self.dataChanged.emit(self.index(index, 0), self.index(index, self.columnCount() - 1))
        return old

    def _may_move(self, row: WorklistRow) -> bool:
        """Would a status change move or drop ``row`` in the source's list? (Then it is held.)"""
        return self._status_filter is not None or self._other_filter or self._sort[0] in STATUS_SORTS

    def update_status(self, image_id: int, status: str) -> WorklistRow | None:
        """Set a cached row's status (after this grader's own edit); returns the old row."""
        row = self.cached_row(image_id)
        return self.update_row(replace(row, status=status)) if row is not None else None

    def reload(self) -> None:
        """Read the cached pages again (scores or statuses changed): same rows, same places —
        the held rows too (module docstring); ``refreshed`` follows."""
        pages = list(self._pages)
        self._pages.clear()
        self._row_of.clear()
        self._held_in_source = None
        for page in pages:
            self._page(page)
        if self._total:
            self.dataChanged.emit(self.index(0, 0), self.index(self._total - 1, self.columnCount() - 1))
        self.refreshed.emit()

    # ------------------------------------------------------------------ rows
    @property
    def total(self) -> int:
        return self._total

    def row_of(self, image_id: int) -> int | None:
        """The row of ``image_id``: from the cached pages, else asked of the source."""
        row = self._row_of.get(image_id)
        if row is not None:
            return row
        if image_id in self._held:
            return self._held[image_id][0]
        try:
            row = self._source.position(image_id)
            row = self._view_row(row) if row is not None else None
        except Exception as exc:  # noqa: BLE001 - a refusal or a lost database: the owner says why
            self.loadFailed.emit(exc)
            return None
        return row if row is not None and 0 <= row < self._total else None

    def row_at(self, row: int) -> WorklistRow | None:
        """The row ``row`` (read with its page when not cached); None past the end."""
        if not 0 <= row < self._total:
            return None
        page, k = divmod(row, self.page_size)
        rows = self._page(page)
        return rows[k] if k < len(rows) else None

    def image_id_at(self, row: int) -> int | None:
        found = self.row_at(row)
        return found.image_id if found is not None else None

    def cached_row(self, image_id: int) -> WorklistRow | None:
        """The row of ``image_id`` if in memory (a cached page, a held row, the current image)."""
        index = self._row_of.get(image_id)
        if index is None:
            if image_id in self._held:
                return self._held[image_id][1]
            if self._current is not None and self._current[1].image_id == image_id:
                return self._current[1]
            return None
        page, k = divmod(index, self.page_size)
        return self._pages[page][k]

    def set_current(self, row: int) -> None:
        """The grader is on row ``row``: keep it (and its place) in memory while they are."""
        found = self.row_at(row)
        self._current = (row, found) if found is not None else None

    def cached_image_ids(self) -> list[int]:
        """The images of the cached pages (what an edit elsewhere may need to refresh)."""
        return list(self._row_of)

    def cached_pages(self) -> list[int]:
        return sorted(self._pages)

    def rows(self) -> list[WorklistRow]:
        """Every row of the list as the view would show it (cached pages as they are, the others
        read): for tests and small lists only — the view never calls it."""
        out = []
        for page in range((self._total + self.page_size - 1) // self.page_size):
            out += self._page(page)
        return out

    def _page(self, page: int) -> list[WorklistRow]:
        rows = self._pages.get(page)
        if rows is not None:
            self._pages.move_to_end(page)
            return rows
        try:
            if self._held:
                rows = self._read_around_held(page * self.page_size, min(self._total, (page + 1) * self.page_size))
            else:
                rows = list(self._source.page(page * self.page_size, self.page_size))
        except Exception as exc:  # noqa: BLE001 - shown by the owner; the rows stay empty
            self.loadFailed.emit(exc)
            return []
        self.fetches += 1
        self._store(page, rows)
        return rows

    # ------------------------------------------------------------------ held rows (module docstring)
    # The source's list is the list as read less the held rows, plus the held rows it still holds
    # (at positions of their own). Rows that are not held keep their order in both; a row's
    # "rank" is its place among them.
    def _held_rows_in_list(self) -> list[int]:
        return sorted(place for place, _row in self._held.values())

    def _source_places_of_held(self) -> list[int]:
        """Where the held rows the source still lists are in its list (asked once per change)."""
        if self._held_in_source is None:
            places = []
            for image_id, (_place, row) in self._held.items():
                if self.in_filter(row):
                    found = self._source.position(image_id)
                    if found is not None:
                        places.append(found)
            self._held_in_source = sorted(places)
        return self._held_in_source

    def _view_row(self, source_row: int) -> int:
        """The row in this list of a row that is not held, from its place in the source's list."""
        rank = source_row - bisect_left(self._source_places_of_held(), source_row)
        row = rank
        for place in self._held_rows_in_list():
            if place <= row:
                row += 1
            else:
                break
        return row

    def _read_around_held(self, start: int, end: int) -> list[WorklistRow]:
        """Rows ``start`` .. ``end`` of the list as read, the held ones where they were."""
        held_at = {place: row for place, row in self._held.values()}
        held_places = self._held_rows_in_list()
        free = [p for p in range(start, end) if p not in held_at]
        fresh: list[WorklistRow] = []
        if free:
            rank = free[0] - bisect_left(held_places, free[0])
            offset = rank
            in_source = self._source_places_of_held()
            for place in in_source:
                if place <= offset:
                    offset += 1
                else:
                    break
            extra = len(in_source) - bisect_left(in_source, offset)
            held_ids = set(self._held)
            fresh = [r for r in self._source.page(offset, len(free) + extra) if r.image_id not in held_ids]
        out: list[WorklistRow] = []
        rows = iter(fresh[: len(free)])
        for place in range(start, end):
            row = held_at.get(place) or next(rows, None)
            if row is None:
                break  # the source has fewer rows now: the list ends here until a refresh
            out.append(row)
        return out

    def _store(self, page: int, rows: list[WorklistRow]) -> None:
        self._pages[page] = rows
        start = page * self.page_size
        for k, row in enumerate(rows):
            self._row_of[row.image_id] = start + k
        while len(self._pages) > self.max_pages:
            old, dropped = self._pages.popitem(last=False)
            for k, row in enumerate(dropped):
                if self._row_of.get(row.image_id) == old * self.page_size + k:
                    del self._row_of[row.image_id]

    # ------------------------------------------------------------------ thumbnails
    def _thumbnail(self, row: WorklistRow) -> QPixmap | None:
        if row.thumbnail is None or row.image_id in self._missing_thumbs:
            return None
        pixmap = QPixmap()
        if QPixmapCache.find(_thumb_key(row.thumbnail), pixmap) and not pixmap.isNull():
            return pixmap
        if self.thumbnails is not None:
            self.thumbnails.request(row.image_id, row.thumbnail)
        return None

    def _on_thumbnail(self, image_id: int, image: Any) -> None:
        if image is None or image.isNull():
            self._missing_thumbs.add(image_id)
            return
        row = self._row_of.get(image_id)
        cached = self.cached_row(image_id)
        if cached is None or cached.thumbnail is None:
            return  # the list changed meanwhile: asked for again when painted
        QPixmapCache.insert(_thumb_key(cached.thumbnail), QPixmap.fromImage(image))
        if row is not None:
            index = self.index(row, 0)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else self._total

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(  # noqa: N802 - Qt override
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section] if section < len(self.COLUMNS) else None
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """A header asks for another order: say so (the owner reloads the list sorted)."""
        key = SORT_KEYS[column] if 0 <= column < len(SORT_KEYS) else "order"
        wanted = (key, order == Qt.SortOrder.DescendingOrder)
        if wanted != self._sort:
            self._sort = wanted
            self.sortRequested.emit(*wanted)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.row_at(index.row())
        if row is None:
            return "…" if role == Qt.ItemDataRole.DisplayRole and index.column() == 1 else None
        col = index.column()
        done = row.image_id in self._held and not self.in_filter(row)
        if done and role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(DONE_COLOR)
        if done and role == Qt.ItemDataRole.FontRole and col > 0:
            font = QFont()
            font.setStrikeOut(True)
            return font
        if done and role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"{row.original_name}: {STATUS_LABEL[row.status].lower()} — no longer in this list; it stays "
                "here until you refresh the list (↻ or F5)"
            )
        if role == ROW_ID_ROLE:
            return row.image_id
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                1: row.patient,
                2: row.eye.value if row.eye else "–",
                3: row.exam_date.isoformat() if row.exam_date else "–",
                4: row.camera or "–",
                5: STATUS_LABEL[row.status],
                6: row.original_name,
            }.get(col)
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return self._thumbnail(row)
        if role == Qt.ItemDataRole.ForegroundRole and col == 5:
            return QBrush(STATUS_COLOR[row.status])
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{row.original_name}\n{row.width}×{row.height}  {row.site or ''}"
        if role == SCORES_ROLE:
            return (row.probability, row.uncertainty, row.scores_hidden)
        return None


def _thumb_key(path: Path) -> str:
    """The pixmap cache's key of a thumbnail file (unique across studies open in one process)."""
    return f"rop-worklist-thumb:{path}"


class WorklistPanel(QWidget):
    """Filter bar + table + footer. Emits ``imageActivated(id)`` when the grader picks an image
    and ``filterChanged(dict)`` (:meth:`filters`) when the filters or the order change, or the
    grader asks for the list again (:meth:`refresh_list`: ↻ or F5)."""

    imageActivated = Signal(int)
    filterChanged = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = ThumbnailLoader(THUMB_HEIGHT, parent=self)
        self.model = WorklistModel(self, thumbnails=self.thumbnails)
        self.status_filter = QComboBox()
        for label, value in (
            ("To do for me", "todo"),
            ("All images", None),
            ("My drafts", "draft"),
            ("Submitted by me", "submitted"),
            ("Needs attention", ATTENTION),
        ):
            self.status_filter.addItem(label, value)
        self.status_filter.setItemData(self.status_filter.count() - 1, ATTENTION_TIP, Qt.ItemDataRole.ToolTipRole)
        self.patient_search = QLineEdit()
        self.patient_search.setObjectName("patientSearch")
        self.patient_search.setPlaceholderText("Patient code…")
        self.patient_search.setClearButtonEnabled(True)
        self.patient_search.setToolTip("Show the images of the patients whose code starts with this")
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._emit_filters)
        self.camera_filter = QComboBox()
        self.camera_filter.addItem("All cameras", None)
        self.refresh_button = QToolButton()
        self.refresh_button.setObjectName("worklistRefresh")
        self.refresh_button.setText("↻")
        self.refresh_button.setToolTip(
            "Refresh the list (F5): rows that are done leave it. Until then they stay "
            "where they are, struck through, so nothing moves under the pointer."
        )
        self.refresh_button.clicked.connect(self.refresh_list)
        self.count_label = QLabel()
        self.count_label.setObjectName("worklistCount")
        self.count_label.setWordWrap(True)
        self.count_label.setToolTip(
            "Your totals for the whole study, whatever the filter: to do (not submitted, "
            "drafts included), drafts and submitted; then how many rows this list holds."
        )
        self._total = 0
        self._totals: GraderTotals | None = None
        self._quiet = False  # a selection made by the owner: no imageActivated
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vertical = self.table.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(THUMB_HEIGHT + 4)
        self.table.setIconSize(QSize(THUMB_HEIGHT * 4 // 3, THUMB_HEIGHT))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)  # never sized to the contents
        header.setStretchLastSection(True)
        header.setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        header.setSortIndicatorShown(True)
        self._apply_widths()
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

        filters = QHBoxLayout()
        filters.addWidget(self.status_filter, 2)
        filters.addWidget(self.patient_search, 1)
        filters.addWidget(self.camera_filter, 1)
        filters.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)

        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        self.status_filter.currentIndexChanged.connect(lambda _=0: self._emit_filters())
        self.camera_filter.currentIndexChanged.connect(lambda _=0: self._emit_filters())
        self.patient_search.textChanged.connect(lambda _text: self._search_timer.start())
        self.patient_search.returnPressed.connect(self._emit_filters)
        self.model.sortRequested.connect(lambda _key, _descending: self._emit_filters())

    def _apply_widths(self) -> None:
        for column, width in enumerate(COLUMN_WIDTHS):
            self.table.setColumnWidth(column, width)
        self._order_sections()

    def _order_sections(self) -> None:
        """Camera and file name shown last, after the columns a proxy appends (the model's P(ROP),
        the treatment badge): what a clinician reads — who, which eye, which visit, done or not,
        how urgent — fits a laptop's worklist without scrolling sideways. Only the view's order
        changes; the model's column numbers stay."""
        header = self.table.horizontalHeader()
        for logical in (WorklistModel.COLUMNS.index("Camera"), WorklistModel.COLUMNS.index("File")):
            header.moveSection(header.visualIndex(logical), header.count() - 1)

    def set_proxy(self, proxy: Any) -> None:
        """Show the worklist through a row-preserving proxy that appends columns (the model's
        scores, the treatment badge); a second proxy stacks on the first. A proxy's columns take
        its ``column_width`` (64 px without one); the columns below keep theirs."""
        below = self.table.model()
        widths = [self.table.columnWidth(column) for column in range(below.columnCount())]
        proxy.setSourceModel(below)
        self.table.setModel(proxy)
        self._apply_widths()
        for column in range(len(COLUMN_WIDTHS), proxy.columnCount()):
            self.table.setColumnWidth(
                column, widths[column] if column < len(widths) else getattr(proxy, "column_width", 64)
            )
        self.table.selectionModel().currentRowChanged.connect(self._on_current)

    def set_cameras(self, cameras: Sequence[str]) -> None:
        """The camera filter's choices (keeps the one chosen when it is still there)."""
        chosen = self.camera_filter.currentData()
        self.camera_filter.blockSignals(True)
        self.camera_filter.clear()
        self.camera_filter.addItem("All cameras", None)
        for value in cameras:
            self.camera_filter.addItem(value, value)
        self.camera_filter.setCurrentIndex(max(0, self.camera_filter.findData(chosen)))
        self.camera_filter.blockSignals(False)

    def filters(self) -> dict[str, Any]:
        """The list asked for: status, patient (code prefix), camera, sort key and direction, and
        whether only the eyes that need attention are listed."""
        key, descending = self.model.sort_order
        status = self.status_filter.currentData()
        attention = status == ATTENTION
        return {
            "status": None if attention else status,
            "patient": self.patient_search.text().strip() or None,
            "camera": self.camera_filter.currentData(),
            "sort": key,
            "descending": descending,
            "attention": attention,
        }

    def _emit_filters(self) -> None:
        self._search_timer.stop()
        self.filterChanged.emit(self.filters())

    def refresh_list(self) -> None:
        """Ask for the list again (the rows held since it was read, done ones included, take their
        places in the list as it is now)."""
        self._emit_filters()

    def set_page(self, page: WorklistPage, source: WorklistSource, current: int | None = None) -> None:
        """Show the list whose first page (and counts) the service returned; select ``current``
        where ``page.position`` says it is (no signal)."""
        self._quiet = True
        try:
            self.model.set_sort(page.query.sort, page.query.descending)
            self.model.set_status_filter(page.query.status, others=page.query.attention)
            self.model.set_source(source, page.total, page.rows, page.offset)
        finally:
            self._quiet = False
        self._total = page.total
        if page.totals is not None:
            self._totals = page.totals
        self._show_count()
        if current is not None and page.position is not None:
            self._select_row(page.position, emit=False)

    def set_rows(self, rows: Sequence[WorklistRow], current: int | None = None) -> None:
        """Show a list already in memory (small lists, tests)."""
        self._quiet = True
        try:
            self.model.set_status_filter(None)
            self.model.set_rows(rows)
        finally:
            self._quiet = False
        self._total = len(rows)
        submitted = sum(r.status == "submitted" for r in rows)
        self._totals = GraderTotals(len(rows), sum(r.status == "draft" for r in rows), submitted)
        self._show_count()
        if current is not None:
            self.select(current, emit=False)

    def update_row(self, row: WorklistRow) -> None:
        """A row changed (this grader's edit, here or elsewhere): the row, in its place. (The owner
        sets the totals below: :meth:`set_totals`.)"""
        self.model.update_row(row)

    def set_totals(self, totals: GraderTotals) -> None:
        """The grader's totals for the whole study (after an edit changed a status)."""
        self._totals = totals
        self._show_count()

    @property
    def totals(self) -> GraderTotals | None:
        return self._totals

    def set_status(self, image_id: int, status: str) -> None:
        row = self.model.cached_row(image_id)
        if row is not None:
            self.update_row(replace(row, status=status))

    def _show_count(self) -> None:
        listed = f"{self._total:,} image{'s' if self._total != 1 else ''} in this list"
        t = self._totals
        if t is None:
            self.count_label.setText(listed)
            return
        drafts = f"{t.drafts:,} draft{'s' if t.drafts != 1 else ''}"
        self.count_label.setText(f"Mine: {t.todo:,} to do · {drafts} · {t.submitted:,} submitted — {listed}")

    def select(self, image_id: int, *, emit: bool = False) -> None:
        row = self.model.row_of(image_id)
        if row is None:
            self.table.clearSelection()
            return
        self._select_row(row, emit=emit)

    def _select_row(self, row: int, *, emit: bool) -> None:
        # The selection model keeps its signals (the view repaints the rows whose highlight
        # changed from them: blocked, the old row stayed highlighted); only the panel's own
        # "image picked" reaction is kept quiet when the owner selects.
        self.model.set_current(row)
        self._quiet = not emit
        try:
            self.table.selectRow(row)
        finally:
            self._quiet = False
        self.table.scrollTo(self.table.model().index(row, 0))

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid() and not self._quiet:
            image_id = self.model.image_id_at(current.row())
            if image_id is not None:
                self.imageActivated.emit(image_id)

    def shutdown(self) -> None:
        """Stop the thumbnail thread (the window closes)."""
        self.thumbnails.shutdown()
