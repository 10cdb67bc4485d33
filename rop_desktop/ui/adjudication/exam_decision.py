"""The adjudicator's eye-level decision: the exam's reference grade and *Settle eye reference*.

The editor is the graders' eye-level form (``ui.exams.eye_grade.EyeGradeForm``: stage, zone,
plus, A-ROP, extent, the treatment badge, the same keys), without its *Fill from image grades* and
*Confirm* buttons: the Settle button here replaces them, and **Enter** in the form settles too.
It starts from :func:`suggest_eye_reference` — the stored reference where there is one, else the
majority of the confirmed eye-level grades (a tie takes the more severe answer, the
screening-safe reading) — and nothing is stored until the adjudicator settles
(``settleRequested()``, only for a grade without errors).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Quality, RopPresence
from rop_desktop.ui.exams.eye_grade import EyeGradeForm
from rop_desktop.ui.grading import style as grading_style

from .suggestion import suggest_from_votes

if TYPE_CHECKING:
    from rop_desktop.services.exam_reference import ExamCase

_COLORS = {"error": grading_style.ERROR, "warning": grading_style.WARNING, "ok": grading_style.OK, "info": "#aab3bd"}


def suggest_eye_reference(case: ExamCase) -> GradeValues:
    """The editor's starting grade: the stored reference, else the votes' majority (see the module
    docstring) and :func:`suggest_from_eye_votes`'s A-ROP and extent."""
    if case.reference is not None:
        return case.reference.values.with_(comment="")
    return suggest_from_eye_votes(case.votes)


def suggest_from_eye_votes(votes: Mapping[str, GradeValues]) -> GradeValues:
    """:func:`~.suggestion.suggest_from_votes` plus the two eye-level fields ETROP needs: A-ROP by
    majority (a tie: yes), and the extent as the lower median of the answers of the graders who saw
    ROP — when the suggestion is ROP (the extent of no ROP is the no-ROP graders' 0 h)."""
    base = suggest_from_votes(votes)
    gradable = [v for v in votes.values() if v.quality is not Quality.UNGRADABLE]
    if base.quality is Quality.UNGRADABLE or not gradable:
        return base
    yes = sum(bool(v.arop) for v in gradable)
    rop = base.rop is RopPresence.YES
    extents = [
        v.extent_clock_hours for v in gradable if v.extent_clock_hours is not None and (v.rop is RopPresence.YES) == rop
    ]
    return base.with_(
        arop=2 * yes >= len(gradable) and yes > 0,
        extent_clock_hours=statistics.median_low(extents) if extents else None,
    )


class ExamDecisionPanel(QWidget):
    """The eye-level reference editor (see the module docstring)."""

    settleRequested = Signal()
    reviseRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        title = QLabel("Eye-level reference standard")
        title.setStyleSheet("font-weight: bold;")
        layout.addWidget(title)
        self.current_label = QLabel("")
        self.current_label.setWordWrap(True)
        self.hint_label = QLabel("")
        self.hint_label.setWordWrap(True)
        self.hint_label.setStyleSheet("color: #aab3bd;")
        layout.addWidget(self.current_label)
        layout.addWidget(self.hint_label)
        self.form = EyeGradeForm(self)
        for hidden in (self.form.refill_button, self.form.submit_button, self.form.status_label):
            hidden.hide()
        self.form.submitRequested.connect(self.settleRequested)
        layout.addWidget(self.form)
        self.comment = QLineEdit(self)
        self.comment.setPlaceholderText("Comment (optional): why this decision")
        layout.addWidget(self.comment)
        buttons = QHBoxLayout()
        self.revise_button = QPushButton("Decide again")
        self.revise_button.setToolTip("Replace the stored eye-level reference of this exam with a new decision")
        self.revise_button.clicked.connect(self.reviseRequested)
        self.settle_button = QPushButton("Settle eye reference  ⏎")
        self.settle_button.setToolTip("Store this eye-level reference (Enter while the grade above has the focus)")
        self.settle_button.setStyleSheet("QPushButton { font-weight: bold; padding: 6px; }")
        self.settle_button.clicked.connect(self.request_settle)
        for button in (self.revise_button, self.settle_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        buttons.addWidget(self.revise_button)
        buttons.addWidget(self.settle_button, 1)
        layout.addLayout(buttons)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message)
        layout.addStretch(1)
        self._editable = False

    def set_decision(self, values: GradeValues, *, editable: bool, current: str, hint: str) -> None:
        """Show ``values``; ``current`` describes the stored reference, ``hint`` the pre-fill."""
        self._editable = editable
        self.form.set_state(values, submitted=False, stored=False, sources={}, read_only=not editable)
        for hidden in (self.form.refill_button, self.form.submit_button, self.form.status_label):
            hidden.hide()
        self.comment.clear()
        self.comment.setEnabled(editable)
        self.current_label.setText(current)
        self.hint_label.setText(hint)
        self.hint_label.setVisible(bool(hint))
        self.settle_button.setEnabled(editable)
        self.revise_button.setVisible(not editable)
        self.show_message("")

    def values(self) -> GradeValues:
        return self.form.values()

    @property
    def editable(self) -> bool:
        return self._editable

    def request_settle(self) -> bool:
        """Settle when the grade has no errors (the form shows them otherwise)."""
        return self._editable and self.form.request_confirm()

    def show_message(self, text: str, kind: str = "info") -> None:
        """A line under the buttons: ``kind`` "ok", "info", "warning" or "error"; ``""`` hides it."""
        self.message.setText(text)
        self.message.setVisible(bool(text))
        self.message.setStyleSheet(
            f"color: {_COLORS.get(kind, _COLORS['info'])};"
            + (" font-weight: bold;" if kind in ("error", "warning") else "")
        )
