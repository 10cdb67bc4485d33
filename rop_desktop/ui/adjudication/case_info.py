"""The facts of one case under the canvas: why the votes did not settle it, the hospital's own
diagnosis, the active model's prediction, and how well the graders' outlines overlap."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from .queue_panel import tally_text
from .votes_table import IouTable

if TYPE_CHECKING:
    from rop_desktop.services.reference import AdjudicationCase


def _label(text: str = "", *, rich: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if rich:
        label.setTextFormat(Qt.TextFormat.RichText)
    return label


def _title(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setStyleSheet("color: #aab3bd; font-weight: bold; font-size: 9pt;")
    return label


def hospital_text(case: AdjudicationCase) -> str:
    """The hospital diagnosis as written, and what the app reads in it."""
    if not case.hospital_text:
        return "None recorded"
    parsed = case.hospital
    read = [v.label for v in (parsed.rop, parsed.stage, parsed.zone, parsed.plus) if v is not None]
    if parsed.stage is None and parsed.stage_major is not None:
        read.append(f"stage {parsed.stage_major}")
    return f"“{case.hospital_text}”" + (f" → {', '.join(read)}" if read else " (no ROP finding could be read)")


def model_text(prediction: Any) -> str:
    """The active models' outputs (an ``ImagePrediction``) in words."""
    if prediction is None or (not prediction.outputs and not prediction.errors):
        return "No active model"
    lines = []
    for task, out in prediction.outputs.items():
        if out.probability is not None:
            threshold = out.threshold if out.threshold is not None else 0.5
            call = "ROP" if out.probability >= threshold else "no ROP"
            lines.append(f"{out.version_name}: P(ROP) = {out.probability:.2f} → {call} (threshold {threshold:.2f})")
        elif out.class_probabilities:
            best = max(out.class_probabilities, key=out.class_probabilities.get)
            lines.append(f"{out.version_name}: {out.predicted_class or best} (p = {out.class_probabilities[best]:.2f})")
        elif task == "segmentation" and out.line_mask is not None:
            lines.append(f"{out.version_name}: line on {100.0 * float((out.line_mask > 0).mean()):.1f} % of the image")
    lines += [f"{task} model failed: {message}" for task, message in prediction.errors.items()]
    return "\n".join(lines) or "No active model"


class CaseInfo(QWidget):
    """Reasons and tally, hospital diagnosis, model prediction, outline IoU (see the module docstring)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(2)
        self.reasons = _label(rich=True)
        self.hospital = _label()
        self.model = _label("No active model")
        self.iou = IouTable(self)
        self.iou_note = _label()
        self.iou_note.setStyleSheet("color: #aab3bd;")
        grid.addWidget(_title("Why it is here"), 0, 0)
        grid.addWidget(self.reasons, 1, 0)
        grid.addWidget(_title("Hospital diagnosis"), 2, 0)
        grid.addWidget(self.hospital, 3, 0)
        grid.addWidget(_title("Model"), 4, 0)
        grid.addWidget(self.model, 5, 0)
        grid.setRowStretch(6, 1)
        grid.addWidget(_title("Outline agreement (IoU)"), 0, 1)
        grid.addWidget(self.iou, 1, 1, 5, 1)
        grid.addWidget(self.iou_note, 6, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)

    def set_case(self, case: AdjudicationCase) -> None:
        outcome = case.outcome
        reasons = list(outcome.reasons) or ["The votes settle this image."]
        status = {
            "needs_adjudication": "Needs a decision",
            "insufficient": "Too few votes",
            "settled": "Settled by the votes",
        }.get(outcome.status, outcome.status)
        votes = sum(1 for g in case.graders if g.submitted)
        tally = html.escape(tally_text(outcome.tally).replace("\n", " · "))
        head = (
            f"<b>{html.escape(status)}</b> · {votes} vote(s), quorum {case.settings.quorum}, "
            f"tie rule “{html.escape(case.settings.tie_rule)}”<br>Tally: {tally}"
        )
        self.reasons.setText(
            head + "<ul style='margin:0'>" + "".join(f"<li>{html.escape(r)}</li>" for r in reasons) + "</ul>"
        )
        self.hospital.setText(hospital_text(case))
        self.iou.set_matrix(case.outline_iou)
        self.iou_note.setText("" if case.outline_iou else "No grader outlined a line on this gradable image.")

    def set_model(self, text: str) -> None:
        self.model.setText(text)
