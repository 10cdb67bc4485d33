"""Issue 15 in the real window: the worklist of a large study pages, sorts, searches, loads its
thumbnails off the UI thread, and an edit — here or on another workstation — updates its row,
never the whole list.

The study (1,200 images of 300 patients, filled in bulk; every row points at one real PNG and
has a real thumbnail) is opened by ``build_window`` for the grader "Me", who has submitted the
first 300 images; the worklist shows "To do for me" (900 rows) in pages of 50.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHeaderView

from rop_desktop.app import build_window
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Quality, RopPresence, Stage
from rop_desktop.imaging.thumbnails import encode_jpeg, make_thumbnail
from rop_desktop.services.changes import ChangeFeed
from rop_desktop.services.grading import GradingService
from rop_desktop.services.importer import thumbnail_file
from rop_desktop.store import Study
from rop_desktop.store.schema import Exam, Grade, Image, Patient
from rop_desktop.store.types import utcnow
from rop_desktop.ui import worklist as worklist_module

N_IMAGES, DONE, PAGE = 1200, 300, 50
DRAFT = GradeValues(rop=RopPresence.YES, stage=Stage.S1, quality=Quality.GRADABLE)


def fill(study: Study, me: int, others: int) -> None:
    """N_IMAGES images (one real 640x480 PNG and thumbnail shared by all), 4 per patient; "Me" has
    submitted the first DONE, another grader the first half."""
    yy, xx = np.mgrid[0:480, 0:640]
    rgb = np.dstack([xx * 255 // 640, yy * 255 // 480, np.full_like(xx, 90)]).astype(np.uint8)
    cv2.circle(rgb, (320, 240), 200, (200, 90, 60), -1)
    data = cv2.imencode(".png", rgb)[1].tobytes()
    sha = hashlib.sha256(data).hexdigest()
    file = study.store_image_bytes(data, sha, "png")
    thumb = study.cache_path(thumbnail_file(sha))
    thumb.parent.mkdir(parents=True, exist_ok=True)
    thumb.write_bytes(encode_jpeg(make_thumbnail(rgb, 256)))
    now = utcnow()
    with study.engine.begin() as conn:
        conn.execute(Patient.__table__.insert(), [{"id": p + 1, "code": f"P{p:05d}", "created_at": now}
                                                  for p in range(N_IMAGES // 4)])
        conn.execute(Exam.__table__.insert(), [{"id": e + 1, "patient_id": e // 2 + 1, "camera": "RetCam 3",
                                                "exam_date": date(2025, 3, 1) + timedelta(days=e % 30)}
                                               for e in range(N_IMAGES // 2)])
        rows = []
        for i in range(N_IMAGES):
            row_sha = hashlib.sha256(f"row {i}".encode()).hexdigest()
            link = study.cache_path(thumbnail_file(row_sha))
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(thumb, link)
            rows.append({"id": i + 1, "exam_id": i // 2 + 1, "eye": "OD" if i % 2 == 0 else "OS", "file": file,
                         "original_name": f"{N_IMAGES - i:05d}.png", "sha256": row_sha, "width": 640, "height": 480,
                         "format": "png", "imported_at": now, "bytes": len(data)})
        conn.execute(Image.__table__.insert(), rows)
        grades = [{"image_id": i + 1, "grader_id": who, "rop": "no", "stage": "0", "quality": "gradable", "comment": "",
                   "submitted": True, "submitted_at": now, "created_at": now, "updated_at": now, "version_id": 1}
                  for who, upto in ((me, DONE), (others, N_IMAGES // 2)) for i in range(upto)]
        conn.execute(Grade.__table__.insert(), grades)


@pytest.fixture
def big(qtbot, tmp_path: Path, account, monkeypatch):
    """The window of "Me" on the bulk study (pages of PAGE rows), shown and on its first image."""
    monkeypatch.setattr(worklist_module, "PAGE_SIZE", PAGE)
    with Study.create(tmp_path / "big") as setup:
        fill(setup, account(setup, "Me").id, account(setup, "Dr. Other").id)
    study = Study.open(tmp_path / "big")
    window = build_window(study, account(study, "Me"))
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=10_000):
        window.wiring.workspace.start()
    yield window
    window.close()
    study.close()


@pytest.fixture
def resets(big) -> Iterator[list[int]]:
    """Every reset of the worklist model from now on (a rebuilt list)."""
    seen: list[int] = []
    big.worklist.model.modelReset.connect(lambda: seen.append(1))
    yield seen


def test_a_large_worklist_holds_its_size_but_reads_only_the_pages_it_shows(qtbot, big) -> None:
    panel, model = big.worklist, big.worklist.model
    assert model.rowCount() == N_IMAGES - DONE and model.page_size == PAGE
    assert model.image_id_at(0) == DONE + 1 == big.wiring.workspace.current  # the first image to do, selected
    assert len(model.cached_pages()) <= 2 and model.fetches <= 2
    assert panel.count_label.text() == "Mine: 900 to do · 0 drafts · 300 submitted — 900 images in this list"

    bar = panel.table.verticalScrollBar()
    bar.setValue(bar.maximum())  # to the end: the view paints the last rows, the model reads their page
    qtbot.waitUntil(lambda: model.rowCount() - 1 in range(model.cached_pages()[-1] * PAGE, model.rowCount()))
    last = panel.table.model().index(model.rowCount() - 1, 6).data()
    assert last == GradingService(big.wiring.workspace.service.study, big.wiring.workspace.service.actor).worklist(
        "todo", offset=model.rowCount() - 1, limit=1)[0].original_name
    for value in range(0, bar.maximum(), bar.maximum() // 30):  # scroll through the whole list
        bar.setValue(value)
        panel.table.viewport().repaint()
    assert len(model.cached_pages()) <= worklist_module.MAX_PAGES  # never the whole list in memory


def test_a_click_on_a_column_header_sorts_the_list_by_it_in_the_database(qtbot, big) -> None:
    panel, header = big.worklist, big.worklist.table.horizontalHeader()
    service = big.wiring.workspace.service
    patient = 1  # the "Patient" column
    point = QPoint(header.sectionViewportPosition(patient) + 10, header.height() // 2)
    with qtbot.waitSignal(panel.filterChanged, timeout=2000) as asked:
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=point)
    first = asked.args[0]
    assert first["sort"] == "patient"
    shown = [panel.table.model().index(r, 1).data() for r in range(5)]
    expected = [r.patient for r in service.worklist("todo", sort="patient", descending=first["descending"], limit=5)]
    assert shown == expected
    with qtbot.waitSignal(panel.filterChanged, timeout=2000) as again:
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert again.args[0]["sort"] == "patient" and again.args[0]["descending"] != first["descending"]
    shown = [panel.table.model().index(r, 6).data() for r in range(5)]
    expected = [r.original_name for r in service.worklist("todo", sort="patient",
                                                          descending=again.args[0]["descending"], limit=5)]
    assert shown == expected


def test_the_patient_search_box_filters_by_the_start_of_the_code(qtbot, big) -> None:
    panel = big.worklist
    assert not hasattr(panel, "patient_filter")  # no combo box with every patient any more
    with qtbot.waitSignal(panel.filterChanged, timeout=3000) as asked:  # after a short pause in typing
        qtbot.keyClicks(panel.patient_search, "p0012")
    assert asked.args[0]["patient"] == "p0012"
    rows = panel.model.rows()
    assert rows and {r.patient[:5] for r in rows} == {"P0012"}  # P00120–P00129, as typed or in capitals
    assert panel.model.rowCount() == 40 and "— 40 images in this list" in panel.count_label.text()
    assert panel.count_label.text().startswith("Mine: 900 to do · 0 drafts · 300 submitted")  # not filtered
    with qtbot.waitSignal(panel.filterChanged, timeout=3000):
        panel.patient_search.clear()
    assert panel.model.rowCount() == N_IMAGES - DONE


def test_columns_have_fixed_widths_and_thumbnails_come_from_a_worker_thread(qtbot, big) -> None:
    panel = big.worklist
    header = panel.table.horizontalHeader()
    assert all(header.sectionResizeMode(c) != QHeaderView.ResizeMode.ResizeToContents
               for c in range(header.count()))
    assert panel.table.verticalHeader().sectionResizeMode(0) == QHeaderView.ResizeMode.Fixed
    threads: list[threading.Thread] = []
    real_read = panel.thumbnails._read

    def read(path: Path):
        threads.append(threading.current_thread())
        return real_read(path)

    panel.thumbnails._read = read
    row = panel.model.rowCount() - 1
    panel.table.scrollToBottom()
    panel.table.viewport().repaint()  # paints the last rows: asks for their thumbnails
    qtbot.waitUntil(lambda: isinstance(panel.model.index(row, 0).data(Qt.ItemDataRole.DecorationRole), QPixmap),
                    timeout=5000)
    assert panel.model.index(row, 0).data(Qt.ItemDataRole.DecorationRole).height() == worklist_module.THUMB_HEIGHT
    assert threads and threading.main_thread() not in threads


def test_a_submit_updates_its_row_and_the_feed_does_not_echo_it(qtbot, big, resets: list[int]) -> None:
    workspace, panel = big.wiring.workspace, big.worklist
    feed = ChangeFeed(workspace.service.study)  # a feed of this workstation, as the window's watcher
    image = workspace.current
    big.canvas.setFocus()
    qtbot.keyClick(big.canvas, "n")
    with qtbot.waitSignal(workspace.imageShown, timeout=10_000):
        qtbot.keyClick(big.canvas, Qt.Key.Key_Return)
    assert panel.model.cached_row(image).status == "submitted" and workspace.current == image + 1
    assert panel.count_label.text().startswith("Mine: 899 to do · 0 drafts · 301 submitted")
    try:
        assert feed.poll() == []  # this workstation's own submit (and its settlement): not news
        assert ChangeFeed(workspace.service.study, own=True).last_event_id > feed.last_event_id - 1
    finally:
        feed.close()
    assert resets == []  # the list was never rebuilt


def test_another_workstations_edit_of_my_grade_updates_that_row_only(qtbot, big, account,
                                                                     resets: list[int]) -> None:
    panel = big.worklist
    target = big.wiring.workspace.current + 3
    fetched = panel.model.fetches
    with Study.open(big.wiring.workspace.service.study.root) as elsewhere:
        GradingService(elsewhere, account(elsewhere, "Dr. Other")).save_draft(target + 1, DRAFT)  # not mine
        GradingService(elsewhere, account(elsewhere, "Me")).save_draft(target, DRAFT)  # mine, elsewhere
    with qtbot.waitSignal(big.wiring.changes.changed, timeout=5000) as news:
        big.wiring.changes.poll_now()
    assert [c.entity for c in news.args[0]] == ["grade", "grade"]
    qtbot.waitUntil(lambda: panel.model.cached_row(target).status == "draft", timeout=5000)
    assert panel.model.cached_row(target + 1).status == "todo"
    assert resets == [] and panel.model.fetches == fetched  # one row read again, no page
