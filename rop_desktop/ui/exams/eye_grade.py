"""The eye-level ICROP3 grade of one exam: stage, zone, plus, A-ROP, extent — pre-filled from the
image grades, then confirmed — with its treatment badge.

The form knows only domain values. It emits ``valuesChanged(GradeValues)`` after every user
change (the host stores a draft at once), ``submitRequested()`` for *Confirm eye grade* and
``refillRequested()`` for *Fill from image grades*. :meth:`EyeGradeForm.set_state` (a new exam or
a reload) emits nothing. ROP present / absent follows the stage (stage ≥ 1 is ROP); the
quality is the roll-up's (an eye whose every image is ungradable stays ungradable).

Keyboard: while the form has the focus (Ctrl+E shows it and gives it the focus; a click on it
does too) the image grade panel's keys edit the eye-level grade instead — the same keys, the
same edits, taken from the one keyboard table (``ui.grading.keymap``, :data:`EYE_KEYS`): 0–5 and
X the stage, Z / Shift+Z the zone, P / Shift+P plus disease, A A-ROP, [ and ] the extent; Enter
confirms. The form claims those keys first (``ShortcutOverride``), so the window's shortcuts for
the image grade do not fire while it has the focus.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from rop_desktop.domain.etrop import check_eye_grade, classify
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.ui.grading import style as grade_style
from rop_desktop.ui.grading.choices import ChoiceRow, choice_list, stage_choices
from rop_desktop.ui.grading.editing import EditOp, op_target
from rop_desktop.ui.grading.keymap import SHORTCUTS

from .badge import TreatmentBadge

_FIELDS = ("stage", "zone", "plus")
#: The image grade panel's shortcuts that edit an eye-level grade too (ids of ``keymap.SHORTCUTS``).
EYE_KEYS = (
    "grade.stage.0",
    "grade.stage.1",
    "grade.stage.2",
    "grade.stage.3",
    "grade.stage.4",
    "grade.stage.5",
    "grade.stage.na",
    "grade.zone.cycle",
    "grade.zone.na",
    "grade.plus.cycle",
    "grade.plus.na",
    "grade.arop",
    "grade.extent.less",
    "grade.extent.more",
)
_CONFIRM_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


def _key_text(event: QKeyEvent) -> str:
    """The key of ``event`` as the keyboard table writes it ("Shift+Z"; keypad digits as digits)."""
    modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    return QKeySequence(event.key() | modifiers.value).toString(QKeySequence.SequenceFormat.PortableText)


def eye_key_ops() -> dict[str, EditOp]:
    """Key (portable text) → the edit it makes, for :data:`EYE_KEYS`."""
    out: dict[str, EditOp] = {}
    for spec in SHORTCUTS:
        if spec.id in EYE_KEYS and spec.action is not None and not isinstance(spec.action, str):
            for key in spec.keys:
                out[QKeySequence(key).toString(QKeySequence.SequenceFormat.PortableText)] = spec.action
    return out


_FIELD_NAMES = {"stage": "stage", "zone": "zone", "plus": "plus", "extent_clock_hours": "extent", "arop": "A-ROP"}


def _brief(source: str) -> str:
    """ "most severe: P0002-OD-20260325-002" → "← 002" (the strip's name of the image); the roll-up's
    other phrases shortened the same way ("posterior pole 001", "≥ largest image")."""
    words = source.split(": ", 1)
    tail = words[-1].split(" (")[0]
    image = tail.rsplit("-", 1)[-1] if "-" in tail and ":" in source else ""
    if source.startswith("posterior-pole image"):
        return f"← pole {image}"
    if source.startswith("most severe"):
        return f"← {image}" + (" (no pole image)" if "no posterior-pole" in source else "")
    if source.startswith("at least"):
        return "≥ largest image (clock positions unknown)"
    if source.startswith("union"):
        return "= union of clock hours"
    if source.startswith("A-ROP on"):
        return "on an image"
    return source


class EyeGradeForm(QWidget):
    """See the module docstring."""

    valuesChanged = Signal(object)
    submitRequested = Signal()
    refillRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._values = GradeValues()
        self._submitted = False
        self._stored = False
        self._sources: Mapping[str, str] = {}
        self._read_only = False
        self._keys = eye_key_ops()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip(
            "Keys while this form has the focus: 0–5 / X stage, Z zone, P plus, A A-ROP, [ ] extent, Enter confirms"
        )
        na = "n/a"
        self.rows: dict[str, ChoiceRow] = {
            "stage": ChoiceRow(stage_choices(), self, columns=5),
            "zone": ChoiceRow(
                choice_list(
                    "zone", grade_style.ZONE_COLORS, {Zone.POSTERIOR_II: "Post. II", Zone.NA: na}, grade_style.ZONE_HELP
                ),
                self,
            ),
            "plus": ChoiceRow(
                choice_list(
                    "plus",
                    grade_style.PLUS_COLORS,
                    {Plus.NORMAL: "Normal", Plus.PRE_PLUS: "Pre-plus", Plus.PLUS: "Plus", Plus.NA: na},
                    grade_style.PLUS_HELP,
                ),
                self,
            ),
        }
        self.arop_check = QCheckBox("A-ROP", self)
        self.arop_check.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.extent_spin = QSpinBox(self)
        self.extent_spin.setRange(-1, 12)
        self.extent_spin.setSpecialValueText("—")
        self.extent_spin.setSuffix(" clock h")
        self.extent_spin.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.badge = TreatmentBadge(self)
        self.source_label = QLabel("", self)
        self.source_label.setWordWrap(True)
        self.source_label.setStyleSheet(f"color: {grade_style.MISSING};")
        self.issue_label = QLabel("", self)
        self.issue_label.setWordWrap(True)
        self.status_label = QLabel("", self)
        self.status_label.setWordWrap(True)
        self.refill_button = QPushButton("Fill from image grades", self)
        self.refill_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.refill_button.setToolTip(
            "Highest stage, most posterior zone, plus from the posterior-pole image, "
            "A-ROP on any image, extent as the union of clock hours"
        )
        self.submit_button = QPushButton("Confirm eye grade", self)
        self.submit_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.submit_button.setToolTip("Confirm the eye-level grade (Ctrl+Return)")
        self._build()
        for field, row in self.rows.items():
            row.picked.connect(lambda value, f=field: self._edit(f, value))
        self.arop_check.clicked.connect(lambda checked: self._edit("arop", bool(checked)))
        self.extent_spin.valueChanged.connect(lambda v: self._edit("extent_clock_hours", None if v < 0 else v))
        self.refill_button.clicked.connect(self.refillRequested)
        self.submit_button.clicked.connect(self._submit)
        self._refresh()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(3)
        for r, (field, title) in enumerate((("stage", "Stage"), ("zone", "Zone"), ("plus", "Plus"))):
            label = QLabel(title, self)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            grid.addWidget(label, r, 0)
            grid.addWidget(self.rows[field], r, 1)
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)
        line = QHBoxLayout()
        line.addWidget(self.arop_check)
        line.addStretch(1)
        line.addWidget(QLabel("Extent", self))
        line.addWidget(self.extent_spin)
        layout.addLayout(line)
        layout.addWidget(self.badge)
        layout.addWidget(self.source_label)
        layout.addWidget(self.issue_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.refill_button)
        buttons.addWidget(self.submit_button)
        layout.addLayout(buttons)
        layout.addWidget(self.status_label)

    # ------------------------------------------------------------------ public API
    def values(self) -> GradeValues:
        return self._values

    def set_state(
        self, values: GradeValues, *, submitted: bool, stored: bool, sources: Mapping[str, str], read_only: bool = False
    ) -> None:
        """Show an exam's eye-level grade (``stored``: the grader's own, else the roll-up) and where
        the roll-up took each field from; emits nothing."""
        self._values = values if values.quality is not None else values.with_(quality=Quality.GRADABLE)
        self._submitted, self._stored, self._sources, self._read_only = submitted, stored, dict(sources), read_only
        for row in self.rows.values():
            row.set_interactive(not read_only)
        self.submit_button.setVisible(not read_only)
        self.refill_button.setVisible(not read_only)
        self._refresh()

    @property
    def submitted(self) -> bool:
        return self._submitted

    # ------------------------------------------------------------------ keys
    def event(self, event: QEvent) -> bool:
        """Claim the grade keys before the window's shortcuts (see the module docstring)."""
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) and self._claims(event):
            event.accept()
            return True
        return super().event(event)

    def _claims(self, event: QKeyEvent) -> bool:
        if self._read_only:
            return False
        plain = not (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier)
        return _key_text(event) in self._keys or (plain and event.key() in _CONFIRM_KEYS)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if not self._claims(event):
            super().keyPressEvent(event)
            return
        event.accept()
        op = self._keys.get(_key_text(event))
        if op is None:
            self.request_confirm()
            return
        self._edit(op.field, op_target(self._values, op))

    # ------------------------------------------------------------------ edits
    def _edit(self, field: str, value: object) -> None:
        if self._read_only or getattr(self._values, field) == value:
            return
        changes: dict[str, object] = {field: value}
        if field == "stage" and isinstance(value, Stage) and value.major is not None:
            changes["rop"] = RopPresence.NO if value.major == 0 else RopPresence.YES
        elif field == "stage":
            changes["rop"] = RopPresence.NA
        self._values = self._values.with_(**changes)
        self._stored = True
        self._refresh()
        self.valuesChanged.emit(self._values)

    def request_confirm(self) -> bool:
        """Confirm (Ctrl+Return or the button): ``submitRequested`` unless the grade has errors,
        which the form then shows; False when refused or read-only."""
        if self._read_only:
            return False
        if any(i.severity == "error" for i in check_eye_grade(self._values)):
            self._refresh(strict=True)
            return False
        self.submitRequested.emit()
        return True

    def _submit(self) -> None:
        self.request_confirm()

    # ------------------------------------------------------------------ showing
    def _refresh(self, *, strict: bool = False) -> None:
        v = self._values
        for field in _FIELDS:
            self.rows[field].set_current(getattr(v, field))
        self.arop_check.setChecked(bool(v.arop))
        self.extent_spin.blockSignals(True)
        self.extent_spin.setValue(-1 if v.extent_clock_hours is None else v.extent_clock_hours)
        self.extent_spin.blockSignals(False)
        self.badge.set_classification(classify(v))
        shown = {
            name: text
            for name, text in self._sources.items()
            if name in ("stage", "zone", "plus", "extent_clock_hours", "arop")
        }
        brief = [f"{_FIELD_NAMES[name]} {_brief(text)}" for name, text in shown.items()]
        self.source_label.setText(("From your image grades: " + " · ".join(brief)) if brief else "")
        self.source_label.setToolTip("\n".join(f"{_FIELD_NAMES[n]}: {t}" for n, t in shown.items()))
        self.source_label.setVisible(bool(brief))
        issues = check_eye_grade(v)
        errors = [i for i in issues if i.severity == "error"]
        color = grade_style.ERROR if strict and errors else grade_style.WARNING
        self.issue_label.setText("<br>".join(i.message for i in (errors if strict and errors else issues)))
        self.issue_label.setStyleSheet(f"color: {color};")
        self.issue_label.setVisible(bool(issues))
        if self._submitted:
            self.status_label.setText("Eye grade confirmed.")
        elif self._stored:
            self.status_label.setText("Eye grade: draft (saved) — confirm it.")
        else:
            self.status_label.setText("Not confirmed yet: the roll-up of your image grades.")
        self.submit_button.setText("Confirm again" if self._submitted else "Confirm eye grade")
