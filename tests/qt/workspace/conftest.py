"""Fixtures for the grading-workspace tests: the REAL main window (``build_window``) on a private
copy of the demo study, signed in as a new grader "Me" (no password), shown, active and on its
first image.

``ws`` is a :class:`WindowSession` driver: real mouse events on the canvas at image coordinates,
real key presses on whatever widget has the keyboard focus, and a second, independent
connection to the study (``ws.store``) to check what was committed. (The suite runs with
--import-mode=importlib: tests reach these helpers through fixtures, not imports.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QApplication, QWidget

from rop_desktop.app import build_window
from rop_desktop.domain.shapes import Shape
from rop_desktop.services import accounts
from rop_desktop.services.grading import GradingService, MyGrade
from rop_desktop.store import Study, repo

GRADER = "Me"
SHOWN_TIMEOUT_MS = 10_000


class WindowSession:
    """One grader's window on a study folder, driven like a user would (see the module docstring)."""

    def __init__(self, qtbot, folder: Path, account) -> None:
        self.qtbot = qtbot
        self.folder = folder
        self.study: Study | None = None
        self.window = None
        #: An independent connection to the same study: reads only what was committed.
        self.store = Study.open(folder)
        self.grader_id = account(self.store, GRADER).id
        #: "Me" signed in through the accounts service, as the sign-in dialog does.
        self.actor = accounts.sign_in(self.store, GRADER, None)
        self.checker = GradingService(self.store, self.actor)

    # ------------------------------------------------------------------ window life
    def open(self, *, start: bool = True) -> None:
        """Open the study, build and show the window (active, canvas focused); start() on its first image."""
        assert self.window is None, "close the window first"
        self.study = Study.open(self.folder)
        self.window = build_window(self.study, self.actor)
        self.window.resize(1400, 900)
        with self.qtbot.waitActive(self.window):
            self.window.show()
            self.window.activateWindow()
        if start:
            with self.qtbot.waitSignal(self.window.wiring.workspace.imageShown, timeout=SHOWN_TIMEOUT_MS):
                self.window.wiring.workspace.start()
        self.window.canvas.setFocus()

    def close(self) -> None:
        """Close the window (its loader thread stops) and the study it used."""
        if self.window is not None:
            self.window.close()
            self.window.deleteLater()
            self.window = None
        if self.study is not None:
            self.study.close()
            self.study = None

    def reopen(self) -> None:
        """Quit and start again: a new Study.open and a new window (not started on an image)."""
        self.close()
        self.open(start=False)

    def dispose(self) -> None:
        self.close()
        self.store.close()

    # ------------------------------------------------------------------ shortcuts to the parts
    @property
    def canvas(self):
        return self.window.canvas

    @property
    def panel(self):
        return self.window.wiring.grade_panel

    @property
    def workspace(self):
        return self.window.wiring.workspace

    @property
    def current(self) -> int:
        return self.window.wiring.workspace.current

    def status_message(self) -> str:
        return self.window.statusBar().currentMessage()

    def show_image(self, image_id: int) -> None:
        """Open an image through the workspace and wait until it is on the canvas."""
        with self.qtbot.waitSignal(self.workspace.imageShown, timeout=SHOWN_TIMEOUT_MS) as shown:
            self.workspace.open_image(image_id)
        assert shown.args == [image_id]
        self.canvas.setFocus()

    # ------------------------------------------------------------------ mouse, at image coordinates
    def pos(self, x: float, y: float) -> QPoint:
        point = self.canvas.mapFromScene(QPointF(x, y))
        assert self.canvas.viewport().rect().contains(point), f"image point {(x, y)} is not in the view"
        return point

    def click(self, x: float, y: float) -> None:
        self.qtbot.mouseClick(self.canvas.viewport(), Qt.MouseButton.LeftButton, pos=self.pos(x, y))

    def clicks(self, points: Sequence[tuple[float, float]]) -> None:
        for x, y in points:
            self.click(x, y)

    def drag(self, path: Sequence[tuple[float, float]]) -> None:
        """Press at the first point, move through the others, release at the last one."""
        viewport = self.canvas.viewport()
        self.qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=self.pos(*path[0]))
        for point in path[1:]:
            self.qtbot.mouseMove(viewport, self.pos(*point))
        self.qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=self.pos(*path[-1]))

    # ------------------------------------------------------------------ keys, where the focus is
    def focus(self) -> QWidget:
        return QApplication.focusWidget() or self.window

    def key(self, key: Qt.Key | str, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
        self.qtbot.keyClick(self.focus(), key, modifier)

    def keys(self, *keys: Qt.Key | str) -> None:
        for key in keys:
            self.key(key)

    # ------------------------------------------------------------------ what the store holds
    def stored_shapes(self, image_id: int) -> list[Shape]:
        return self.checker.my_shapes(image_id)

    def stored_grade(self, image_id: int) -> MyGrade:
        return self.checker.my_grade(image_id)

    def stored_annotation(self, uid: str):
        with self.store.session() as session:
            return repo.annotation_by_uid(session, uid)


@pytest.fixture
def ws(qtbot, demo_study_dir: Path, account) -> Iterator[WindowSession]:
    session = WindowSession(qtbot, demo_study_dir, account)
    session.open()
    yield session
    session.dispose()
