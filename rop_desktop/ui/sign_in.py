"""Sign in at start: pick or create a profile, then the password when the profile has one."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QDialog, QInputDialog, QLineEdit, QMessageBox, QWidget

from rop_desktop.domain.labels import Role
from rop_desktop.services.accounts import AccountError, authenticate, needs_password, new_profile
from rop_desktop.services.grading import GraderInfo, list_graders
from rop_desktop.ui.grader_dialog import GraderDialog

MAX_TRIES = 3


def ask_password(study: Any, name: str, parent: QWidget | None = None) -> GraderInfo | None:
    """Verify ``name``'s password (up to three tries); the profile when it matches, else None."""
    for attempt in range(MAX_TRIES):
        prompt = f"Password for {name}:" if attempt == 0 else f"Wrong password. Password for {name}:"
        password, ok = QInputDialog.getText(parent, "Sign in", prompt, QLineEdit.EchoMode.Password)
        if not ok:
            return None
        try:
            return authenticate(study, name, password)
        except AccountError:
            continue
    QMessageBox.warning(parent, "Sign in", "Three wrong passwords: ROP Desktop will close.")
    return None


def sign_in(study: Any, name: str | None = None, parent: QWidget | None = None) -> GraderInfo | None:
    """The signed-in grader, or None when the user gave up. ``name`` skips the profile dialog."""
    if name is not None:
        info = next((g for g in list_graders(study) if g.name == name), None)
        if info is None:
            try:
                return new_profile(study, name, Role.GRADER)
            except AccountError as exc:
                QMessageBox.warning(parent, "Sign in", exc.reason)
                return None
    else:
        dialog = GraderDialog(list_graders(study), lambda n, role: new_profile(study, n, role or Role.GRADER),
                              parent)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.chosen is None:
            return None
        info = dialog.chosen
    if needs_password(study, info.name):
        return ask_password(study, info.name, parent)
    return info
