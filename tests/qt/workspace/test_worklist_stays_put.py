"""Issue 17 items 2 and 3 in the real window: the worklist never reshuffles under the pointer, and
the footer shows the grader's own totals for the study whatever the filter.

The demo study's "To do for me" list is shown in pages of 4 rows with at most 2 pages in memory,
so scrolling through it reads pages again after a submit — where rows used to shift by one.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont

PAGE, PAGES = 4, 2


def _small_pages(ws) -> None:
    model = ws.window.worklist.model
    model.page_size, model.max_pages = PAGE, PAGES
    ws.workspace.refresh_worklist()  # the same list, read again in small pages


def _listed(model) -> list[int]:
    return [model.image_id_at(r) for r in range(model.rowCount())]


def _scroll_through(ws) -> None:
    """Down to the end and back up, painting as the grader's scrolling does (pages are read)."""
    table = ws.window.worklist.table
    bar = table.verticalScrollBar()
    for value in [*range(0, bar.maximum() + 1, max(1, bar.maximum() // 8)), bar.maximum(), 0]:
        bar.setValue(value)
        table.viewport().repaint()


def _click_row(ws, row: int) -> None:
    table = ws.window.worklist.table
    rect = table.visualRect(table.model().index(row, 1))
    ws.qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_after_a_submit_and_a_refresh_the_same_place_opens_the_intended_image(qtbot, ws) -> None:
    _small_pages(ws)
    model, table = ws.window.worklist.model, ws.window.worklist.table
    before = _listed(model)
    submitted = ws.current
    assert before[0] == submitted and len(before) > 3 * PAGE
    intended = before[2]
    place = table.visualRect(table.model().index(2, 1)).center()  # where the grader will click

    ws.key("n")  # no ROP: a complete grade, one Enter submits and opens the next image to do
    with qtbot.waitSignal(ws.workspace.imageShown, timeout=10_000):
        ws.key(Qt.Key.Key_Return)
    assert ws.stored_grade(submitted).submitted
    _scroll_through(ws)  # pages dropped and read again after the submit
    with qtbot.waitSignal(model.refreshed, timeout=2000):
        model.reload()  # the cached pages read again, as after a change of scores

    assert _listed(model) == before  # no row moved, none vanished, none repeated
    assert table.visualRect(table.model().index(2, 1)).center() == place
    with qtbot.waitSignal(ws.workspace.imageShown, timeout=10_000) as shown:
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=place)
    assert shown.args == [intended] and ws.current == intended
    assert table.selectionModel().selectedRows()[0].row() == 2

    done = model.index(0, 1)  # the submitted row: still there, greyed and struck through
    assert model.is_done(submitted) and model.row_of(submitted) == 0
    assert isinstance(done.data(Qt.ItemDataRole.FontRole), QFont) and done.data(Qt.ItemDataRole.FontRole).strikeOut()
    assert "refresh" in done.data(Qt.ItemDataRole.ToolTipRole)

    ws.canvas.setFocus()
    with qtbot.waitSignal(ws.window.worklist.filterChanged, timeout=2000):
        ws.key(Qt.Key.Key_F5)  # an explicit refresh: the done row leaves the list
    assert _listed(model) == before[1:] and not model.held_ids()
    assert table.selectionModel().selectedRows()[0].row() == 1  # still on the intended image


def test_a_row_not_in_memory_is_found_in_its_place_after_submits(qtbot, ws) -> None:
    _small_pages(ws)
    model = ws.window.worklist.model
    before = _listed(model)
    for _ in range(2):  # two submits at the top of the list
        ws.key("n")
        with qtbot.waitSignal(ws.workspace.imageShown, timeout=10_000):
            ws.key(Qt.Key.Key_Return)
    far = before[-2]
    _scroll_through(ws)  # back at the top: the last pages are no longer in memory
    assert far not in model.cached_image_ids()
    assert model.row_of(far) == len(before) - 2  # asked of the service, mapped past the held rows
    table = ws.window.worklist.table
    table.scrollTo(table.model().index(len(before) - 2, 1))
    table.viewport().repaint()
    assert _listed(model) == before
    with qtbot.waitSignal(ws.workspace.imageShown, timeout=10_000) as shown:
        _click_row(ws, len(before) - 2)
    assert shown.args == [far]


def test_the_footer_counts_my_work_in_the_whole_study_whatever_the_filter(qtbot, ws) -> None:
    panel = ws.window.worklist
    total = panel.model.rowCount()
    assert panel.count_label.text() == f"Mine: {total} to do · 0 drafts · 0 submitted — {total} images in this list"
    for _ in range(3):
        ws.key("n")
        with qtbot.waitSignal(ws.workspace.imageShown, timeout=10_000):
            ws.key(Qt.Key.Key_Return)
    ws.key("y")  # a draft started on the fourth image
    mine = f"Mine: {total - 3} to do · 1 draft · 3 submitted"
    assert panel.count_label.text().startswith(mine)

    for label, listed in (("My drafts", 1), ("Submitted by me", 3), ("All images", total)):
        with qtbot.waitSignal(panel.filterChanged, timeout=2000):
            panel.status_filter.setCurrentIndex(panel.status_filter.findText(label))
        assert panel.count_label.text() == f"{mine} — {listed} image{'s' if listed != 1 else ''} in this list"


class _StatusSorted:
    """A source that lists rows as the service does when sorted by status (to do, drafts,
    submitted; import order within each): a status change moves a row in it."""

    def __init__(self, rows) -> None:
        self.rows = {r.image_id: r for r in rows}

    def listed(self) -> list:
        rank = {"todo": 0, "draft": 1, "submitted": 2}
        return sorted(self.rows.values(), key=lambda r: (rank[r.status], r.image_id))

    def page(self, offset: int, limit: int) -> list:
        return self.listed()[offset:offset + limit]

    def position(self, image_id: int) -> int | None:
        return next((i for i, r in enumerate(self.listed()) if r.image_id == image_id), None)


def test_sorted_by_status_a_started_draft_keeps_its_row_on_every_page(qtbot) -> None:
    from dataclasses import replace

    from rop_desktop.services.grading import WorklistRow
    from rop_desktop.ui.worklist import WorklistModel

    rows = [WorklistRow(i, f"{i}.png", f"P{i:03d}", None, None, None, None, 10, 10, None, "todo")
            for i in range(1, 31)]
    source = _StatusSorted(rows)
    model = WorklistModel(page_size=4, max_pages=2)
    model.set_sort("status", False)
    model.set_source(source, len(rows), source.page(0, 4))
    before = [model.image_id_at(r) for r in range(model.rowCount())]
    for image_id in (2, 9, 17):  # drafts started (the source now lists them after every "to do" row)
        model.set_current(model.row_of(image_id))
        changed = replace(source.rows[image_id], status="draft")
        source.rows[image_id] = changed
        model.update_row(changed)
    assert source.position(2) == 27  # it moved in the source's list …
    with qtbot.waitSignal(model.refreshed, timeout=1000):
        model.reload()
    assert [model.image_id_at(r) for r in range(model.rowCount())] == before  # … not in the window's
    assert [model.row_of(i) for i in (2, 9, 17, 30)] == [1, 8, 16, 29]
    assert not model.is_done(9)  # still in the list (a draft is "to do"), only held in place


def test_the_highlight_follows_the_image_opened_by_a_key_and_survives_a_refresh(qtbot, ws) -> None:
    """Issue 17 item 8: the view is told when the window selects a row itself (it repaints the
    old and the new row), so no stale row stays highlighted after a key or a refresh."""
    table = ws.window.worklist.table
    first = ws.current
    assert [i.row() for i in table.selectionModel().selectedRows()] == [0]
    with (
        qtbot.waitSignal(table.selectionModel().selectionChanged, timeout=5000) as changed,
        qtbot.waitSignal(ws.workspace.imageShown, timeout=10_000),
    ):
        ws.key(Qt.Key.Key_PageDown)  # the next image to do, opened by a key, not a click
    selected, deselected = changed.args
    assert {i.row() for i in selected.indexes()} == {1} and {i.row() for i in deselected.indexes()} == {0}
    assert ws.current != first
    ws.canvas.setFocus()
    with qtbot.waitSignal(ws.window.worklist.filterChanged, timeout=2000):
        ws.key(Qt.Key.Key_F5)
    assert [i.row() for i in table.selectionModel().selectedRows()] == [ws.window.worklist.model.row_of(ws.current)]
