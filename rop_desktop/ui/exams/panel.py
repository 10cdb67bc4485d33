"""``ExamPanel``: one eye at one visit beside the canvas — the exam strip, the eye-level grade
with its treatment badge, the models' view of the eye, and the way to the progression view.

Views only; ``ui.controllers.exams`` feeds it ``services.exams.ExamState`` values and stores
what it emits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from rop_desktop.domain.etrop import Classification

from .badge import TreatmentBadge
from .eye_grade import EyeGradeForm
from .strip import ExamStrip

if TYPE_CHECKING:
    from rop_desktop.services.exams import ExamState, ModelEyeSummary


class ExamPanel(QWidget):
    """See the module docstring."""

    progressionRequested = Signal()
    attentionRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("No exam", self)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.subtitle = QLabel("", self)
        self.subtitle.setWordWrap(True)
        self.strip = ExamStrip(self)
        self.form = EyeGradeForm(self)
        self.model_badge = TreatmentBadge(self, owner="Model")
        self.model_label = QLabel("", self)
        self.model_label.setWordWrap(True)
        self.model_label.setVisible(False)
        self.progression_button = QPushButton("Progression of this eye…", self)
        self.progression_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.progression_button.setToolTip("Every visit of this patient's eyes, two side by side")
        self.attention_button = QPushButton("Needs attention…", self)
        self.attention_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.attention_button.setToolTip("Eyes whose latest visit got worse, or that are treatment-warranted")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addWidget(self.strip)
        heading = QLabel("EYE-LEVEL GRADE (ICROP3)", self)
        heading_font = heading.font()
        heading_font.setBold(True)
        heading_font.setPointSizeF(heading_font.pointSizeF() * 0.85)
        heading.setFont(heading_font)
        layout.addWidget(heading)
        layout.addWidget(self.form)
        layout.addWidget(self.model_badge)
        layout.addWidget(self.model_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progression_button)
        buttons.addWidget(self.attention_button)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.progression_button.clicked.connect(self.progressionRequested)
        self.attention_button.clicked.connect(self.attentionRequested)

    def set_state(self, state: ExamState, current: int | None) -> None:
        """Show a ``services.exams.ExamState`` for the image ``current`` (on the canvas)."""
        info = state.info
        self.title.setText(f"Exam {info.title}")
        images = len(info.images)
        done = sum(1 for i in info.images if i.status == "submitted")
        pma = f" · PMA {info.pma_weeks:g} wk" if info.pma_weeks else ""
        self.subtitle.setText(
            f"{images} image{'s' if images != 1 else ''} of this eye at this visit, {done} graded by you{pma}"
        )
        self.strip.set_images(info.images, current)
        grade = state.grade
        self.form.set_state(
            state.prefill,
            submitted=grade.submitted,
            stored=grade.exists,
            sources={} if grade.exists else state.rollup.sources,
        )

    def set_model_summary(self, summary: ModelEyeSummary | None) -> None:
        """The models' view of the eye (``services.exams.ModelEyeSummary``), or None to hide it."""
        if summary is None:
            self.model_badge.set_classification(None)
            self.model_label.setVisible(False)
            return
        klass: Classification = summary.classification
        self.model_badge.set_classification(klass)
        parts = []
        if summary.max_probability is not None:
            parts.append(f"max P(ROP) {summary.max_probability:.2f}")
        if summary.highest_stage is not None:
            parts.append(f"highest predicted {summary.highest_stage.label.lower()}")
        parts.append(f"{summary.predicted}/{summary.images} images predicted")
        self.model_label.setText("The model's view of the eye (with your zone and plus): " + ", ".join(parts))
        self.model_label.setVisible(True)
