"""``GradingShortcuts``: binds the keyboard table (:mod:`.keymap`) to a host window and a grade panel.

One :class:`QShortcut` per key, window-wide (``Qt.WindowShortcut``) on the host. Keys that type
text (no Ctrl / Meta, not an F-key) are disabled while a text field of the window has the
keyboard focus, so typing "2" in a comment or a search box types "2". The grade panel's keys do
nothing while it is read-only. Canvas and window entries are bound by the host with
:meth:`GradingShortcuts.bind`; those the canvas handles itself (Space, Delete, Escape, the keys
while drawing) are only listed. Only bound or handled keys appear in the F1 help.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QPlainTextEdit, QTextEdit, QWidget

from .editing import StepField
from .grade_panel import GradePanel
from .help_overlay import HelpOverlay
from .keymap import SHORTCUTS, Command, Context, ShortcutSpec, ShortcutTableError, first_chord, validate_table

_TEXT_WIDGETS = (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox)
_FUNCTION_KEYS = range(Qt.Key.Key_F1.value, Qt.Key.Key_F35.value + 1)


def is_text_entry(widget: QWidget | None) -> bool:
    """True when ``widget`` takes typed text (line / text edits, spin boxes, editable combo boxes)."""
    if widget is None:
        return False
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    if isinstance(widget, (QTextEdit, QPlainTextEdit)):
        return not widget.isReadOnly()
    return isinstance(widget, _TEXT_WIDGETS)


def works_while_typing(sequence: QKeySequence) -> bool:
    """Ctrl / Meta chords and F-keys never type text, so they stay live in a text field."""
    combo = first_chord(sequence)
    return (
        bool(combo.keyboardModifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier))
        or combo.key().value in _FUNCTION_KEYS
    )


class GradingShortcuts(QObject):
    """Installs the keyboard table on ``host`` (the main window, or any top-level widget in tests)."""

    def __init__(self, host: QWidget, panel: GradePanel, table: Sequence[ShortcutSpec] = SHORTCUTS) -> None:
        super().__init__(host)
        validate_table(table)
        self._host = host
        self._panel = panel
        self._table = tuple(table)
        self._installed: dict[str, list[QShortcut]] = {}
        self._overlay: HelpOverlay | None = None
        for spec in self._table:
            if spec.action is not None:
                self._install(spec, self._action_of(spec))
        app = QApplication.instance()
        if isinstance(app, QApplication):  # focus exists only in a widget application
            app.focusChanged.connect(self._refresh_enabled)
        self._refresh_enabled()

    @property
    def table(self) -> tuple[ShortcutSpec, ...]:
        return self._table

    def spec(self, shortcut_id: str) -> ShortcutSpec:
        """The table entry ``shortcut_id``; raises :class:`ShortcutTableError` for an unknown id."""
        for spec in self._table:
            if spec.id == shortcut_id:
                return spec
        raise ShortcutTableError(f"no shortcut {shortcut_id!r} in the table")

    def bind(self, shortcut_id: str, callback: Callable[[], object]) -> None:
        """Make the keys of a listed canvas / window entry (e.g. ``"nav.next"``) call ``callback``."""
        spec = self.spec(shortcut_id)
        if spec.action is not None:
            raise ShortcutTableError(f"shortcut {shortcut_id!r} belongs to the grade panel and cannot be rebound")
        if spec.context is not Context.WINDOW:
            raise ShortcutTableError(f"shortcut {shortcut_id!r} is handled by the canvas itself ({spec.context.value})")
        if shortcut_id in self._installed:
            raise ShortcutTableError(f"shortcut {shortcut_id!r} is already bound")
        self._install(spec, callback)
        self._refresh_enabled()

    def shortcuts(self, shortcut_id: str) -> list[QShortcut]:
        """The installed QShortcut objects of an entry (empty when it is not bound)."""
        return list(self._installed.get(shortcut_id, []))

    def help_entries(self) -> list[ShortcutSpec]:
        """The entries the F1 help lists: everything bound here plus what the canvas handles itself."""
        return [s for s in self._table if s.id in self._installed or s.context is not Context.WINDOW]

    @property
    def help_overlay(self) -> HelpOverlay | None:
        """The help overlay once it has been opened."""
        return self._overlay

    def toggle_help(self) -> None:
        """Open the shortcut help over the host window, or close it."""
        if self._overlay is None:
            self._overlay = HelpOverlay(self._host.window(), self.help_entries())
        if self._overlay.isVisible():
            self._overlay.close_overlay()
        else:
            self._overlay.set_entries(self.help_entries())
            self._overlay.open_overlay()

    # ================================================================= internals
    def _install(self, spec: ShortcutSpec, callback: Callable[[], object]) -> None:
        made = []
        for sequence in spec.sequences():
            shortcut = QShortcut(sequence, self._host)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.setAutoRepeat(isinstance(spec.action, StepField))
            shortcut.activated.connect(callback)
            made.append(shortcut)
        self._installed[spec.id] = made

    def _action_of(self, spec: ShortcutSpec) -> Callable[[], object]:
        action = spec.action
        if action is Command.HELP:
            return self.toggle_help
        if action is Command.SUBMIT:
            return self._panel.request_submit
        if action is Command.FOCUS_COMMENT:
            return self._panel.focus_comment
        if action is Command.ACCEPT_ZONE:
            return self._panel.accept_zone_suggestion
        return lambda: self._panel.apply(action)  # type: ignore[arg-type]

    def _refresh_enabled(self, *_: object) -> None:
        typing = is_text_entry(QApplication.focusWidget())
        for shortcuts in self._installed.values():
            for shortcut in shortcuts:
                shortcut.setEnabled(not typing or works_while_typing(shortcut.key()))
