"""The "Models" tab: the study's model versions side by side, and what to do with them.

The versions table stays narrow enough for the side panel's default width (about 340 px at
1366x768): id, active mark, task, the task's headline test figure and the name. The selected
version's figures, each with its patient-bootstrap 95 % confidence interval, are a second
three-column table under it, with its operating threshold and where that was chosen.

A view over plain :class:`ModelVersionInfo` values. Buttons emit requests with the selected
version's id; file choices and confirmations go through :attr:`VersionsPanel.ask_directory` and
:attr:`VersionsPanel.confirm` (dialogs by default), which a test or a script may replace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rop_desktop.services.model_figures import figure_rows, headline
from rop_desktop.services.models import ModelVersionInfo
from rop_desktop.ui.tables import make_read_only, row_picker_table

TASK_SHORT = {"binary": "ROP", "stage": "Stage", "segmentation": "Line"}
COLUMNS = ("#", "●", "Task", "Test figure", "Name")
FIGURE_COLUMNS = ("Test figure", "Value", "95 % CI")
ID_ROLE = Qt.ItemDataRole.UserRole + 1


def _ask_directory(parent: QWidget, title: str) -> str | None:
    return QFileDialog.getExistingDirectory(parent, title) or None


def _confirm(parent: QWidget, text: str) -> bool:
    answer = QMessageBox.question(parent, "ROP Desktop", text)
    return answer == QMessageBox.StandardButton.Yes


class VersionsPanel(QWidget):
    activateRequested = Signal(int)
    deactivateRequested = Signal(int)
    deleteRequested = Signal(int)
    exportRequested = Signal(int, str)  # version id, destination folder
    importRequested = Signal(str)  # bundle folder
    predictAllRequested = Signal()
    cancelPredictAllRequested = Signal()
    uncertainNextRequested = Signal()
    assistModeChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("versionsPanel")
        self.ask_directory: Callable[[str], str | None] = lambda title: _ask_directory(self, title)
        self.confirm: Callable[[str], bool] = lambda text: _confirm(self, text)
        self._versions: list[ModelVersionInfo] = []

        self.table = row_picker_table(COLUMNS)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)  # the name gives way
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.figures = QTableWidget(0, len(FIGURE_COLUMNS))
        self.figures.setObjectName("versionFigures")
        self.figures.setHorizontalHeaderLabels(list(FIGURE_COLUMNS))
        self.figures.verticalHeader().setVisible(False)
        self.figures.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.figures.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # numbers stay together
        self.figures.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.figures.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.figures.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        make_read_only(self.figures)
        self.threshold_label = QLabel()
        self.threshold_label.setObjectName("versionThreshold")
        self.threshold_label.setWordWrap(True)
        self.activate_button = QPushButton("Activate")
        self.delete_button = QPushButton("Delete")
        self.export_button = QPushButton("Export bundle…")
        self.import_button = QPushButton("Import bundle…")
        actions = QGridLayout()
        for k, button in enumerate((self.activate_button, self.delete_button, self.export_button, self.import_button)):
            actions.addWidget(button, k // 2, k % 2)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setObjectName("versionsMessage")
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.predict_all_button = QPushButton("Predict all images")
        self.cancel_batch_button = QPushButton("Cancel")
        self.batch_progress = QProgressBar()
        self.batch_progress.setFormat("%v / %m images")
        self.uncertain_button = QPushButton("Grade the most uncertain next ▶")
        self.uncertain_button.setToolTip(
            "Open the image to do on which the active ROP model is least certain (after “Predict all images”)"
        )
        self.assist_check = QCheckBox("Assist mode (model output while grading)")
        self.assist_check.setToolTip(
            "A study setting (admins): on, graders see the model's output before they "
            "submit an image; off keeps grading blinded to the model"
        )
        batch = QHBoxLayout()
        batch.addWidget(self.predict_all_button, 1)
        batch.addWidget(self.cancel_batch_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)
        layout.addWidget(self.details)
        layout.addWidget(self.figures)
        layout.addWidget(self.threshold_label)
        layout.addWidget(self.message)
        layout.addLayout(batch)
        layout.addWidget(self.batch_progress)
        layout.addWidget(self.uncertain_button)
        layout.addWidget(self.assist_check)

        self.table.itemSelectionChanged.connect(self._on_selection)
        self.activate_button.clicked.connect(self._activate)
        self.delete_button.clicked.connect(self._delete)
        self.export_button.clicked.connect(self._export)
        self.import_button.clicked.connect(self._import)
        self.predict_all_button.clicked.connect(self.predictAllRequested)
        self.cancel_batch_button.clicked.connect(self.cancelPredictAllRequested)
        self.uncertain_button.clicked.connect(self.uncertainNextRequested)
        self.assist_check.toggled.connect(self.assistModeChanged)
        self.set_batch_running(False)
        self._on_selection()

    # ------------------------------------------------------------------ data in
    def set_versions(self, versions: Sequence[ModelVersionInfo]) -> None:
        """Show the versions (newest first); the selection follows the version it was on."""
        selected = self.selected_id()
        self._versions = list(versions)
        self.table.setRowCount(len(self._versions))
        for row, v in enumerate(self._versions):
            best = headline(v.metrics, v.task)
            cells: list[Any] = [
                str(v.id),
                "●" if v.active else "",
                TASK_SHORT.get(v.task, v.task),
                f"{best.label} {best.value_text()}" if best is not None else "—",
                v.name,
            ]
            tip = "\n".join(
                [f"#{v.id} {v.name} ({v.architecture}, {v.created_at:%Y-%m-%d %H:%M})"]
                + [r.text() for r in figure_rows(v.metrics, v.task)]
                + (["active: used for predictions"] if v.active else [])
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(ID_ROLE, v.id)
                item.setToolTip(tip)
                if v.active:
                    item.setForeground(QColor("#7fd48f"))
                self.table.setItem(row, col, item)
        self.select(selected)
        self._on_selection()

    def versions(self) -> list[ModelVersionInfo]:
        return list(self._versions)

    def select(self, version_id: int | None) -> None:
        for row, v in enumerate(self._versions):
            if v.id == version_id:
                self.table.selectRow(row)
                return
        self.table.clearSelection()

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return self._versions[rows[0].row()].id if rows and rows[0].row() < len(self._versions) else None

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #ef9a9a;" if error else "")
        self.message.setText(text)

    def set_allowed(self, *, manage: bool, predict_all: bool, settings: bool) -> None:
        """Show only what the signed-in account may do (the services refuse the rest anyway):
        ``manage`` the versions, run ``predict_all``, change the assist-mode study ``settings``."""
        for button in (self.activate_button, self.delete_button, self.export_button, self.import_button):
            button.setVisible(manage)
        self.predict_all_button.setVisible(predict_all)
        self.cancel_batch_button.setVisible(predict_all)
        self.assist_check.setVisible(settings)

    def set_assist_mode(self, on: bool) -> None:
        self.assist_check.blockSignals(True)
        self.assist_check.setChecked(on)
        self.assist_check.blockSignals(False)

    # ------------------------------------------------------------------ batch prediction
    def set_batch_running(self, running: bool) -> None:
        self.predict_all_button.setEnabled(not running)
        self.cancel_batch_button.setEnabled(running)
        self.batch_progress.setVisible(running)

    def show_batch_progress(self, done: int, total: int) -> None:
        self.batch_progress.setRange(0, max(total, 1))
        self.batch_progress.setValue(done)

    # ------------------------------------------------------------------ actions
    def _selected(self) -> ModelVersionInfo | None:
        version_id = self.selected_id()
        return next((v for v in self._versions if v.id == version_id), None)

    def _on_selection(self) -> None:
        v = self._selected()
        for button in (self.activate_button, self.delete_button, self.export_button):
            button.setEnabled(v is not None)
        self.activate_button.setText("Deactivate" if v is not None and v.active else "Activate")
        self.details.setText(
            ""
            if v is None
            else "\n".join(
                [
                    f"#{v.id} {v.name} — {v.task}, {v.architecture}, created {v.created_at:%Y-%m-%d %H:%M}",
                    f"dataset snapshot {v.snapshot_hash[:12] if v.snapshot_hash else 'unknown'}",
                    *v.notes[:3],
                ]
            )
        )
        self._show_figures(v)

    def _show_figures(self, v: ModelVersionInfo | None) -> None:
        """The selected version's test figures with their 95 % CIs, and its threshold."""
        rows = figure_rows(v.metrics, v.task) if v is not None else []
        self.figures.setRowCount(len(rows))
        for r, figure in enumerate(rows):
            for c, text in enumerate((figure.label, figure.value_text(), figure.ci_text())):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.figures.setItem(r, c, item)
        self.figures.setVisible(bool(rows))
        if rows:  # the table is as tall as its rows: no inner scrolling for a handful of figures
            self.figures.resizeRowsToContents()  # sizeHint, not height(): right before the tab is first shown too
            height = self.figures.horizontalHeader().sizeHint().height() + 2 * self.figures.frameWidth() + 2
            self.figures.setFixedHeight(height + sum(self.figures.rowHeight(r) for r in range(len(rows))))
        n = v.metrics.get("n") if v is not None else None
        method = v.metrics.get("ci_method") if v is not None else None
        caption = f"On {n} test images; {method or '95 % CI: patient bootstrap'}." if rows and n else ""
        threshold = ""
        if v is not None and v.task in ("binary", "segmentation"):
            label = v.threshold_label()
            threshold = label[0].upper() + label[1:] + "."
        self.threshold_label.setText(" ".join(t for t in (caption, threshold) if t))
        self.threshold_label.setVisible(bool(caption or threshold))

    def _activate(self) -> None:
        v = self._selected()
        if v is not None:
            (self.deactivateRequested if v.active else self.activateRequested).emit(v.id)

    def _delete(self) -> None:
        v = self._selected()
        if v is not None and self.confirm(
            f"Delete model version #{v.id} “{v.name}”, its bundle and its cached predictions? This cannot be undone."
        ):
            self.deleteRequested.emit(v.id)

    def _export(self) -> None:
        v = self._selected()
        if v is None:
            return
        folder = self.ask_directory(f"Export model version #{v.id} to an empty folder")
        if folder:
            self.exportRequested.emit(v.id, str(Path(folder)))

    def _import(self) -> None:
        folder = self.ask_directory("Import a model bundle (a folder with card.json and weights.safetensors)")
        if folder:
            self.importRequested.emit(str(Path(folder)))
