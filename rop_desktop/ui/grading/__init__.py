"""The grading workspace's own widgets: the keyboard-first grade panel and the F1 shortcut help.

Modules: :mod:`.grade_panel` (``GradePanel``), :mod:`.shortcuts` (``GradingShortcuts``: binds the
keys), :mod:`.keymap` (the one keyboard table, conflict checks), :mod:`.help_overlay`
(``HelpOverlay``), :mod:`.editing` (Qt-free edit operations and implied-field rules),
:mod:`.choices` (button rows, section headers), :mod:`.feedback` (issue and status wording),
:mod:`.style` (colours, ICROP3 tooltips). The widgets know only domain values and emit signals.
"""

from __future__ import annotations

from .editing import CycleField, EditRefused, GradeEditor, InvalidGradeValues, SetField, StepField, ToggleFlag
from .grade_panel import GradePanel
from .help_overlay import HelpOverlay
from .keymap import SHORTCUTS, Command, Context, Scope, ShortcutSpec, ShortcutTableError, find_conflicts
from .shortcuts import GradingShortcuts

__all__ = [
    "SHORTCUTS",
    "Command",
    "Context",
    "CycleField",
    "EditRefused",
    "GradeEditor",
    "GradePanel",
    "GradingShortcuts",
    "HelpOverlay",
    "InvalidGradeValues",
    "Scope",
    "SetField",
    "ShortcutSpec",
    "ShortcutTableError",
    "StepField",
    "ToggleFlag",
    "find_conflicts",
]
