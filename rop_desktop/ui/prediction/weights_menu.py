"""*Models → Import pretrained weights…*: ``rop-train weights import FILE`` from the window.

Only for the accounts that may manage models (adjudicators, admins: ``Action.MODELS_MANAGE``);
the service refuses anyone else all the same. The chosen file is verified by its published
SHA-256 and stored in the torch cache (``ModelService.import_pretrained`` → ``training.weights``);
a notice then says which models now start pretrained, or why the file was refused. The file
choice goes through :attr:`WeightsMenu.ask_file` (a dialog by default), which a test replaces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from rop_desktop.services import policy
from rop_desktop.services.models import ModelService, ModelServiceError
from rop_desktop.services.policy import AccessDenied, Action
from rop_desktop.ui.adjudication.notice import show_notice

TITLE = "Import pretrained weights"
FILE_FILTER = "PyTorch / safetensors weights (*.pth *.pt *.safetensors);;All files (*)"


class WeightsMenu(QObject):
    """The window's Models menu; ``last_notice`` is the message box of the last import."""

    def __init__(self, window: Any, models: ModelService, on_imported: Callable[[str], None] | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.models = models
        self._on_imported = on_imported
        self.ask_file: Callable[[], str | None] = self._ask_file
        self.last_notice: QMessageBox | None = None
        self.menu = window.menuBar().addMenu("&Models")
        self.import_action: QAction = self.menu.addAction("Import pretrained weights…")
        self.import_action.setToolTip(
            "A torchvision checkpoint fetched on a machine with a network (see the "
            "README): verified by its SHA-256, then the CPU models start from it"
        )
        self.import_action.triggered.connect(self.choose_and_import)
        self.menu.menuAction().setVisible(policy.allowed(models.study, models.actor, Action.MODELS_MANAGE))

    def _ask_file(self) -> str | None:
        path, _filter = QFileDialog.getOpenFileName(self.window, TITLE, "", FILE_FILTER)
        return path or None

    def choose_and_import(self) -> str | None:
        """Ask for a file and import it; returns the message shown (None when nothing was chosen)."""
        path = self.ask_file()
        if not path:
            return None
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # hashing a 100 MB file takes a moment
        try:
            done = self.models.import_pretrained(path)
        except (AccessDenied, ModelServiceError) as exc:
            text, icon = (exc.reason if isinstance(exc, AccessDenied) else str(exc)), QMessageBox.Icon.Warning
        else:
            text, icon = done.describe(), QMessageBox.Icon.Information
            if self._on_imported is not None:
                self._on_imported(text)
        finally:
            QApplication.restoreOverrideCursor()
        self.last_notice = show_notice(self.window, TITLE, text, icon)
        return text
