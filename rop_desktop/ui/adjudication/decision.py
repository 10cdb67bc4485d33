"""The adjudicator's decision: the reference grade (the grading panel, reused), the reference
outline (one grader's polygons or a consensus rule) and the Settle button.

The panel holds no rules of its own: :class:`~rop_desktop.ui.grading.GradePanel` checks the
grade as it checks a grader's (errors block, warnings need a second click), and the window
sends the decision to the service. Signals: ``settleRequested()`` once the grade passes the
panel's checks, ``geometryChanged()`` when another outline is chosen, ``reviseRequested()``
when the adjudicator reopens a decided image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Quality, Stage
from rop_desktop.ui.grading import GradePanel
from rop_desktop.ui.grading import style as grading_style

#: A geometry choice: ("consensus", rule) or ("grader", name).
Geometry = tuple[str, str]
_COLORS = {"error": grading_style.ERROR, "warning": grading_style.WARNING, "ok": grading_style.OK, "info": "#aab3bd"}


def _bold(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


class DecisionPanel(QWidget):
    """Reference grade + outline + Settle (see the module docstring)."""

    settleRequested = Signal()
    geometryChanged = Signal()
    reviseRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        layout.addWidget(_bold("Reference standard"))
        self.current_label = QLabel("")
        self.current_label.setWordWrap(True)
        self.hint_label = QLabel("")
        self.hint_label.setWordWrap(True)
        self.hint_label.setStyleSheet("color: #aab3bd;")
        layout.addWidget(self.current_label)
        layout.addWidget(self.hint_label)

        self.grade = GradePanel(self)
        self.grade.grader_label.hide()
        self.grade.status_label.hide()
        self.grade.submitRequested.connect(self.settleRequested)
        layout.addWidget(self.grade)

        row = QHBoxLayout()
        row.addWidget(QLabel("Reference outline"))
        self.geometry_combo = QComboBox()
        self.geometry_combo.setToolTip("Whose polygons become the reference outline (mask of the training snapshot)")
        self.geometry_combo.currentIndexChanged.connect(lambda _i: self.geometryChanged.emit())
        row.addWidget(self.geometry_combo, 1)
        layout.addLayout(row)
        self.geometry_note = QLabel("")
        self.geometry_note.setWordWrap(True)
        self.geometry_note.setStyleSheet("color: #aab3bd;")
        layout.addWidget(self.geometry_note)

        buttons = QHBoxLayout()
        self.revise_button = QPushButton("Decide again")
        self.revise_button.setToolTip("Replace the stored reference of this image with a new decision")
        self.revise_button.clicked.connect(self.reviseRequested)
        self.settle_button = QPushButton("Settle reference  ⏎")
        self.settle_button.setToolTip("Store this reference standard (Enter: the grading keys edit the grade above)")
        self.settle_button.setStyleSheet("QPushButton { font-weight: bold; padding: 6px; }")
        self.settle_button.clicked.connect(self.request_settle)
        for button in (self.revise_button, self.settle_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # disabling it must not push the focus elsewhere
        buttons.addWidget(self.revise_button)
        buttons.addWidget(self.settle_button, 1)
        layout.addLayout(buttons)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self._editable = False

    # ------------------------------------------------------------------ filling
    def set_decision(self, values: GradeValues, *, editable: bool, current: str, hint: str) -> None:
        """Show ``values`` in the editor; ``current`` describes the stored reference, ``hint`` the pre-fill."""
        self._editable = editable
        self.grade.set_values(values, submitted=not editable, read_only=not editable)
        self.grade.submit_button.hide()  # the Settle button below replaces it
        self.current_label.setText(current)
        self.hint_label.setText(hint)
        self.hint_label.setVisible(bool(hint))
        self.settle_button.setEnabled(editable)
        self.revise_button.setVisible(not editable)
        self.geometry_combo.setEnabled(editable)
        self.show_message("")

    def set_geometry_options(self, options: Sequence[tuple[str, Geometry]], selected: Geometry | None) -> None:
        """(label, choice) items; ``selected`` is pre-selected (no ``geometryChanged``)."""
        self.geometry_combo.blockSignals(True)
        self.geometry_combo.clear()
        for label, choice in options:
            self.geometry_combo.addItem(label, choice)
        index = next((i for i, (_, c) in enumerate(options) if c == selected), 0)
        self.geometry_combo.setCurrentIndex(index)
        self.geometry_combo.blockSignals(False)

    def select_geometry(self, choice: Geometry) -> None:
        """Choose an outline as the adjudicator would (emits ``geometryChanged``)."""
        for index in range(self.geometry_combo.count()):
            if tuple(self.geometry_combo.itemData(index)) == tuple(choice):
                self.geometry_combo.setCurrentIndex(index)
                return
        raise KeyError(f"no reference outline option {choice!r}")

    def set_geometry_note(self, text: str) -> None:
        self.geometry_note.setText(text)
        self.geometry_note.setVisible(bool(text))

    def set_polygon_stages(self, stages: list[Stage | None]) -> None:
        """Stages of the chosen outline's polygons, for the grade's consistency checks."""
        self.grade.set_polygon_stages(stages)  # None: a polygon without a stage

    # ------------------------------------------------------------------ reading
    def values(self) -> GradeValues:
        return self.grade.values()

    def chosen_outline(self) -> Geometry | None:
        """The chosen outline; None when the reference is ungradable (it takes no outline).

        (Not ``geometry()``: that is QWidget's rectangle.)"""
        if self.values().quality is Quality.UNGRADABLE:
            return None
        data: Any = self.geometry_combo.currentData()
        return (data[0], data[1]) if data else None

    @property
    def editable(self) -> bool:
        return self._editable

    # ------------------------------------------------------------------ acting
    def request_settle(self) -> bool:
        """Settle when the grade passes the checks (warnings need a second request)."""
        if not self._editable:
            return False
        return self.grade.request_submit()

    def show_message(self, text: str, kind: str = "info") -> None:
        """A line under the buttons: ``kind`` "ok", "info", "warning" or "error"; ``""`` hides it."""
        self.message.setText(text)
        self.message.setVisible(bool(text))
        self.message.setStyleSheet(
            f"color: {_COLORS.get(kind, _COLORS['info'])};"
            + (" font-weight: bold;" if kind in ("error", "warning") else "")
        )
