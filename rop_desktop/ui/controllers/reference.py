"""The Reference menu: adjudication, agreement, vote settings, recompute, exports.

:func:`install_reference_features` adds the menu to the main window and returns the
:class:`ReferenceController` behind it. Every action goes through a service, which enforces the
roles (adjudication, recompute and exports: adjudicators and admins; vote settings: admins, or
anyone while the study has no admin; the agreement dashboard: everyone, it shows aggregates
only). A refused action says why in a message; nothing opens.

The composition root may also connect ``workspace.gradeSubmitted`` to
:meth:`ReferenceController.on_grade_submitted`, so the votes of a submitted image are settled
at once.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from rop_desktop.domain.labels import Role
from rop_desktop.domain.votes import VoteError, VoteSettings
from rop_desktop.services.accounts import AccountError, PermissionDenied, require_admin, require_role
from rop_desktop.services.export import ExportError, export_reference_csv, export_snapshot
from rop_desktop.services.grading import GradingService, list_graders
from rop_desktop.services.reference import (RecomputeSummary, ReferenceService, get_vote_settings,
                                            recompute_references, set_vote_settings)
from rop_desktop.ui.adjudication import AdjudicationWindow, VoteSettingsDialog
from rop_desktop.ui.adjudication.background import BackgroundCalls
from rop_desktop.ui.adjudication.notice import show_notice
from rop_desktop.ui.agreement import AgreementDashboard, compute_dashboard

REVIEWERS = (Role.ADJUDICATOR, Role.ADMIN)


def summary_text(summary: RecomputeSummary) -> str:
    """A recompute's outcome in one sentence."""
    settled = len(summary.created) + len(summary.updated) + len(summary.unchanged)
    text = (f"{summary.examined} images: {settled} settled by the votes ({len(summary.created)} new, "
            f"{len(summary.updated)} changed), {len(summary.needs_adjudication)} to adjudicate, "
            f"{len(summary.insufficient)} with too few votes, {len(summary.kept_decisions)} decided by hand")
    if summary.withdrawn:
        text += f"; {len(summary.withdrawn)} vote reference(s) withdrawn"
    if summary.votes_changed_under_decision:
        text += f"; the votes changed under {len(summary.votes_changed_under_decision)} adjudicated image(s)"
    return text + "."


class _ActiveModelPredictions:
    """``predict(image_id)``: the active models' output, or None without an active model.

    Runs in the adjudication view's worker thread; the prediction service (and torch) is loaded
    there on first use, never on the UI thread."""

    def __init__(self, study: Any) -> None:
        self._study = study
        self._service: Any = None
        self._lock = threading.Lock()

    def __call__(self, image_id: int) -> Any:
        with self._lock:
            if self._service is None:
                from rop_desktop.services.predictions import PredictionService

                self._service = PredictionService(self._study)
            if not self._service.active_versions():
                return None
            return self._service.predict_image(image_id, saliency=False)


class ReferenceController(QObject):
    """The Reference menu's actions (see the module docstring)."""

    snapshotExported = Signal(object)  # training.snapshot.Snapshot

    def __init__(self, window: Any, study: Any, grading_service: GradingService) -> None:
        super().__init__(window)
        self.window = window
        self.study = study
        self.grading = grading_service
        self.grader = grading_service.grader
        self.adjudication: AdjudicationWindow | None = None
        self.dashboard: AgreementDashboard | None = None
        self.last_notice: QMessageBox | None = None
        self.calls = BackgroundCalls(self)
        self._predict = _ActiveModelPredictions(study)
        menu: QMenu = window.menuBar().addMenu("&Reference")
        self.menu = menu
        self.adjudication_action = self._add(menu, "Adjudication queue…", self.open_adjudication,
                                             "Decide the images the votes did not settle (adjudicators, admins)")
        self.dashboard_action = self._add(menu, "Agreement dashboard…", self.open_dashboard,
                                          "Inter-grader agreement, each grader against the others, the model")
        menu.addSeparator()
        self.settings_action = self._add(menu, "Vote settings…", self.open_vote_settings,
                                         "Quorum and tie rule of the study (admins)")
        self.recompute_action = self._add(menu, "Recompute votes", self.recompute,
                                          "Settle every image again from the submitted grades")
        menu.addSeparator()
        self.csv_action = self._add(menu, "Export reference CSV…", self.choose_reference_csv,
                                    "The reference standard as a table (pseudonymous)")
        self.snapshot_action = self._add(menu, "Export training snapshot…", self.choose_snapshot_folder,
                                         "The reference standard with images and masks, for training")
        window.on_shutdown(self.shutdown)

    def _add(self, menu: QMenu, text: str, slot: Any, tip: str) -> QAction:
        action = menu.addAction(text)
        action.setStatusTip(tip)
        action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _notice(self, title: str, text: str, icon: QMessageBox.Icon = QMessageBox.Icon.Information) -> QMessageBox:
        self.window.statusBar().showMessage(text.splitlines()[0], 10_000)
        self.last_notice = show_notice(self.window, title, text, icon)
        return self.last_notice

    def _refused(self, exc: AccountError) -> None:
        self._notice("Not allowed", exc.reason, QMessageBox.Icon.Warning)

    # ================================================================= windows
    def open_adjudication(self) -> AdjudicationWindow | None:
        """The adjudication view (adjudicators and admins); None, with a message, for anyone else."""
        if self.adjudication is not None and shiboken6.isValid(self.adjudication):
            self.adjudication.raise_()
            self.adjudication.activateWindow()
            return self.adjudication
        try:
            require_role(self.study, self.grader.id, *REVIEWERS, action="adjudicate: the adjudication view shows "
                         "every grader's grades and outlines")
            service = ReferenceService(self.study, self.grader.id)
            # the image's audit trail when the service offers it (ReferenceService.history); otherwise
            # the view shows the submissions and the decision it reads from the case
            view = AdjudicationWindow(service, self.grading.load_image, predict=self._predict,
                                      history=getattr(service, "history", None), title=self.study.name)
        except PermissionDenied as exc:
            self._refused(exc)
            return None
        self._own(view, "adjudication")
        view.settled.connect(lambda _image, _state: self._refresh_dashboard())
        view.refresh_queue()
        view.show()
        view.open_first()
        self.adjudication = view
        return view

    def open_dashboard(self) -> AgreementDashboard:
        """The agreement dashboard (any role: aggregate figures only)."""
        if self.dashboard is not None and shiboken6.isValid(self.dashboard):
            self.dashboard.raise_()
            self.dashboard.activateWindow()
            return self.dashboard
        study = self.study
        view = AgreementDashboard(lambda threshold: compute_dashboard(study, threshold), title=study.name)
        self._own(view, "dashboard")
        view.show()
        self.dashboard = view
        return view

    def _own(self, view: Any, attribute: str) -> None:
        view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        view.destroyed.connect(lambda _obj=None, name=attribute: setattr(self, name, None))

    def _refresh_dashboard(self) -> None:
        if self.dashboard is not None and shiboken6.isValid(self.dashboard):
            self.dashboard.refresh()

    # ================================================================= votes
    def open_vote_settings(self) -> VoteSettingsDialog | None:
        """The vote settings dialog (admins; anyone while the study has no admin)."""
        try:
            require_admin(self.study, self.grader.id, "change the vote settings")
            settings = get_vote_settings(self.study)
        except PermissionDenied as exc:
            self._refused(exc)
            return None
        except VoteError as exc:
            settings = VoteSettings()
            self._notice("Vote settings", f"The stored vote settings are damaged ({exc.reason}); the defaults "
                         "are shown.", QMessageBox.Icon.Warning)
        dialog = VoteSettingsDialog(settings, len(list_graders(self.study)), self.window)
        dialog.accepted.connect(lambda: self.save_vote_settings(dialog.chosen()))
        dialog.open()
        return dialog

    def save_vote_settings(self, settings: VoteSettings) -> RecomputeSummary | None:
        """Store the settings (audited) and settle every image again with them."""
        try:
            set_vote_settings(self.study, settings, self.grader.id)
        except PermissionDenied as exc:
            self._refused(exc)
            return None
        summary = recompute_references(self.study, actor_id=self.grader.id)
        self._notice("Vote settings saved", f"Quorum {settings.quorum}, tie rule “{settings.tie_rule}”. "
                     + summary_text(summary))
        self._after_recompute()
        return summary

    def recompute(self) -> RecomputeSummary | None:
        """Settle every image again from the submitted votes (adjudicators and admins)."""
        try:
            summary = ReferenceService(self.study, self.grader.id).recompute()
        except PermissionDenied as exc:
            self._refused(exc)
            return None
        self._notice("Votes recomputed", summary_text(summary))
        self._after_recompute()
        return summary

    def on_grade_submitted(self, image_id: int) -> None:
        """Settle a freshly submitted image's votes (connect ``workspace.gradeSubmitted`` here)."""
        recompute_references(self.study, [image_id])
        self._after_recompute()

    def _after_recompute(self) -> None:
        if self.adjudication is not None and shiboken6.isValid(self.adjudication):
            self.adjudication.refresh_queue()
        self._refresh_dashboard()

    # ================================================================= exports
    def _require_reviewer(self, action: str) -> bool:
        try:
            require_role(self.study, self.grader.id, *REVIEWERS, action=action)
        except PermissionDenied as exc:
            self._refused(exc)
            return False
        return True

    def choose_reference_csv(self) -> Path | None:
        if not self._require_reviewer("export the reference standard"):
            return None
        path, _ = QFileDialog.getSaveFileName(self.window, "Export the reference standard", "reference.csv",
                                              "CSV (*.csv)")
        return self.export_reference_csv(Path(path)) if path else None

    def export_reference_csv(self, path: Path) -> Path | None:
        """Write the reference standard as CSV (adjudicators and admins)."""
        if not self._require_reviewer("export the reference standard"):
            return None
        try:
            written = export_reference_csv(self.study, path)
        except ExportError as exc:
            self._notice("Export", exc.reason, QMessageBox.Icon.Warning)
            return None
        self.window.statusBar().showMessage(f"Reference standard written to {written}", 10_000)
        return written

    def choose_snapshot_folder(self) -> None:
        if not self._require_reviewer("export a training snapshot"):
            return
        folder = QFileDialog.getExistingDirectory(self.window, "Folder for the training snapshot")
        if folder:
            self.export_snapshot(Path(folder))

    def export_snapshot(self, folder: Path) -> bool:
        """Write a training snapshot in ``folder`` (or, when it is not empty, in a new dated folder
        inside it) in a worker thread; ``snapshotExported`` when done. False when refused or busy."""
        if not self._require_reviewer("export a training snapshot"):
            return False
        if self.calls.busy():
            self._notice("Export", "A snapshot is being written; wait until it is done.")
            return False
        if folder.exists() and any(folder.iterdir()):
            folder = folder / f"reference-snapshot-{datetime.now():%Y%m%d-%H%M%S}"
        study, actor = self.study, self.grader.id
        self.window.statusBar().showMessage(f"Writing the training snapshot to {folder} …")
        self.calls.start(lambda: export_snapshot(study, folder, actor_id=actor), self._on_snapshot,
                         self._on_snapshot_error)
        return True

    def _on_snapshot(self, snapshot: Any) -> None:
        self._notice("Training snapshot", f"{len(snapshot)} image(s) written to {snapshot.root}\n"
                     f"content hash {snapshot.stored_hash}")
        self.snapshotExported.emit(snapshot)

    def _on_snapshot_error(self, exc: BaseException) -> None:
        reason = getattr(exc, "reason", None) or str(exc)
        self._notice("Training snapshot", f"The snapshot could not be written: {reason}", QMessageBox.Icon.Warning)

    # ================================================================= closing
    def shutdown(self) -> None:
        """Close the windows this menu opened and wait for a snapshot being written."""
        for view in (self.adjudication, self.dashboard):
            if view is not None and shiboken6.isValid(view):
                view.close()
        self.calls.shutdown()


def install_reference_features(window: Any, study: Any, grading_service: GradingService) -> ReferenceController:
    """Add the Reference menu to ``window`` (a MainWindow) for the signed-in grader of ``grading_service``."""
    return ReferenceController(window, study, grading_service)
