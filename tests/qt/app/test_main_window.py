"""The main window on the demo study: it opens, shows images, and the worklist drives the canvas."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from rop_desktop.app import build_window
from rop_desktop.store import Study


@pytest.fixture
def window(qtbot, demo_study_dir: Path, account):
    study = Study.open(demo_study_dir)
    grader = account(study, "Test grader")
    win = build_window(study, grader)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    study.close()


def test_window_opens_on_the_demo_study_and_shows_the_first_image(qtbot, window) -> None:
    with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=10_000) as shown:
        window.wiring.workspace.start()
    first = shown.args[0]
    model = window.worklist.model
    assert model.rowCount() > 10
    assert model.image_id_at(0) == first
    assert window.canvas.image_size() == (640, 480)
    assert "Test grader" in window.grader_label.text()
    assert window.image_label.text().startswith("P0001 · ")  # the study's code, not the demo's file names
    assert "DEMO-" not in window.image_label.text()


def test_clicking_a_worklist_row_opens_that_image(qtbot, window) -> None:
    with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=10_000):
        window.wiring.workspace.start()
    table = window.worklist.table
    rect = table.visualRect(table.model().index(3, 1))
    with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=10_000) as shown:
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert shown.args[0] == window.worklist.model.image_id_at(3)
    assert window.wiring.workspace.current == shown.args[0]


def test_next_and_previous_image_shortcuts(qtbot, window) -> None:
    with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=10_000):
        window.wiring.workspace.start()
    first = window.wiring.workspace.current
    with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=10_000):
        window.next_action.trigger()
    assert window.wiring.workspace.current == window.worklist.model.image_id_at(1)
    with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=10_000):
        window.prev_action.trigger()
    assert window.wiring.workspace.current == first
