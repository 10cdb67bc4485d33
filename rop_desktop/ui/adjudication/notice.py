"""Messages that must not block: a window-modal message box opened with ``open()``, not ``exec()``.

The caller keeps the returned box (e.g. as ``last_notice``) so a test or a later action can read
or close it; Qt deletes it when it is closed.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def show_notice(
    parent: QWidget | None, title: str, text: str, icon: QMessageBox.Icon = QMessageBox.Icon.Information
) -> QMessageBox:
    """Show ``text`` in a message box over ``parent`` without waiting for it to be closed."""
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.open()
    return box
