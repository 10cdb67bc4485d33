"""Import from the window (the study's admin): progress, failures listed, cancel keeps only whole
images; a grader's window has no import, and an import started anyway is refused by the service."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rop_desktop.app import build_window
from rop_desktop.store import Study, repo


def _images(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        img = np.zeros((120, 160, 3), np.uint8)
        cv2.circle(img, (80, 60), 50, (40 + 3 * i, 90, 160), -1)
        cv2.imwrite(str(folder / f"img_{i:03d}.png"), img)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return folder


@pytest.fixture
def study(tmp_path: Path):
    with Study.create(tmp_path / "study") as created:
        yield created


def _window(qtbot, study: Study, actor):
    win = build_window(study, actor)
    qtbot.addWidget(win)
    win.show()
    return win


@pytest.fixture
def window(qtbot, study: Study, account):
    win = _window(qtbot, study, account(study, "Importer", "admin"))
    yield win
    win.close()


def test_import_from_the_window_reports_failures_and_fills_the_worklist(qtbot, window, tmp_path: Path) -> None:
    src = _images(tmp_path / "src", 5)
    assert window.worklist.model.rowCount() == 0
    dialog = window.wiring.study_menu.run_import([src])
    with qtbot.waitSignal(dialog.finishedImport, timeout=20_000) as done:
        pass
    summary = done.args[0]
    assert len(summary.imported) == 5 and len(summary.failed) == 1
    assert "broken.png" in dialog.log.toPlainText()
    qtbot.waitUntil(lambda: window.worklist.model.rowCount() == 5, timeout=5000)
    dialog.accept()


def test_cancel_stops_between_files(qtbot, window, tmp_path: Path) -> None:
    src = _images(tmp_path / "src", 60)
    dialog = window.wiring.study_menu.run_import([src])
    qtbot.waitUntil(lambda: dialog.bar.value() >= 2, timeout=20_000)
    with qtbot.waitSignal(dialog.finishedImport, timeout=20_000):
        dialog.cancel()
    assert dialog.cancelled and "Cancelled" in dialog.label.text()
    study = window.wiring.study_menu.study
    with study.session() as session:
        images = repo.list_images(session)
    assert 2 <= len(images) < 60
    assert all(study.image_path(i).exists() for i in images)
    assert len(list(study.iter_image_files())) == len(images)
    dialog.accept()


def test_a_grader_cannot_import(qtbot, study: Study, account, tmp_path: Path) -> None:
    win = _window(qtbot, study, account(study, "Dr. Grader"))
    menu = win.wiring.study_menu
    assert not menu.import_files_action.isVisible() and not menu.import_folder_action.isVisible()
    dialog = menu.run_import([_images(tmp_path / "src", 2)])  # started anyway: the service refuses
    with qtbot.waitSignal(dialog.finishedImport, timeout=20_000):
        pass
    assert "only the admin role may import images" in dialog.label.text()
    with study.session() as session:
        assert repo.list_images(session) == []
    dialog.accept()
    win.close()
