"""``HelpOverlay``: every shortcut of the window on a dimmed layer over it (F1), grouped by scope.

The overlay covers its parent window and follows its size. While it is open it takes the
keyboard, so no shortcut fires behind it; Escape, F1 or a click anywhere closes it and gives the
focus back to where it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QApplication, QFrame, QGridLayout, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from .keymap import Context, Scope, ShortcutSpec, compress_keys

_CARD_CSS = """
#card { background: rgba(30, 32, 36, 242); border: 1px solid #4a4f57; border-radius: 10px; }
#card QLabel { color: #e8eaed; background: transparent; }
#card QLabel#title { font-weight: bold; }
#card QLabel#subtitle { color: #9aa0a6; }
#card QLabel#when { color: #9aa0a6; font-style: italic; padding-top: 4px; }
#card QLabel#group { color: #8ab4f8; font-weight: bold; }
#card QLabel#key { background: #3c4043; border: 1px solid #5f6368; border-bottom: 2px solid #5f6368;
                   border-radius: 4px; padding: 0px 5px; color: #ffffff; }
"""
_SCROLL_CSS = """
QScrollArea, QScrollArea > QWidget > QWidget { background: transparent; }
QScrollBar:vertical { background: transparent; width: 10px; margin: 0; }
QScrollBar::handle:vertical { background: rgba(255, 255, 255, 90); border-radius: 4px; min-height: 32px; }
QScrollBar::add-line:vertical, QScrollBar::sub-line:vertical { height: 0; }
QScrollBar::add-page:vertical, QScrollBar::sub-page:vertical { background: transparent; }
"""
_WHEN = {
    Context.CANVAS: "When the image has the keyboard focus",
    Context.DRAWING: "While drawing a polygon",
    Context.LANDMARKS: "In the Landmarks tool (D)",
}
_CLOSE_KEYS = (Qt.Key.Key_Escape, Qt.Key.Key_F1)


def help_rows(entries: Sequence[ShortcutSpec]) -> list[tuple[Scope, list[str], str, Context]]:
    """(scope, key texts, description, context) per help row, merging runs that share a ``help_row``."""
    rows: list[tuple[Scope, list[str], str, Context]] = []
    for spec in entries:
        last = rows[-1] if rows else None
        if spec.help_row and last is not None and last[2] == spec.help_row and last[0] is spec.scope:
            last[1].extend(spec.key_texts())
            continue
        rows.append((spec.scope, spec.key_texts(), spec.help_row or spec.description, spec.context))
    return rows


def _columns(groups: list[tuple[Scope, int]], count: int) -> list[list[Scope]]:
    """Deal groups (in order, with their heights in rows) to at most ``count`` columns, each to the shortest."""
    columns: list[list[Scope]] = [[] for _ in range(min(count, len(groups)) or 1)]
    heights = [0] * len(columns)
    for scope, rows in groups:
        shortest = heights.index(min(heights))
        columns[shortest].append(scope)
        heights[shortest] += rows + 2
    return columns


class HelpOverlay(QWidget):
    """The shortcut list over ``parent`` (see the module docstring); ``closed`` when it goes away."""

    closed = Signal()

    def __init__(self, parent: QWidget, entries: Sequence[ShortcutSpec]) -> None:
        super().__init__(parent)
        self._host = parent  #: the widget the overlay covers (typed: parentWidget() may be None)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, False)
        self._entries = list(entries)
        self._focus_back: QWidget | None = None
        self._scroll = QScrollArea(self)
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setStyleSheet(_SCROLL_CSS)
        self._scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 16, 16, 16)
        outer.addWidget(self._scroll)
        parent.installEventFilter(self)
        self.hide()

    def set_entries(self, entries: Sequence[ShortcutSpec]) -> None:
        self._entries = list(entries)
        if self.isVisible():
            self._rebuild()

    def rows(self) -> list[tuple[Scope, list[str], str, Context]]:
        """What the overlay lists (see :func:`help_rows`)."""
        return help_rows(self._entries)

    def open_overlay(self) -> None:
        """Cover the parent, take the keyboard and show the list."""
        focus = QApplication.focusWidget()
        self._focus_back = focus if focus is not self else None
        self.setGeometry(self._host.rect())
        self._rebuild()
        self.show()
        self.raise_()
        self.setFocus(Qt.FocusReason.PopupFocusReason)

    def close_overlay(self) -> None:
        """Hide and give the keyboard back."""
        if not self.isVisible():
            return
        self.hide()
        back, self._focus_back = self._focus_back, None
        if back is not None and shiboken6.isValid(back) and back.isVisible():
            back.setFocus(Qt.FocusReason.PopupFocusReason)
        self.closed.emit()

    # ================================================================= content
    def _rebuild(self) -> None:
        """Lay the groups out in as many columns (3, 2, 1) as fit the window."""
        old = self._scroll.takeWidget()
        if old is not None:
            old.deleteLater()
        room = self.width() - 2 * 16 - 12
        for columns in (3, 2, 1):
            card = self._card(columns)
            if columns == 1 or card.sizeHint().width() <= room:
                break
            card.deleteLater()
        holder = QWidget()
        centring = QHBoxLayout(holder)
        centring.addStretch(1)
        centring.addWidget(card, 0, Qt.AlignmentFlag.AlignVCenter)
        centring.addStretch(1)
        self._scroll.setWidget(holder)

    def _card(self, columns: int) -> QFrame:
        card = QFrame()
        card.setObjectName("card")
        card.setStyleSheet(_CARD_CSS)
        base = QApplication.font().pointSizeF()
        layout = QVBoxLayout(card)
        layout.setContentsMargins(24, 18, 24, 22)
        layout.setSpacing(4)
        layout.addWidget(self._label("Keyboard shortcuts", "title", base * 1.55))
        layout.addWidget(
            self._label(
                "F1, Esc or a click closes this help. Grading keys pause while you type in a text field.",
                "subtitle",
                base,
            )
        )
        layout.addSpacing(10)
        rows = self.rows()
        order = [s for s in Scope if any(r[0] is s for r in rows)]
        sizes = [(s, sum(r[0] is s for r in rows) + len({r[3] for r in rows if r[0] is s})) for s in order]
        body = QHBoxLayout()
        body.setSpacing(30)
        for scopes in _columns(sizes, columns):
            column = QVBoxLayout()
            column.setSpacing(14)
            for scope in scopes:
                column.addLayout(self._group(scope, [r for r in rows if r[0] is scope], base))
            column.addStretch(1)
            body.addLayout(column)
        layout.addLayout(body)
        return card

    def _group(self, scope: Scope, rows: list[tuple[Scope, list[str], str, Context]], base: float) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(5)
        grid.addWidget(self._label(scope.value.upper(), "group", base * 1.05), 0, 0, 1, 2)
        line = 1
        for context in Context:
            chosen = [r for r in rows if r[3] is context]
            if not chosen:
                continue
            if context in _WHEN:
                grid.addWidget(self._label(_WHEN[context], "when", base * 0.95), line, 0, 1, 2)
                line += 1
            for _, keys, text, _ in chosen:
                chips = QHBoxLayout()
                chips.setSpacing(3)
                for key in compress_keys(keys):
                    chips.addWidget(self._label(key, "key", base))
                chips.addStretch(1)
                grid.addLayout(chips, line, 0)
                grid.addWidget(self._label(text, "text", base), line, 1)
                line += 1
        grid.setColumnStretch(1, 1)
        return grid

    @staticmethod
    def _label(text: str, name: str, point_size: float) -> QLabel:
        label = QLabel(text)
        label.setObjectName(name)
        font = label.font()
        font.setPointSizeF(point_size)
        label.setFont(font)
        return label

    # ================================================================= events
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(0, 0, 0, 150))

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride:
            event.accept()  # the window's shortcuts are asleep while the help is open
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if event.key() in _CLOSE_KEYS:
            self.close_overlay()
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        self.close_overlay()
        event.accept()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self._host and event.type() == QEvent.Type.Resize and self.isVisible():
            self.setGeometry(self._host.rect())
            self._rebuild()  # the number of columns follows the width
        return super().eventFilter(watched, event)
