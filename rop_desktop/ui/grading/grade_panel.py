"""``GradePanel``: the keyboard-first editor of one image-level grade (a :class:`GradeValues`).

The panel knows only domain values. It emits ``valuesChanged(GradeValues)`` after every user
change (the host saves a draft at once) and ``submitRequested()`` when the grader submits a
grade without errors (warnings need a second Enter / click), and ``refused(str)`` with the
reason whenever a key or click could not act (read-only, ungradable, nothing to accept), so the
host can repeat it in the status bar: no key is ever ignored in silence. While the image is
marked ungradable a banner at the top says so and how to clear it; a refused key flashes it.
Programmatic calls
(:meth:`GradePanel.set_values`, :meth:`GradePanel.set_polygon_stages`,
:meth:`GradePanel.set_zone_suggestion`) emit nothing. Under the zone buttons the panel shows the
zone the landmarks and the ridge outline suggest (:mod:`.zone_hint`); accepting it is an edit
like any other. Keys are
bound by :class:`~.shortcuts.GradingShortcuts`, which calls :meth:`GradePanel.apply` and
:meth:`GradePanel.request_submit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from rop_desktop.domain.grades import GradeValues, Issue, check_grade
from rop_desktop.domain.labels import Plus, Quality, Role, RopPresence, Stage, Zone
from rop_desktop.domain.zones import ZoneSuggestion

from . import feedback, keymap, style
from .choices import ChoiceRow, SectionHeader, choice_list, confidence_choices, stage_choices
from .editing import EditOp, EditRefused, GradeEditor, SetField, validate_values
from .zone_hint import ZoneHint

_LEAVE_KEYS = (Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter)
#: How long a refused key highlights the banner / notice that says why.
FLASH_MS = 700


class GradePanel(QWidget):
    """Edits one :class:`GradeValues`; fits a 300–340 px wide side panel (see the module docstring)."""

    valuesChanged = Signal(object)
    submitRequested = Signal()
    refused = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._editor = GradeEditor()
        self._polygon_stages: list[Stage | None] = []
        self._submitted = False
        self._submitted_at: datetime | None = None
        self._read_only = False
        self._edited = False
        self._strict = False  # unanswered required fields turn red after a submit attempt
        self._warnings_accepted_for: GradeValues | None = None
        self._save_error = ""
        self._focus_return: QWidget | None = None
        self._flash_color = style.ERROR
        self._flash_timer = QTimer(self)
        self._flash_timer.setSingleShot(True)
        self._flash_timer.setInterval(FLASH_MS)
        self._flash_timer.timeout.connect(self._end_flash)
        self._build()
        app = QApplication.instance()
        if isinstance(app, QApplication):  # focus exists only in a widget application
            app.focusChanged.connect(self._on_focus_changed)
        self._refresh()

    # ================================================================= public API
    def values(self) -> GradeValues:
        return self._editor.values

    def set_values(
        self, values: GradeValues, *, submitted: bool, read_only: bool = False, submitted_at: datetime | None = None
    ) -> None:
        """Show ``values`` (a new image or a reload); emits nothing. Raises :class:`~.editing.InvalidGradeValues`."""
        validate_values(values)
        self._editor.reset(values)
        self._submitted, self._submitted_at, self._read_only = submitted, submitted_at, read_only
        self._edited = self._strict = False
        self._warnings_accepted_for = None
        self._save_error = ""
        self._notify("", "")
        self._set_interactive(not read_only)
        self.zone_hint.set_suggestion(None, values.zone)  # a new image: its own suggestion follows
        self._refresh()

    def set_zone_suggestion(self, suggestion: ZoneSuggestion | None) -> None:
        """The zone the landmarks and the ridge outline suggest for this image (None: nothing to
        say); emits nothing."""
        self.zone_hint.set_suggestion(suggestion, self.values().zone)

    def accept_zone_suggestion(self) -> bool:
        """Set the zone to the suggestion (a user edit: ``valuesChanged`` follows); False, and the
        panel says why, when there is none."""
        suggestion = self.zone_hint.suggestion
        if suggestion is None or suggestion.zone is None:
            reason = suggestion.reason if suggestion is not None else "place the optic disc and the fovea first."
            self._refuse(f"No zone to accept: {reason}", style.MISSING)
            return False
        if self.values().zone is suggestion.zone:
            return False
        return self.apply(SetField("zone", suggestion.zone))

    def set_polygon_stages(self, stages: Sequence[Stage | None]) -> None:
        """The stages of the grader's polygons on this image, for the consistency checks; emits nothing."""
        self._polygon_stages = list(stages)
        self._refresh()

    def set_grader(self, name: str, role: Role | str) -> None:
        """Show who is grading, e.g. "Dr Rao · Grader"."""
        role_text = role.label if isinstance(role, Role) else str(role)
        self.grader_label.setText(f"{name} · {role_text}" if role_text else name)

    def show_save_error(self, message: str) -> None:
        """The host could not save the draft: say so in red until the next change or load."""
        self._save_error = message
        self._refresh()

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def submitted(self) -> bool:
        return self._submitted

    def issues(self) -> list[Issue]:
        """The consistency findings of the grade as it stands."""
        return check_grade(self.values(), self._polygon_stages)

    def can_submit(self) -> bool:
        return not self._read_only and not any(i.severity == "error" for i in self.issues())

    def apply(self, op: EditOp) -> bool:
        """Apply a user edit (from a key or a click); emits ``valuesChanged`` when the grade changed."""
        if self._read_only:
            self._refuse("This grade is read-only.", style.MISSING)
            return False
        try:
            changed = self._editor.apply(op)
        except EditRefused as refused:
            ungradable = self.values().quality is Quality.UNGRADABLE
            self._refuse(self.ungradable_text() if ungradable else refused.reason, style.ERROR)
            return False
        if changed:
            self._edited = True
            self._warnings_accepted_for = None
            self._save_error = ""
            self._notify("", "")
            self._refresh()
            self.valuesChanged.emit(self.values())
        return changed

    def request_submit(self) -> bool:
        """Emit ``submitRequested`` unless the grade has errors; warnings need a second request.

        Returns True when the signal was emitted; otherwise the panel says why.
        """
        if self._read_only:
            self._refuse("This grade is read-only.", style.MISSING)
            return False
        issues = self.issues()
        errors = [i for i in issues if i.severity == "error"]
        if errors:
            self._strict = True
            self._refresh()
            why = errors[0].message if len(errors) == 1 else f"fix the {len(errors)} errors listed above."
            self._refuse(f"Cannot submit: {why}", style.ERROR)
            return False
        warnings = [i for i in issues if i.severity == "warning"]
        if warnings and self._warnings_accepted_for != self.values():
            self._warnings_accepted_for = self.values()
            self._refresh()
            count = f"{len(warnings)} warnings" if len(warnings) > 1 else "1 warning"
            self._notify(f"{count} above — submit again to submit anyway.", style.WARNING)
            return False
        self._notify("", "")
        self.submitRequested.emit()
        return True

    def focus_comment(self) -> None:
        """Put the keyboard in the comment field (Enter or Escape gives it back)."""
        if self._read_only:
            self._refuse("This grade is read-only.", style.MISSING)
            return
        self.comment_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.comment_edit.end(False)

    @staticmethod
    def ungradable_text() -> str:
        """The banner shown while the image is marked ungradable (with the key that clears it)."""
        key = keymap.hint_for_field("quality") or "the Gradable button"
        return f"Ungradable is set — press {key} to clear it"

    @property
    def flashing(self) -> bool:
        """True while a refused key highlights the banner or notice that says why."""
        return self._flash_timer.isActive()

    def choice_row(self, field: str) -> ChoiceRow:
        """The button row of ``field`` ("quality", "rop", "stage", "zone", "plus", "confidence")."""
        return self._rows[field]

    # ================================================================= building
    def _build(self) -> None:
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(3)
        self.grader_label = QLabel("", self)
        font = self.grader_label.font()
        font.setBold(True)
        self.grader_label.setFont(font)
        self.grader_label.setWordWrap(True)
        self.status_label = QLabel("", self)
        self.status_label.setWordWrap(True)
        layout.addWidget(self.grader_label)
        layout.addWidget(self.status_label)
        self.ungradable_banner = QLabel(self.ungradable_text(), self)
        self.ungradable_banner.setObjectName("ungradableBanner")
        self.ungradable_banner.setWordWrap(True)
        self.ungradable_banner.setStyleSheet(style.banner_css(flash=False))
        self.ungradable_banner.setVisible(False)
        layout.addWidget(self.ungradable_banner)

        na = "n/a"
        self._rows: dict[str, ChoiceRow] = {
            "quality": ChoiceRow(
                choice_list(
                    "quality", style.QUALITY_COLORS, {Quality.GRADABLE: "Gradable", Quality.UNGRADABLE: "Ungradable"}
                ),
                self,
            ),
            "rop": ChoiceRow(
                choice_list(
                    "rop", style.ROP_COLORS, {RopPresence.NO: "No", RopPresence.YES: "Yes", RopPresence.NA: na}
                ),
                self,
            ),
            "stage": ChoiceRow(stage_choices(), self, columns=5),
            "zone": ChoiceRow(
                choice_list("zone", style.ZONE_COLORS, {Zone.POSTERIOR_II: "Post. II", Zone.NA: na}, style.ZONE_HELP),
                self,
            ),
            "plus": ChoiceRow(
                choice_list(
                    "plus",
                    style.PLUS_COLORS,
                    {Plus.NORMAL: "Normal", Plus.PRE_PLUS: "Pre-plus", Plus.PLUS: "Plus", Plus.NA: na},
                    style.PLUS_HELP,
                ),
                self,
            ),
            "confidence": ChoiceRow(confidence_choices(), self),
        }
        self._headers: dict[str, SectionHeader] = {}
        titles = [
            ("quality", "Image quality"),
            ("rop", "ROP"),
            ("stage", "Stage (ICROP3)"),
            ("zone", "Zone"),
            ("plus", "Plus disease"),
        ]
        self.zone_hint = ZoneHint(self)
        self.zone_hint.acceptRequested.connect(self.accept_zone_suggestion)
        for field, title in titles:
            self._add_section(layout, field, title, self._rows[field])
            if field == "zone":
                layout.addWidget(self.zone_hint)
        self._build_extent(layout)
        self._add_section(layout, "confidence", "Confidence", self._rows["confidence"])
        for field, row in self._rows.items():
            row.picked.connect(lambda value, f=field: self.apply(SetField(f, value)))

        self.comment_edit = QLineEdit(self)
        self.comment_edit.setPlaceholderText("Optional comment")
        self.comment_edit.setClearButtonEnabled(True)
        self.comment_edit.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # never the window's first focus: M or a click
        self.comment_edit.textEdited.connect(lambda text: self.apply(SetField("comment", text)))
        self.comment_edit.installEventFilter(self)
        self._add_section(
            layout, "comment", "Comment", self.comment_edit, keymap.hint_for_command(keymap.Command.FOCUS_COMMENT)
        )

        self.issue_label = QLabel("", self)
        self.issue_label.setWordWrap(True)
        self.issue_label.setTextFormat(Qt.TextFormat.RichText)
        self.notice = QLabel("", self)
        self.notice.setWordWrap(True)
        self.submit_button = QPushButton("", self)
        self.submit_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.submit_button.setToolTip(f"Shortcut: {keymap.hint_for_command(keymap.Command.SUBMIT)}")
        self.submit_button.clicked.connect(self.request_submit)
        layout.addSpacing(6)
        layout.addWidget(self.issue_label)
        layout.addWidget(self.notice)
        layout.addWidget(self.submit_button)
        layout.addStretch(1)

    def _add_section(self, layout: QVBoxLayout, field: str, title: str, body: QWidget, hint: str | None = None) -> None:
        header = SectionHeader(title, keymap.hint_for_field(field) if hint is None else hint, self)
        self._headers[field] = header
        layout.addWidget(header)
        layout.addWidget(body)

    def _build_extent(self, layout: QVBoxLayout) -> None:
        self.arop_check = QCheckBox("A-ROP", self)
        self.arop_check.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.arop_check.setToolTip(
            f"Aggressive ROP: rapidly progressive posterior disease\nShortcut: {keymap.hint_for_value('arop', True)}"
        )
        self.arop_check.clicked.connect(lambda checked: self.apply(SetField("arop", bool(checked))))
        self.extent_spin = QSpinBox(self)
        self.extent_spin.setRange(-1, 12)
        self.extent_spin.setSpecialValueText("—")
        self.extent_spin.setSuffix(" h")
        self.extent_spin.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.extent_spin.setToolTip(
            "Extent of the stage in clock hours (0–12; — = not answered)\n"
            f"Shortcut: {keymap.hint_for_field('extent_clock_hours')}"
        )
        self.extent_spin.valueChanged.connect(
            lambda v: self.apply(SetField("extent_clock_hours", None if v < 0 else v))
        )
        self.extent_spin.installEventFilter(self)
        body = QWidget(self)
        row = QHBoxLayout(body)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.arop_check)
        row.addStretch(1)
        self._extent_label = QLabel("Extent (clock hours)", body)
        row.addWidget(self._extent_label)
        row.addWidget(self.extent_spin)
        hint = " ".join(filter(None, (keymap.hint_for_field("arop"), keymap.hint_for_field("extent_clock_hours"))))
        self._add_section(layout, "extent", "A-ROP and extent", body, hint)

    def _set_interactive(self, interactive: bool) -> None:
        for row in self._rows.values():
            row.set_interactive(interactive)
        self.arop_check.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, not interactive)
        self.comment_edit.setReadOnly(not interactive)
        self.extent_spin.setReadOnly(not interactive)
        self.submit_button.setVisible(interactive)

    # ================================================================= showing the state
    def _refresh(self) -> None:
        values = self.values()
        for field, row in self._rows.items():
            row.set_current(getattr(values, field))
        self.zone_hint.set_current(values.zone)
        gradable = values.quality is not Quality.UNGRADABLE
        self.ungradable_banner.setVisible(not gradable)
        for field in ("rop", "stage", "zone", "plus"):
            self._rows[field].setEnabled(gradable)
        for widget in (self.arop_check, self.extent_spin, self._extent_label):
            widget.setEnabled(gradable)
        self.arop_check.setChecked(bool(values.arop))
        self.extent_spin.blockSignals(True)
        self.extent_spin.setValue(-1 if values.extent_clock_hours is None else values.extent_clock_hours)
        self.extent_spin.blockSignals(False)
        if self.comment_edit.text() != values.comment:
            self.comment_edit.setText(values.comment)
        self._show_issues(values)
        self._show_status(values)

    def _show_issues(self, values: GradeValues) -> None:
        issues = self.issues()
        self.issue_label.setText(feedback.issues_html(issues, values, strict=self._strict))
        self.issue_label.setVisible(bool(issues))
        worst: dict[str, str] = {}
        for issue in issues:
            severity = feedback.display_severity(issue, values, strict=self._strict)
            field = "extent" if issue.field in ("arop", "extent_clock_hours") else issue.field
            if severity != "todo" and worst.get(field) != "error":
                worst[field] = severity
        for field, header in self._headers.items():
            header.set_marker(worst.get(field))
        errors = any(i.severity == "error" for i in issues)
        self.submit_button.setEnabled(not errors and not self._read_only)
        anyway = self._warnings_accepted_for == values and any(i.severity == "warning" for i in issues)
        self.submit_button.setText("Submit anyway  ⏎" if anyway else "Submit and next  ⏎")

    def _show_status(self, values: GradeValues) -> None:
        if self._save_error:
            text, color = f"Not saved: {self._save_error}", style.ERROR
        else:
            text, color = feedback.status_text(
                started=self._edited or values != GradeValues(),
                submitted=self._submitted,
                edited=self._edited,
                read_only=self._read_only,
                submitted_at=self._submitted_at,
            )
        self.status_label.setText(text)
        self.status_label.setStyleSheet(f"color: {color};")

    def _notify(self, text: str, color: str) -> None:
        """A one-off message under the issues ("Cannot submit: …"); ``""`` hides it."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))
        self.notice.setStyleSheet(f"color: {color}; font-weight: bold;")

    def _refuse(self, text: str, color: str) -> None:
        """A key or click that could not act: say why in the notice, flash what the grader should
        look at (the ungradable banner when it is the reason, else the notice) and emit ``refused``."""
        self._notify(text, color)
        self._flash_color = color
        self._flash_timer.start()
        self._show_flash(True)
        self.refused.emit(text)

    def _show_flash(self, on: bool) -> None:
        self.ungradable_banner.setStyleSheet(style.banner_css(flash=on and self.ungradable_banner.isVisible()))
        if self.notice.isVisible():
            color = self._flash_color
            background = f" background: {style.FLASH_BACKGROUND}; border-radius: 3px;" if on else ""
            self.notice.setStyleSheet(f"color: {color}; font-weight: bold;{background}")

    def _end_flash(self) -> None:
        self._show_flash(False)

    # ================================================================= text fields and focus
    def _on_focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        fields = (self.comment_edit, self.extent_spin)
        if new in fields and old not in fields:
            self._focus_return = old

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        """Escape / Enter in the comment or extent field hand the keyboard back to the grading keys."""
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) and event.key() in _LEAVE_KEYS:
            self._leave_text_field(watched)
            return True
        return super().eventFilter(watched, event)

    def _leave_text_field(self, field: QObject) -> None:
        back = self._focus_return
        self._focus_return = None
        if back is not None and shiboken6.isValid(back) and back.isVisible() and back.isEnabled():
            back.setFocus(Qt.FocusReason.OtherFocusReason)
        elif isinstance(field, QWidget):
            field.clearFocus()
