"""The worklist in the real window: a *Class* column with the treatment badge of each image's eye
at that visit, and a *Needs attention* filter listing the latest visits of the eyes that got worse
— beside the model's score columns, which still sort by their own key."""

from __future__ import annotations

from PySide6.QtCore import Qt

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.services.exams import ExamService
from rop_desktop.services.grading import GradingService
from rop_desktop.ui.worklist import ROW_ID_ROLE


def g(stage: str, zone: Zone, plus: Plus) -> GradeValues:
    s = Stage.parse(stage)
    return GradeValues(rop=RopPresence.NO if s is Stage.S0 else RopPresence.YES, stage=s, zone=zone, plus=plus,
                       quality=Quality.GRADABLE)


def _column(table, title: str) -> int:
    model = table.model()
    titles = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert title in titles, titles
    return titles.index(title)


def _listed(table) -> list[int]:
    model = table.model()
    return [model.index(r, 0).data(ROW_ID_ROLE) for r in range(model.rowCount())]


def test_the_class_column_shows_the_eyes_badge_and_needs_attention_lists_the_worse_eyes(ws) -> None:
    exams, grading = ExamService(ws.store, ws.actor), GradingService(ws.store, ws.actor)
    state = next(s for s in (exams.state(r.image_id) for r in grading.worklist()) if len(s.info.images) >= 2)
    first, second = (i.image_id for i in state.info.images[:2])
    grading.submit(first, g("1", Zone.II, Plus.NORMAL))
    grading.submit(second, g("3", Zone.I, Plus.PLUS))         # the eye: zone I, stage 3 with plus → Type 1
    panel = ws.window.worklist
    panel.status_filter.setCurrentIndex(panel.status_filter.findData(None))   # All images
    table = panel.table
    column = _column(table, "Class")
    row = _listed(table).index(first)
    cell = table.model().index(row, column)
    assert cell.data() == "Treatment-warranted · Type 1"
    assert "Zone I, stage 3 with plus disease" in cell.data(Qt.ItemDataRole.ToolTipRole)
    assert table.columnWidth(column) == 150

    # Needs attention: exactly the images of the latest visits of the eyes the service lists
    wanted = {i for item in exams.needs_attention() for i in item.image_ids}
    assert {first, second} <= wanted
    panel.status_filter.setCurrentIndex(panel.status_filter.findData("attention"))
    ws.qtbot.waitUntil(lambda: set(_listed(table)) == wanted, timeout=5000)
    assert panel.filters()["attention"] and panel.filters()["status"] is None

    # the eye-level grade, once given, is the class the worklist shows
    exams.submit(state.info.key, g("3", Zone.POSTERIOR_II, Plus.NORMAL))
    ws.window.wiring.exams.refresh(first)                             # the exam view reads the eye and its rows again
    assert table.model().index(_listed(table).index(first), column).data() == "Close follow-up · Type 2"

    # the model's columns, stacked with the class column, still sort by their own key
    probability = _column(table, "P(ROP)")
    table.horizontalHeader().setSortIndicator(probability, Qt.SortOrder.DescendingOrder)
    assert panel.model.sort_order == ("probability", True)
    table.horizontalHeader().setSortIndicator(column, Qt.SortOrder.AscendingOrder)
    assert panel.model.sort_order == ("order", False)
