"""The treatment badge: ETROP's decision as a coloured label (treatment-warranted, close
follow-up, routine, not determined), with the reason as its tooltip."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from rop_desktop.domain.etrop import Classification, TreatmentClass

CLASS_COLORS: dict[TreatmentClass, str] = {
    TreatmentClass.TREAT: "#c62828",
    TreatmentClass.FOLLOW_UP: "#ef6c00",
    TreatmentClass.ROUTINE: "#2e7d32",
    TreatmentClass.UNDETERMINED: "#78909c",
}


def badge_text(classification: Classification) -> str:
    """ "Treatment-warranted · Type 1" — the class and its ETROP name where it has one."""
    etrop = f" · {classification.etrop}" if classification.etrop else ""
    return classification.klass.label + etrop


class TreatmentBadge(QLabel):
    """A rounded coloured label; ``owner`` says whose decision it is ("Model: …" for the model's)."""

    def __init__(self, parent: QWidget | None = None, *, owner: str = "") -> None:
        super().__init__(parent)
        self.owner = owner
        self.classification: Classification | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setVisible(False)

    def set_classification(self, classification: Classification | None) -> None:
        self.classification = classification
        self.setVisible(classification is not None)
        if classification is None:
            return
        color = CLASS_COLORS[classification.klass]
        prefix = f"{self.owner}: " if self.owner else ""
        self.setText(prefix + badge_text(classification))
        self.setToolTip(classification.reason)
        self.setStyleSheet(
            f"background: {color}; color: white; font-weight: bold; border-radius: 9px; padding: 3px 10px;"
        )
