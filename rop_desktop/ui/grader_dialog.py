"""Pick or create the grader profile to work as (shown at start)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QMessageBox, QVBoxLayout, QWidget)

from rop_desktop.domain.labels import Role
from rop_desktop.services.grading import GraderInfo


class GraderDialog(QDialog):
    """Lists the study's graders; a new name + role creates one (via ``create``)."""

    def __init__(self, graders: Sequence[GraderInfo], create: Callable[[str, Role], GraderInfo],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Who is grading?")
        self._create = create
        self.chosen: GraderInfo | None = None
        self.list = QListWidget()
        for g in graders:
            item = QListWidgetItem(f"{g.name}  ·  {g.role.label}")
            item.setData(Qt.ItemDataRole.UserRole, g)
            self.list.addItem(item)
        if graders:
            self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("New grader's name")
        self.new_role = QComboBox()
        for role in Role:
            self.new_role.addItem(role.label, role)
        form = QFormLayout()
        form.addRow("Name", self.new_name)
        form.addRow("Role", self.new_role)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Grade as:"))
        layout.addWidget(self.list)
        layout.addWidget(QLabel("…or create a profile:"))
        layout.addLayout(form)
        layout.addWidget(buttons)

    def accept(self) -> None:
        name = self.new_name.text().strip()
        if name:
            try:
                self.chosen = self._create(name, self.new_role.currentData())
            except ValueError as exc:  # AccountError / PermissionDenied carry a sentence for the user
                QMessageBox.warning(self, "Grader", getattr(exc, "reason", str(exc)))
                return
        else:
            item = self.list.currentItem()
            if item is None:
                QMessageBox.information(self, "Grader", "Pick a grader or type a new name.")
                return
            self.chosen = item.data(Qt.ItemDataRole.UserRole)
        super().accept()
