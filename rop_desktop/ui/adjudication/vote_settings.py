"""The study's vote settings: what votes (each image, or each eye at each visit), how many votes
make a quorum and what a tie does.

The dialog edits a :class:`~rop_desktop.domain.votes.VoteSettings` (the voted and required
fields are kept as they are) and the vote level (``services.exams.set_vote_level``) and hands
them back with ``chosen()`` and ``chosen_level()``; the controller stores them (admins only) and
recomputes the references.
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
LEVEL_TEXT: dict[str, tuple[str, str]] = {
    "image": (
        "Each image (the papers' protocol)",
        "Every grader's image grade is a vote: each image gets its reference standard, and the "
        "adjudication queue lists images.",
    ),
    "eye": (
        "Each eye at each visit (the clinical protocol)",
        "Every grader's confirmed eye-level grade is a vote: each eye at each visit gets its "
        "reference standard (stage, zone, plus, A-ROP, extent, treatment class), the adjudication "
        "queue lists exams and the agreement figures compare eye-level grades.",
    ),
}


class VoteSettingsDialog(QDialog):
    """Quorum and tie rule (see the module docstring)."""

    def __init__(
        self, settings: VoteSettings, n_graders: int, parent: QWidget | None = None, *, level: str = "image"
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Vote settings")
        self._settings = settings
        self.level = QComboBox()
        for name, (title, _) in LEVEL_TEXT.items():
            self.level.addItem(title, name)
        self.level.setCurrentIndex(max(0, self.level.findData(level)))
        self.level.setToolTip("What a vote is: a grader's image grade, or their confirmed eye-level grade of an exam")
        self.level_explain = QLabel()
        self.level_explain.setWordWrap(True)
        self.level_explain.setStyleSheet("color: #aab3bd;")
        self.level.currentIndexChanged.connect(self._explain)
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
        form.addRow("Votes are cast on", self.level)
        form.addRow("", self.level_explain)
        form.addRow("Quorum", self.quorum)
        form.addRow("A tie", self.tie_rule)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.explain)
        note = QLabel(
            "Saving recomputes the reference standard of every image (and, at eye level, of every exam). "
            "Adjudicated images and exams keep their decision."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(460)
        self._explain()

    def _explain(self) -> None:
        self.level_explain.setText(LEVEL_TEXT[self.level.currentData()][1])
        text = TIE_RULE_TEXT[self.tie_rule.currentData()][1]
        if self.quorum.value() > self._n_graders:
            text += (
                f"\n\nThe study has {self._n_graders} active grader(s): with a quorum of {self.quorum.value()} "
                f"no {'exam' if self.level.currentData() == 'eye' else 'image'} can be settled."
            )
        self.explain.setText(text)

    def chosen(self) -> VoteSettings:
        """The settings as edited (fields and required fields unchanged); VoteError when invalid."""
        return replace(self._settings, quorum=self.quorum.value(), tie_rule=self.tie_rule.currentData())

    def chosen_level(self) -> str:
        """The vote level chosen: "image" or "eye"."""
        return str(self.level.currentData())
