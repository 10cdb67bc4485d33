"""Fixtures for the grading widget tests: a shown, active window holding a focusable stand-in for
the canvas, a grade panel and the grading shortcuts; a driver ``ws`` that presses real keys on
whatever widget has the keyboard focus and records the panel's signals. (The suite runs with
--import-mode=importlib: tests reach these helpers through fixtures, not imports.)"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFrame, QHBoxLayout, QWidget

from rop_desktop.domain.grades import GradeValues
from rop_desktop.ui.grading import GradePanel, GradingShortcuts


@dataclass
class Workspace:
    qtbot: object
    host: QWidget
    canvas: QFrame
    panel: GradePanel
    shortcuts: GradingShortcuts
    changes: list[GradeValues] = field(default_factory=list)
    submits: list[GradeValues] = field(default_factory=list)

    def focus(self) -> QWidget:
        return QApplication.focusWidget() or self.host

    def key(self, key: Qt.Key | str, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
        """One real key press and release on the widget that has the keyboard focus."""
        self.qtbot.keyClick(self.focus(), key, modifier)

    def keys(self, *keys: Qt.Key | str) -> None:
        for key in keys:
            self.key(key)

    def type(self, text: str) -> None:
        self.qtbot.keyClicks(self.focus(), text)

    def click(self, widget: QWidget) -> None:
        self.qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)

    def focus_canvas(self) -> None:
        self.canvas.setFocus(Qt.FocusReason.MouseFocusReason)
        assert QApplication.focusWidget() is self.canvas


@pytest.fixture
def ws(qtbot) -> Iterator[Workspace]:
    host = QWidget()
    host.resize(1000, 720)
    layout = QHBoxLayout(host)
    canvas = QFrame(host)
    canvas.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    canvas.setMinimumSize(400, 400)
    panel = GradePanel(host)
    panel.setFixedWidth(320)
    layout.addWidget(canvas, 1)
    layout.addWidget(panel)
    qtbot.addWidget(host)
    shortcuts = GradingShortcuts(host, panel)
    workspace = Workspace(qtbot, host, canvas, panel, shortcuts)
    panel.valuesChanged.connect(workspace.changes.append)
    panel.submitRequested.connect(lambda: workspace.submits.append(panel.values()))
    with qtbot.waitActive(host):
        host.show()
        host.activateWindow()
    workspace.focus_canvas()
    yield workspace
