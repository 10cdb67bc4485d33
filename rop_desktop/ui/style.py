"""The app's look: Qt's Fusion style, a dark palette and resources/style.qss."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication


def resources_dir() -> Path:
    """``resources/`` beside the package in a checkout, or inside the frozen app's bundle."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))
    return base / "resources"


def apply_style(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    for role, color in (
        (QPalette.ColorRole.Window, "#1f2328"),
        (QPalette.ColorRole.WindowText, "#dfe3e8"),
        (QPalette.ColorRole.Base, "#22272d"),
        (QPalette.ColorRole.AlternateBase, "#262c33"),
        (QPalette.ColorRole.Text, "#dfe3e8"),
        (QPalette.ColorRole.Button, "#2b3138"),
        (QPalette.ColorRole.ButtonText, "#dfe3e8"),
        (QPalette.ColorRole.Highlight, "#3b6ea8"),
        (QPalette.ColorRole.HighlightedText, "#ffffff"),
        (QPalette.ColorRole.ToolTipBase, "#2b3138"),
        (QPalette.ColorRole.ToolTipText, "#dfe3e8"),
        (QPalette.ColorRole.PlaceholderText, "#7d8792"),
    ):
        palette.setColor(role, QColor(color))
    app.setPalette(palette)
    qss = resources_dir() / "style.qss"
    if qss.is_file():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))
