"""The File menu: import images into this study (admins), open / create another study, recent
studies, quit. (Switch grader… and Change my password… are added by ``controllers.accounts``.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu

from rop_desktop.services import policy
from rop_desktop.services.importer import import_images
from rop_desktop.services.policy import Action, Actor
from rop_desktop.services.studies import Study, recent_study_folders
from rop_desktop.ui.connect_dialog import ConnectDialog
from rop_desktop.ui.import_dialog import ImportDialog
from rop_desktop.ui.main_window import MainWindow

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.dcm *.dicom);;All files (*)"


class StudyMenu:
    """Builds the File menu. ``open_study(path, database_url or None)`` is the composition root's way
    to switch studies (a shared study has a PostgreSQL URL besides its folder).

    The import actions are shown only to an account the policy lets import images (admins); the
    import service refuses anyone else all the same, and the import dialog shows why."""

    def __init__(
        self,
        window: MainWindow,
        study: Study,
        actor: Actor,
        open_study: Callable[[Path, str | None], None],
        after_import: Callable[[], None],
    ) -> None:
        self.window = window
        self.study = study
        self.actor = actor
        self._open_study = open_study
        self._after_import = after_import
        menu: QMenu = window.menuBar().addMenu("&File")
        self.menu = menu
        self.import_files_action = self._add(menu, "Import images…", self.import_files)
        self.import_folder_action = self._add(menu, "Import a folder…", self.import_folder)
        may_import = policy.allowed(study, actor, Action.IMPORT_IMAGES)
        for action in (self.import_files_action, self.import_folder_action):
            action.setVisible(may_import)
        self.import_separator = menu.addSeparator()
        self.import_separator.setVisible(may_import)
        self.open_action = self._add(menu, "Open or create a study…", self.choose_study)
        self.connect_action = self._add(menu, "Connect to a shared study…", self.connect_shared)
        self.recent_menu = menu.addMenu("Recent studies")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        menu.addSeparator()
        self.quit_action = self._add(menu, "Quit", window.close)
        self.dialog: ImportDialog | None = None

    def _add(self, menu: QMenu, text: str, slot: Callable[[], object]) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(slot)
        return action

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in recent_study_folders():
            action = self.recent_menu.addAction(str(path))
            action.triggered.connect(lambda _=False, p=path: self._open_study(p, None))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def choose_study(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Open or create a study folder")
        if folder:
            self._open_study(Path(folder), None)

    def connect_shared(self) -> None:
        dialog = ConnectDialog(self.window)
        if dialog.exec() == ConnectDialog.DialogCode.Accepted:
            folder, url = dialog.choice()
            self._open_study(folder, url)

    def import_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.window, "Import images", "", IMAGE_FILTER)
        if files:
            self.run_import([Path(f) for f in files])

    def import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Import every image in a folder")
        if folder:
            manifest, _ = QFileDialog.getOpenFileName(
                self.window, "Manifest CSV (optional: Cancel to skip)", folder, "CSV (*.csv)"
            )
            self.run_import([Path(folder)], Path(manifest) if manifest else None)

    def run_import(self, sources: list[Path], manifest: Path | None = None) -> ImportDialog:
        dialog = ImportDialog(self.window)
        dialog.finishedImport.connect(lambda _summary: self._after_import())
        self.dialog = dialog
        dialog.show()
        study, actor = self.study, self.actor
        dialog.start(lambda: import_images(study, actor, sources, manifest))
        return dialog
