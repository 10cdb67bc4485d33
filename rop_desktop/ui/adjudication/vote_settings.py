"""The study's vote settings: how many votes make a quorum and what a tie does.

The dialog edits a :class:`~rop_desktop.domain.votes.VoteSettings` (the voted and required
fields are kept as they are) and hands it back with ``chosen()``; the controller stores it
(admins only) and recomputes the references.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from rop_desktop.domain.votes import TIE_RULES, VoteSettings

TIE_RULE_TEXT: dict[str, tuple[str, str]] = {
    "adjudicate": ("An adjudicator decides", "Every tie goes to the adjudication queue."),
    "hospital": (
        "The hospital diagnosis decides",
        "A tie takes the hospital's diagnosis when it names one of the tied values (paper A); "
        "otherwise an adjudicator decides.",
    ),
    "severe": (
        "The more severe value wins",
        "ROP over no ROP, the higher stage, plus over pre-plus, the more posterior zone: the screening-safe reading.",
    ),
}
MAX_QUORUM = 50


class VoteSettingsDialog(QDialog):
    """Quorum and tie rule (see the module docstring)."""

    def __init__(self, settings: VoteSettings, n_graders: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Vote settings")
        self._settings = settings
        self.quorum = QSpinBox()
        self.quorum.setRange(1, MAX_QUORUM)
        self.quorum.setValue(settings.quorum)
        self.quorum.setSuffix(" votes")
        self.quorum.setToolTip("Submitted votes (gradable or not) needed before an image is settled")
        self.tie_rule = QComboBox()
        for rule in TIE_RULES:
            self.tie_rule.addItem(TIE_RULE_TEXT[rule][0], rule)
        self.tie_rule.setCurrentIndex(max(0, self.tie_rule.findData(settings.tie_rule)))
        self.explain = QLabel()
        self.explain.setWordWrap(True)
        self.explain.setStyleSheet("color: #aab3bd;")
        self.tie_rule.currentIndexChanged.connect(self._explain)
        self.quorum.valueChanged.connect(self._explain)
        self._n_graders = n_graders
        form = QFormLayout()
        form.addRow("Quorum", self.quorum)
        form.addRow("A tie", self.tie_rule)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.explain)
        note = QLabel(
            "Saving recomputes the reference standard of every image. Adjudicated images keep their decision."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(460)
        self._explain()

    def _explain(self) -> None:
        text = TIE_RULE_TEXT[self.tie_rule.currentData()][1]
        if self.quorum.value() > self._n_graders:
            text += (
                f"\n\nThe study has {self._n_graders} active grader(s): with a quorum of {self.quorum.value()} "
                "no image can be settled."
            )
        self.explain.setText(text)

    def chosen(self) -> VoteSettings:
        """The settings as edited (fields and required fields unchanged); VoteError when invalid."""
        return replace(self._settings, quorum=self.quorum.value(), tie_rule=self.tie_rule.currentData())
