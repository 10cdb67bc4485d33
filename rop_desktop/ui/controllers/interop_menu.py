"""The Interop menu: import / export annotation files and export the images as de-identified DICOM.

Every action runs a service with the signed-in actor, which decides: importing annotations is
for admins, exporting everyone's work and the DICOM export for adjudicators and admins, and a
grader exports their own work only. The menu shows only what the policy allows the account; a
refusal from a service (an action triggered anyway) is shown with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox

from rop_desktop.services import policy
from rop_desktop.services.dicom_export import iter_export_dicom
from rop_desktop.services.policy import AccessDenied, Action, Actor
from rop_desktop.services.studies import Study
from rop_desktop.ui.annotation_dialogs import AnnotationExportDialog, AnnotationImportDialog
from rop_desktop.workers.runner import GeneratorWorker


class InteropMenu:
    """Owns the menu's actions and the dialog / worker it last started (kept alive, inspectable)."""

    def __init__(self, window: QMainWindow, study: Study, actor: Actor, refresh: Callable[[], None]) -> None:
        self.window = window
        self.study = study
        self.actor = actor
        self._refresh = refresh
        menu: QMenu = window.menuBar().addMenu("&Interop")
        self.menu = menu
        self.import_action = menu.addAction("Import annotations…")
        self.import_action.triggered.connect(self.import_annotations)
        self.import_action.setVisible(policy.allowed(study, actor, Action.IMPORT_ANNOTATIONS))
        self.export_action = menu.addAction("Export annotations…")
        self.export_action.triggered.connect(self.export_annotations)
        self.separator = menu.addSeparator()
        self.dicom_action = menu.addAction("Export DICOM (de-identified)…")
        self.dicom_action.triggered.connect(lambda _checked=False: self.choose_dicom_folder("remove"))
        self.dicom_shift_action = menu.addAction("Export DICOM (de-identified, dates shifted per patient)…")
        self.dicom_shift_action.setToolTip(
            "PS3.15 Retain Longitudinal Temporal Information with Modified Dates: "
            "each infant's dates move by its own offset; intervals are kept"
        )
        self.dicom_shift_action.triggered.connect(lambda _checked=False: self.choose_dicom_folder("shift"))
        may_export_all = policy.allowed(study, actor, Action.EXPORT_ALL)
        self.dicom_action.setVisible(may_export_all)
        self.dicom_shift_action.setVisible(may_export_all)
        self.separator.setVisible(may_export_all)
        self.dialog: AnnotationImportDialog | AnnotationExportDialog | None = None
        self.dicom_worker: GeneratorWorker | None = None
        self.message: QMessageBox | None = None

    def import_annotations(self) -> AnnotationImportDialog:
        dialog = AnnotationImportDialog(self.study, self.actor, self.window)
        dialog.finishedWork.connect(lambda summary: summary is not None and self._refresh())
        self.dialog = dialog
        dialog.show()
        return dialog

    def export_annotations(self) -> AnnotationExportDialog:
        self.dialog = AnnotationExportDialog(self.study, self.actor, self.window)
        self.dialog.show()
        return self.dialog

    def choose_dicom_folder(self, dates: str = "remove") -> None:
        try:  # before a folder is asked for; the export service decides again in its worker
            policy.check(self.study, self.actor, Action.EXPORT_ALL)
        except AccessDenied as exc:
            self._show("DICOM export", exc.reason)
            return
        folder = QFileDialog.getExistingDirectory(self.window, "Export de-identified DICOM into folder")
        if folder:
            self.export_dicom(Path(folder), dates=dates)

    def export_dicom(self, folder: Path, *, dates: str = "remove") -> GeneratorWorker:
        """Export in a worker; progress in the status bar, the summary (or the refusal) in a message box."""
        self.dicom_action.setEnabled(False)
        study, actor = self.study, self.actor
        worker = GeneratorWorker(lambda: iter_export_dicom(study, actor, folder, dates=dates))
        worker.setParent(self.window)
        worker.yielded.connect(lambda p: self.window.statusBar().showMessage(f"DICOM export: {p.done} of {p.total}"))
        worker.returned.connect(lambda summary: self._dicom_done("\n".join(summary.lines())))
        worker.errored.connect(
            lambda exc: self._dicom_done(f"The DICOM export stopped: {getattr(exc, 'reason', None) or exc}")
        )
        self.dicom_worker = worker
        worker.start()
        return worker

    def _dicom_done(self, text: str) -> None:
        self.dicom_action.setEnabled(True)
        self.window.statusBar().clearMessage()
        self._show("DICOM export", text)

    def _show(self, title: str, text: str) -> None:
        self.message = QMessageBox(
            QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Close, self.window
        )
        self.message.open()


def install_interop_menu(window: QMainWindow, study: Study, actor: Actor, refresh: Callable[[], None]) -> InteropMenu:
    """Add the Interop menu to ``window`` for ``actor``; ``refresh`` is called after annotations were imported."""
    return InteropMenu(window, study, actor, refresh)
