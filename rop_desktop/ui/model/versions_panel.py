"""The "Models" tab: the study's model versions side by side, and what to do with them.

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
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QGridLayout, QHBoxLayout,
                               QLabel, QMessageBox, QProgressBar, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from rop_desktop.ui.tables import row_picker_table
from rop_desktop.services.models import ModelVersionInfo

TASK_SHORT = {"binary": "ROP", "stage": "Stage", "segmentation": "Line"}
#: (header, metric key) of the metric columns; a version shows those its task has.
METRIC_COLUMNS = (("AUROC", "auroc"), ("Sens.", "sensitivity"), ("Spec.", "specificity"), ("Acc.", "accuracy"),
                  ("F1", "macro_f1"), ("Dice", "dice"))
COLUMNS = ("#", "●", "Task", *(h for h, _ in METRIC_COLUMNS), "Architecture", "Created", "Name")
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
        self.activate_button = QPushButton("Activate")
        self.delete_button = QPushButton("Delete")
        self.export_button = QPushButton("Export bundle…")
        self.import_button = QPushButton("Import bundle…")
        actions = QGridLayout()
        for k, button in enumerate((self.activate_button, self.delete_button, self.export_button,
                                    self.import_button)):
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
        self.uncertain_button.setToolTip("Open the image to do on which the active ROP model is least certain "
                                         "(after “Predict all images”)")
        self.assist_check = QCheckBox("Assist mode (model output while grading)")
        self.assist_check.setToolTip("A study setting (admins): on, graders see the model's output before they "
                                     "submit an image; off keeps grading blinded to the model")
        batch = QHBoxLayout()
        batch.addWidget(self.predict_all_button, 1)
        batch.addWidget(self.cancel_batch_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)
        layout.addWidget(self.details)
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
            cells: list[Any] = [str(v.id), "●" if v.active else "", TASK_SHORT.get(v.task, v.task)]
            for _header, key in METRIC_COLUMNS:
                value = v.metrics.get(key)
                cells.append(f"{value:.2f}" if isinstance(value, (int, float)) else "")
            cells += [v.architecture, v.created_at.strftime("%Y-%m-%d %H:%M"), v.name]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(ID_ROLE, v.id)
                if v.active:
                    item.setForeground(QColor("#7fd48f"))
                    item.setToolTip("active: used for predictions")
                self.table.setItem(row, col, item)
        for k, (_header, key) in enumerate(METRIC_COLUMNS):  # only the metrics some version has
            self.table.setColumnHidden(3 + k, not any(isinstance(v.metrics.get(key), (int, float))
                                                      for v in self._versions))
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
        self.details.setText("" if v is None else "\n".join(
            [f"#{v.id} {v.name} — {v.task}, {v.architecture}",
             f"dataset snapshot {v.snapshot_hash[:12] if v.snapshot_hash else 'unknown'}", *v.notes[:3]]))

    def _activate(self) -> None:
        v = self._selected()
        if v is not None:
            (self.deactivateRequested if v.active else self.activateRequested).emit(v.id)

    def _delete(self) -> None:
        v = self._selected()
        if v is not None and self.confirm(f"Delete model version #{v.id} “{v.name}”, its bundle and its cached "
                                          "predictions? This cannot be undone."):
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
