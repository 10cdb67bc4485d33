"""Small widgets of the grade panel: a row of checkable choice buttons and a section header."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from rop_desktop.domain.labels import Stage

from . import keymap, style


@dataclass(frozen=True)
class Choice:
    """One button of a :class:`ChoiceRow`."""

    value: object
    text: str
    tooltip: str
    color: str


class ChoiceRow(QWidget):
    """Checkable buttons of which at most one is checked; ``picked(value)`` on a user click only.

    The buttons never take keyboard focus, so clicking one leaves the focus (and the Space-to-pan
    of the canvas) where it was. The checked button is set by :meth:`set_current`, never by Qt.
    """

    picked = Signal(object)

    def __init__(self, choices: Sequence[Choice], parent: QWidget | None = None, *, columns: int = 0) -> None:
        super().__init__(parent)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(3)
        layout.setVerticalSpacing(3)
        columns = columns or len(choices)
        self._buttons: dict[object, QToolButton] = {}
        self._current: object = None
        for i, choice in enumerate(choices):
            button = QToolButton(self)
            button.setText(choice.text)
            button.setToolTip(choice.tooltip)
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.setMinimumWidth(0)
            button.setStyleSheet(style.choice_button_css(choice.color))
            button.clicked.connect(lambda _checked=False, v=choice.value: self._clicked(v))
            layout.addWidget(button, i // columns, i % columns)
            self._buttons[choice.value] = button
        for column in range(columns):
            layout.setColumnStretch(column, 1)

    def button(self, value: object) -> QToolButton:
        """The button of ``value`` (KeyError for a value that is not offered)."""
        return self._buttons[value]

    def current(self) -> object:
        return self._current

    def set_current(self, value: object) -> None:
        """Check the button of ``value`` and uncheck the others (``None`` unchecks all)."""
        self._current = value
        for v, button in self._buttons.items():
            button.setChecked(v == value and value is not None)

    def set_interactive(self, interactive: bool) -> None:
        """Read-only rows keep their look (the selection stays visible) but ignore the mouse."""
        for button in self._buttons.values():
            button.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, not interactive)

    def _clicked(self, value: object) -> None:
        self.set_current(self._current)  # the panel decides; undo Qt's own toggle until it does
        self.picked.emit(value)


class SectionHeader(QWidget):
    """A bold caption on the left, its keyboard hint on the right, and a dot when the field has an issue."""

    def __init__(self, title: str, hint: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 1)
        layout.setSpacing(4)
        self.title = QLabel(title.upper(), self)
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 0.85)
        font.setLetterSpacing(font.SpacingType.PercentageSpacing, 106)
        self.title.setFont(font)
        self.marker = QLabel("", self)
        self.marker.setFixedSize(8, 8)
        self.hint = QLabel(hint, self)
        hint_font = self.hint.font()
        hint_font.setPointSizeF(hint_font.pointSizeF() * 0.85)
        self.hint.setFont(hint_font)
        self.hint.setStyleSheet(f"color: {style.MISSING};")
        self.hint.setToolTip("Keyboard shortcut (F1 lists them all)")
        layout.addWidget(self.title)
        layout.addWidget(self.marker)
        layout.addStretch(1)
        layout.addWidget(self.hint)

    def set_marker(self, severity: str | None) -> None:
        """Show a red (``"error"``), amber (``"warning"``) or no dot next to the title."""
        color = {"error": style.ERROR, "warning": style.WARNING}.get(severity or "")
        self.marker.setProperty("severity", severity or "")
        self.marker.setStyleSheet(f"background: {color}; border-radius: 4px;" if color else "")


def choice_list(field: str, colors: dict, texts: dict, helps: dict | None = None) -> list[Choice]:
    """One choice per value of ``colors``: button text from ``texts``, tooltip with ICROP3 help and shortcut."""
    out = []
    for value, color in colors.items():
        label = getattr(value, "label", f"{field.capitalize()} {value}")
        tip = label + (f"\n{helps[value]}" if helps else "")
        hint = keymap.hint_for_value(field, value)
        out.append(
            Choice(
                value,
                texts.get(value, str(getattr(value, "value", value))),
                tip + (f"\nShortcut: {hint}" if hint else ""),
                color,
            )
        )
    return out


def stage_choices() -> list[Choice]:
    """Stages 0–3 and "not assessable" on the first row, 4A–5C on the second."""
    by_value = {c.value: c for c in choice_list("stage", style.STAGE_COLORS, {Stage.NA: "n/a"}, style.STAGE_HELP)}
    order = (Stage.S0, Stage.S1, Stage.S2, Stage.S3, Stage.NA, Stage.S4A, Stage.S4B, Stage.S5A, Stage.S5B, Stage.S5C)
    return [by_value[s] for s in order]


def confidence_choices() -> list[Choice]:
    words = {1: "guess", 2: "unsure", 3: "fairly sure", 4: "sure", 5: "certain"}
    return [
        Choice(n, str(n), f"Confidence {n} — {words[n]}\nShortcut: {keymap.hint_for_value('confidence', n)}", color)
        for n, color in style.CONFIDENCE_COLORS.items()
    ]
