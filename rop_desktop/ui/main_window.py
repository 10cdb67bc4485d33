"""The main window: worklist (left), canvas (centre), side panels (right), tools on top.

Views only: the controllers in :mod:`rop_desktop.ui.controllers` connect them to the services.

Sized for a 1366x768 laptop (issue 17): each side panel scrolls inside its tab (:class:`SideTabs`),
so the tallest one (the grade form) never makes the window taller than the screen, and the
toolbar's buttons keep their width (:func:`steady_buttons`; Undo and Redo keep their label and
name the step in their tooltip), so nothing moves sideways under the mouse while grading.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QShowEvent, QUndoStack
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QScrollArea,
    QTabWidget,
    QToolBar,
    QToolButton,
    QWidget,
)

from rop_desktop.domain.labels import LesionType, Stage
from rop_desktop.ui.canvas import ImageCanvas
from rop_desktop.ui.display_bar import DisplayBar
from rop_desktop.ui.worklist import WorklistPanel

#: The docks' share of the window's width and their bounds in pixels (worklist, assessment): the
#: canvas gets the rest; at 1366 px the five assessment tabs fit without scroll arrows.
DOCK_SHARES = ((0.285, 300, 440), (0.28, 340, 420))

TOOL_ACTIONS = (
    ("select", "Select / edit"),
    ("polygon", "Polygon"),
    ("trace", "Trace ridge"),
    ("pan", "Pan"),
    ("landmarks", "Landmarks"),
)


class SideTabs(QTabWidget):
    """Tabs whose pages scroll vertically when the dock is shorter than the page. Callers see
    their own panels: ``currentWidget``, ``setCurrentWidget``, ``indexOf`` and ``widget`` map
    between a panel and the scroll area that holds it."""

    def addTab(self, widget: QWidget, *label: Any) -> int:  # noqa: N802 - Qt's name; label: [icon,] title
        area = QScrollArea()
        area.setObjectName(f"scroll_{widget.objectName() or label[-1]}")
        area.setWidget(widget)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        return super().addTab(area, *label)

    def widget(self, index: int) -> QWidget | None:
        page = super().widget(index)
        inner = page.widget() if isinstance(page, QScrollArea) else None
        return inner if inner is not None else page

    def currentWidget(self) -> QWidget:  # noqa: N802 - Qt's name
        page = self.widget(self.currentIndex())
        return page if page is not None else super().currentWidget()

    def indexOf(self, widget: QWidget) -> int:  # noqa: N802 - Qt's name
        for index in range(self.count()):
            if self.widget(index) is widget:
                return index
        return super().indexOf(widget)

    def setCurrentWidget(self, widget: QWidget) -> None:  # noqa: N802 - Qt's name
        index = self.indexOf(widget)
        if index >= 0:
            self.setCurrentIndex(index)


def steady_buttons(toolbar: QToolBar) -> None:
    """Fix each tool button's width at what its label needs now: a checked, hovered or renamed
    button never pushes its neighbours sideways."""
    for action in toolbar.actions():
        button = toolbar.widgetForAction(action)
        if isinstance(button, QToolButton):
            button.setFixedWidth(button.sizeHint().width())


def undo_redo_actions(stack: QUndoStack, parent: QWidget) -> tuple[QAction, QAction]:
    """Undo and Redo with fixed labels: Qt's own actions are renamed "Undo Add polygon" after each
    edit, which widened the button and shifted everything right of it. The step is in the tooltip."""
    undo, redo = QAction("Undo", parent), QAction("Redo", parent)
    undo.triggered.connect(stack.undo)
    redo.triggered.connect(stack.redo)

    def tip(verb: str, text: str) -> str:
        return f"{verb} {text}" if text else f"Nothing to {verb.lower()}"

    # the slots use the signals' values only: the stack also signals while it is being destroyed
    stack.canUndoChanged.connect(undo.setEnabled)
    stack.canRedoChanged.connect(redo.setEnabled)
    stack.undoTextChanged.connect(lambda text: undo.setToolTip(tip("Undo", text)))
    stack.redoTextChanged.connect(lambda text: redo.setToolTip(tip("Redo", text)))
    undo.setEnabled(stack.canUndo())
    redo.setEnabled(stack.canRedo())
    undo.setToolTip(tip("Undo", stack.undoText()))
    redo.setToolTip(tip("Redo", stack.redoText()))
    return undo, redo


class MainWindow(QMainWindow):
    closing = Signal()

    def __init__(self, study_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self.setWindowTitle(f"ROP Desktop — {study_name}")
        self.resize(1500, 920)
        self._shutdown_hooks: list[Callable[[], None]] = []
        #: The controllers, services and workers wired to this window (a ``ui.wiring.Wiring``, set by
        #: the composition root, ``app.build_window``; read it typed with ``Wiring.of(window)``).
        #: Typed loosely here: the controllers import the window, so the window cannot import them.
        self.wiring: object = None

        self.canvas = ImageCanvas()
        self.canvas.setObjectName("canvas")
        self.setCentralWidget(self.canvas)

        self.worklist = WorklistPanel()
        self.worklist_dock = self._dock("Worklist", self.worklist, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.side_tabs = SideTabs()
        self.side_tabs.setMinimumWidth(320)
        self.side_dock = self._dock("Assessment", self.side_tabs, Qt.DockWidgetArea.RightDockWidgetArea)

        self._docks_sized = False
        self._build_toolbar()
        self.grader_label = QLabel()
        self.grader_label.setObjectName("graderLabel")
        self.image_label = QLabel()
        self.zoom_label = QLabel()
        self.cursor_label = QLabel()
        bar = self.statusBar()
        bar.addPermanentWidget(self.image_label)
        bar.addPermanentWidget(self.cursor_label)
        bar.addPermanentWidget(self.zoom_label)
        bar.addPermanentWidget(self.grader_label)
        self.canvas.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.canvas.cursorMoved.connect(lambda x, y: self.cursor_label.setText(f"x {x:.0f}  y {y:.0f}"))
        self.canvas.message.connect(lambda text: self.statusBar().showMessage(text, 6000))

    # ------------------------------------------------------------------ building
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, slot: Callable[[], None] | None = None, tip: str | None = None) -> QAction:
        """A toolbar action. Keys are bound from the one shortcut table (ui.grading.keymap) by the
        composition root, never here: two bindings of one key would make both dead."""
        action = QAction(text, self)
        action.setToolTip(tip or text)
        if slot is not None:
            action.triggered.connect(slot)
        return action

    def _build_toolbar(self) -> None:
        tb = QToolBar("Tools")
        tb.setObjectName("toolbar_tools")
        tb.setMovable(False)
        self.addToolBar(tb)
        self.prev_action = self._action("◀ Previous", tip="Previous image in the worklist")
        self.next_action = self._action("Next ▶", tip="Next image in the worklist")
        self.next_todo_action = self._action("Next to do ▶▶", tip="Next image I have not submitted")
        self.uncertain_first_action = self._action(
            "Most uncertain first",
            tip="'Next to do' opens the image the active ROP model is least sure about (needs batch predictions)",
        )
        self.uncertain_first_action.setCheckable(True)
        tb.addActions([self.prev_action, self.next_action, self.next_todo_action, self.uncertain_first_action])
        tb.addSeparator()
        group = QActionGroup(self)
        self.tool_actions: dict[str, QAction] = {}
        for name, text in TOOL_ACTIONS:
            # triggered(bool) passes `checked` first: it must not land in `n`
            def select(_checked: bool = False, n: str = name) -> None:
                self.canvas.set_tool(n)

            action = self._action(text, select)
            action.setCheckable(True)
            group.addAction(action)
            tb.addAction(action)
            self.tool_actions[name] = action
        self.tool_actions[self.canvas.tool()].setChecked(True)
        self.canvas.toolChanged.connect(
            lambda n: self.tool_actions[n].setChecked(True) if n in self.tool_actions else None
        )
        self.lesion_combo = QComboBox()
        for lesion in LesionType:
            self.lesion_combo.addItem(lesion.label, lesion)
        self.lesion_combo.setToolTip("Lesion type of new / selected polygons")
        self.stage_combo = QComboBox()
        self.stage_combo.addItem("Stage –", None)
        for stage in (Stage.S1, Stage.S2, Stage.S3):
            self.stage_combo.addItem(stage.label, stage)
        self.stage_combo.setToolTip("Stage of new / selected polygons")
        for combo in (self.lesion_combo, self.stage_combo):
            combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            tb.addWidget(combo)
        tb.addSeparator()
        self.undo_action, self.redo_action = undo_redo_actions(self.canvas.undo_stack, self)
        tb.addActions([self.undo_action, self.redo_action])
        self.addToolBarBreak()
        # the view's own row: display settings, zoom, and the keys' help — the tools' row above
        # then fits a 1366-pixel screen without hiding buttons behind an overflow arrow
        display_tb = QToolBar("Display")
        display_tb.setObjectName("toolbar_display")
        display_tb.setMovable(False)
        self.addToolBar(display_tb)
        self.display_bar = DisplayBar()
        display_tb.addWidget(self.display_bar)
        self.fit_action = self._action("Fit", self.canvas.fit, tip="Fit the image to the window")
        self.actual_action = self._action("1:1", self.canvas.actual_size, tip="Actual pixels")
        display_tb.addActions([self.fit_action, self.actual_action])
        self.help_action = self._action("Shortcuts (F1)", tip="All keyboard shortcuts")
        display_tb.addSeparator()
        display_tb.addAction(self.help_action)
        steady_buttons(tb)
        steady_buttons(display_tb)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if not self._docks_sized:  # once, at the size the window opens with; then the user's
            self._docks_sized = True
            widths = [int(min(max(share * self.width(), low), high)) for share, low, high in DOCK_SHARES]
            self.resizeDocks([self.worklist_dock, self.side_dock], widths, Qt.Orientation.Horizontal)

    # ------------------------------------------------------------------ hosting
    def add_side_panel(self, widget: QWidget, title: str) -> None:
        self.side_tabs.addTab(widget, title)

    def set_grader(self, name: str, role_label: str) -> None:
        self.grader_label.setText(f"Grading as {name} ({role_label})")

    def on_shutdown(self, hook: Callable[[], None]) -> None:
        self._shutdown_hooks.append(hook)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.closing.emit()
        for hook in self._shutdown_hooks:
            hook()
        self._shutdown_hooks.clear()
        super().closeEvent(event)
