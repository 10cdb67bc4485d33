"""Bind the window's and canvas's keys from the one shortcut table (ui.grading.keymap)."""

from __future__ import annotations

from rop_desktop.ui.grading import GradingShortcuts
from rop_desktop.ui.main_window import MainWindow


def bind_window_keys(window: MainWindow, keys: GradingShortcuts) -> None:
    canvas = window.canvas
    bindings = {
        "canvas.tool.select": window.tool_actions["select"].trigger,
        "canvas.tool.polygon": window.tool_actions["polygon"].trigger,
        "canvas.tool.trace": window.tool_actions["trace"].trigger,
        "canvas.tool.pan": window.tool_actions["pan"].trigger,
        "canvas.tool.landmarks": window.tool_actions["landmarks"].trigger,
        "canvas.fit": canvas.fit,
        "canvas.actual_size": canvas.actual_size,
        "canvas.zoom_in": lambda: canvas.zoom_by(1.25),
        "canvas.zoom_out": lambda: canvas.zoom_by(0.8),
        "canvas.undo": window.undo_action.trigger,
        "canvas.redo": window.redo_action.trigger,
        "canvas.display.cycle": window.display_bar.cycle_mode,
        "canvas.display.reset": window.display_bar.reset.click,
        "nav.next": window.next_todo_action.trigger,
        "nav.previous": window.prev_action.trigger,
        "worklist.refresh": window.worklist.refresh_list,
        "window.fullscreen": lambda: window.showNormal() if window.isFullScreen() else window.showFullScreen(),
        "window.quit": window.close,
    }
    for shortcut_id, callback in bindings.items():
        keys.bind(shortcut_id, callback)
    window.help_action.triggered.connect(keys.toggle_help)
    for name, action in window.tool_actions.items():
        spec = keys.spec(f"canvas.tool.{name}")
        action.setToolTip(f"{action.text()} ({', '.join(spec.keys)})")
