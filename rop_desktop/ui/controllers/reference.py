"""The Reference menu: adjudication, agreement, vote settings, recompute, exports.

:func:`install_reference_features` adds the menu to the main window and returns the
:class:`ReferenceController` behind it. Every action goes through a service with the signed-in
actor, and the service decides (:mod:`rop_desktop.services.policy`: adjudication, the agreement
dashboard, recompute and exports are for adjudicators and admins; vote settings for admins). The
menu only shows what the policy allows the account — a grader sees no Reference menu at all — but
an action triggered anyway still asks the service, and its refusal is shown with the reason;
nothing opens and nothing changes. Where the study votes per eye (``votes.level`` = "eye") the
adjudication action opens the eye-level window (``ui.adjudication.exam_window``) instead.

The composition root may also connect ``workspace.gradeSubmitted`` to
:meth:`ReferenceController.on_grade_submitted` and the change watcher to :meth:`on_changes`: the
grading service settles the submitted image's votes itself, and the open adjudication queue and
dashboard are refreshed.

Nothing here runs study-sized work on the UI thread (issue 15): saving the vote settings and
"Recompute votes" settle the study in a worker thread, step by step, with a progress dialog that
can cancel (:meth:`ReferenceController.recompute`; ``recomputed(summary)`` when done); the queue
lists show their first page at once and their exact counts come from a background call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QProgressDialog

from rop_desktop.domain.votes import VoteError, VoteSettings
from rop_desktop.services import policy
from rop_desktop.services.exam_reference import ExamReferenceService
from rop_desktop.services.exams import set_vote_level, vote_level
from rop_desktop.services.export import ExportError, export_reference_csv, export_snapshot
from rop_desktop.services.grading import GradingService, list_graders
from rop_desktop.services.policy import AccessDenied, Action, Actor
from rop_desktop.services.predictions import ImagePrediction
from rop_desktop.services.reference import (
    QueueCounts,
    QueueItem,
    RecomputeSummary,
    ReferenceService,
    get_vote_settings,
    set_vote_settings,
)
from rop_desktop.services.studies import Study
from rop_desktop.ui.adjudication import AdjudicationWindow, VoteSettingsDialog
from rop_desktop.ui.adjudication.background import BackgroundCalls
from rop_desktop.ui.adjudication.exam_window import ExamAdjudicationWindow
from rop_desktop.ui.adjudication.notice import show_notice
from rop_desktop.ui.main_window import MainWindow
from rop_desktop.workers.runner import GeneratorWorker

if TYPE_CHECKING:  # the dashboard's charts load pyqtgraph, the prediction service torch: imported when used
    from PySide6.QtWidgets import QWidget

    from rop_desktop.services.changes import Change
    from rop_desktop.services.predictions import PredictionService
    from rop_desktop.ui.agreement import AgreementDashboard
    from training.snapshot import Snapshot


def summary_text(summary: RecomputeSummary) -> str:
    """A recompute's outcome in one sentence."""
    settled = len(summary.created) + len(summary.updated) + len(summary.unchanged)
    text = (
        f"{summary.examined} images: {settled} settled by the votes ({len(summary.created)} new, "
        f"{len(summary.updated)} changed), {len(summary.needs_adjudication)} to adjudicate, "
        f"{len(summary.insufficient)} with too few votes, {len(summary.kept_decisions)} decided by hand"
    )
    if summary.withdrawn:
        text += f"; {len(summary.withdrawn)} vote reference(s) withdrawn"
    if summary.votes_changed_under_decision:
        text += f"; the votes changed under {len(summary.votes_changed_under_decision)} adjudicated image(s)"
    return text + "."


class _ActiveModelPredictions:
    """``predict(image_id)``: the active models' output, or None without an active model.

    Runs in the adjudication view's worker thread; the prediction service (and torch) is loaded
    there on first use, never on the UI thread."""

    def __init__(self, study: Study, actor: Actor) -> None:
        self._study = study
        self._actor = actor
        self._service: PredictionService | None = None
        self._lock = threading.Lock()

    def __call__(self, image_id: int) -> ImagePrediction | None:
        with self._lock:
            if self._service is None:
                from rop_desktop.services.predictions import PredictionService

                self._service = PredictionService(self._study, self._actor)
            if not self._service.active_versions():
                return None
            return self._service.predict_image(image_id, saliency=False)


class ReferenceController(QObject):
    """The Reference menu's actions (see the module docstring)."""

    snapshotExported = Signal(object)  # training.snapshot.Snapshot
    recomputed = Signal(object)  # RecomputeSummary: a recompute (or a vote-settings save) finished
    recomputeEnded = Signal()  # finished, cancelled or failed: the worker is gone

    def __init__(self, window: MainWindow, study: Study, grading_service: GradingService) -> None:
        super().__init__(window)
        self.window = window
        self.study = study
        self.grading = grading_service
        self.actor: Actor = grading_service.actor
        self.adjudication: AdjudicationWindow | None = None
        self.exam_adjudication: ExamAdjudicationWindow | None = None  #: at eye level
        self._exam_queue_calls = BackgroundCalls(self)
        self._exam_queue_again = False
        self.dashboard: AgreementDashboard | None = None
        self.last_notice: QMessageBox | None = None
        self.calls = BackgroundCalls(self)
        self._counts = BackgroundCalls(self)  # the queue lists' counts (a walk over the study)
        self._counts_again = False
        self._queue_calls = BackgroundCalls(self)  # the queue's pages after a submit or an edit elsewhere
        self._queue_again = False
        #: The recompute running in a worker (None when none), and its progress dialog.
        self.recompute_worker: GeneratorWorker | None = None
        self.progress: QProgressDialog | None = None
        self._predict = _ActiveModelPredictions(study, self.actor)
        menu: QMenu = window.menuBar().addMenu("&Reference")
        self.menu = menu
        self.adjudication_action = self._add(
            menu,
            "Adjudication queue…",
            self.open_adjudication,
            "Decide the images (at eye level: the exams) the votes did not settle (adjudicators, admins)",
            Action.REFERENCE_DECIDE,
        )
        self.dashboard_action = self._add(
            menu,
            "Agreement dashboard…",
            self.open_dashboard,
            "Inter-grader agreement, each grader against the others, the model",
            Action.AGREEMENT_READ,
        )
        menu.addSeparator()
        self.settings_action = self._add(
            menu,
            "Vote settings…",
            self.open_vote_settings,
            "Quorum and tie rule of the study (admins)",
            Action.SETTINGS_WRITE,
        )
        self.recompute_action = self._add(
            menu,
            "Recompute votes",
            self.recompute,
            "Settle every image again from the submitted grades",
            Action.REFERENCE_DECIDE,
        )
        menu.addSeparator()
        self.csv_action = self._add(
            menu,
            "Export reference CSV…",
            self.choose_reference_csv,
            "The reference standard as a table (pseudonymous)",
            Action.EXPORT_ALL,
        )
        self.snapshot_action = self._add(
            menu,
            "Export training snapshot…",
            self.choose_snapshot_folder,
            "The reference standard with images and masks, for training",
            Action.EXPORT_ALL,
        )
        menu.menuAction().setVisible(any(a.isVisible() for a in menu.actions() if not a.isSeparator()))
        window.on_shutdown(self.shutdown)

    def _add(self, menu: QMenu, text: str, slot: Callable[[], object], tip: str, needs: Action) -> QAction:
        """A menu action shown only where the policy allows ``needs``; its slot asks the service anyway."""
        action = menu.addAction(text)
        action.setVisible(policy.allowed(self.study, self.actor, needs))
        action.setStatusTip(tip)
        action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _notice(self, title: str, text: str, icon: QMessageBox.Icon = QMessageBox.Icon.Information) -> QMessageBox:
        self.window.statusBar().showMessage(text.splitlines()[0], 10_000)
        self.last_notice = show_notice(self.window, title, text, icon)
        return self.last_notice

    def _refused(self, exc: AccessDenied) -> None:
        self._notice("Not allowed", exc.reason, QMessageBox.Icon.Warning)

    def _may(self, action: Action) -> bool:
        """Ask the policy before a window or file dialog opens; a refusal is shown with its reason.
        (The services ask again on every call: this only spares the user a window that cannot work.)"""
        try:
            policy.check(self.study, self.actor, action)
        except AccessDenied as exc:
            self._refused(exc)
            return False
        return True

    # ================================================================= windows
    def open_adjudication(self) -> AdjudicationWindow | ExamAdjudicationWindow | None:
        """The adjudication view of the study's vote level — images, or exams at eye level
        (adjudicators and admins); None, with a message, for anyone else."""
        for opened in (self.adjudication, self.exam_adjudication):
            if opened is not None and shiboken6.isValid(opened):
                opened.raise_()
                opened.activateWindow()
                return opened
        if not self._may(Action.REFERENCE_READ):  # the queue shows every grader's grades and outlines
            return None
        if vote_level(self.study, self.actor) == "eye":
            return self._open_exam_adjudication()
        service = ReferenceService(self.study, self.actor)
        view = AdjudicationWindow(
            service, self.grading.load_image, predict=self._predict, history=service.history, title=self.study.name
        )
        self._own(view, "adjudication")
        view.settled.connect(lambda _image, _state: self._after_settled())
        view.refresh_queue()
        view.show()
        view.open_first()
        self.adjudication = view
        self._count_queue()
        return view

    def _open_exam_adjudication(self) -> ExamAdjudicationWindow:
        service = ExamReferenceService(self.study, self.actor)
        view = ExamAdjudicationWindow(service, self.grading.load_image, title=self.study.name)
        self._own(view, "exam_adjudication")
        view.settled.connect(lambda _exam, _eye, _state: self._refresh_dashboard())
        view.refresh_queue()
        view.show()
        view.open_first()
        self.exam_adjudication = view
        return view

    def _exam_queue_in_background(self) -> None:
        """Re-read the open eye-level queue's lists off the UI thread, then show them."""
        view = self.exam_adjudication
        if view is None or not shiboken6.isValid(view):
            return
        if self._exam_queue_calls.busy():
            self._exam_queue_again = True  # read once more when this read is done
            return
        self._exam_queue_again = False
        service = view.service

        def shown(lists: tuple[list, list]) -> None:
            if shiboken6.isValid(view):
                current = (view.case.exam_id, view.case.eye.value) if view.case is not None else None
                view.queue.set_items(*lists, current)
            self._exam_queue_read()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, AccessDenied):  # the account lost its role since the view opened
                self._refused(exc)
            self._exam_queue_read()

        self._exam_queue_calls.start(lambda: (service.queue(), service.insufficient()), shown, failed)

    def _exam_queue_read(self) -> None:
        if self._exam_queue_again:
            self._exam_queue_in_background()

    def _after_settled(self) -> None:
        """An image was settled in the adjudication window: the dashboard and the queue count move."""
        self._refresh_dashboard()
        self._count_queue()

    def _count_queue(self) -> None:
        """Fill in the exact sizes of the open queue's lists, off the UI thread (one at a time)."""
        view = self.adjudication
        if view is None or not shiboken6.isValid(view):
            return
        if self._counts.busy():
            self._counts_again = True
            return
        service = view.service
        self._counts.start(service.queue_counts, self._on_counts, lambda _exc: self._counted())

    def _on_counts(self, counts: QueueCounts) -> None:
        view = self.adjudication
        if view is not None and shiboken6.isValid(view):
            view.queue.set_counts(counts.to_decide, counts.too_few)
        self._counted()

    def _counted(self) -> None:
        if self._counts_again:
            self._counts_again = False
            self._count_queue()

    def open_dashboard(self) -> AgreementDashboard | None:
        """The agreement dashboard (adjudicators and admins); None, with the reason, for anyone else."""
        if self.dashboard is not None and shiboken6.isValid(self.dashboard):
            self.dashboard.raise_()
            self.dashboard.activateWindow()
            return self.dashboard
        if not self._may(Action.AGREEMENT_READ):  # figures are computed in a worker: refuse before it opens
            return None
        from rop_desktop.ui.agreement import AgreementDashboard, compute_dashboard

        study, actor = self.study, self.actor
        view = AgreementDashboard(lambda threshold: compute_dashboard(study, actor, threshold), title=study.name)
        self._own(view, "dashboard")
        view.show()
        self.dashboard = view
        return view

    def _own(self, view: QWidget, attribute: str) -> None:
        view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        view.destroyed.connect(lambda _obj=None, name=attribute: setattr(self, name, None))

    def _refresh_dashboard(self) -> None:
        if self.dashboard is not None and shiboken6.isValid(self.dashboard):
            self.dashboard.refresh()

    # ================================================================= votes
    def open_vote_settings(self) -> VoteSettingsDialog | None:
        """The vote settings dialog (admins); None, with the reason, for anyone else."""
        if not self._may(Action.SETTINGS_WRITE):  # the service decides again when the settings are saved
            return None
        try:
            settings = get_vote_settings(self.study)
        except VoteError as exc:
            settings = VoteSettings()
            self._notice(
                "Vote settings",
                f"The stored vote settings are damaged ({exc.reason}); the defaults are shown.",
                QMessageBox.Icon.Warning,
            )
        level = vote_level(self.study, self.actor)
        dialog = VoteSettingsDialog(settings, len(list_graders(self.study)), self.window, level=level)
        dialog.accepted.connect(lambda: self.save_vote_settings(dialog.chosen(), dialog.chosen_level()))
        dialog.open()
        return dialog

    def save_vote_settings(self, settings: VoteSettings, level: str | None = None) -> GeneratorWorker | None:
        """Store the settings (audited) and settle every image again with them, in a worker
        (``recomputed(summary)`` when done). A new vote ``level`` ("image" / "eye") is stored in
        that worker first (switching to eye level settles every exam). None when refused or a
        recompute is running."""
        if self._recomputing():
            return None
        try:
            set_vote_settings(self.study, self.actor, settings)
        except AccessDenied as exc:
            self._refused(exc)
            return None
        new_level = level if level is not None and level != vote_level(self.study, self.actor) else None
        where = {"image": "each image", "eye": "each eye at each visit"}.get(new_level or "", "")
        return self._start_recompute(
            "Vote settings saved",
            (f"Votes are now cast on {where}. " if where else "")
            + f"Quorum {settings.quorum}, tie rule “{settings.tie_rule}”. ",
            level=new_level,
        )

    def recompute(self) -> GeneratorWorker | None:
        """Settle every image again from the submitted votes (adjudicators and admins), in a
        worker with progress and cancel; ``recomputed(summary)`` when done. None when refused
        (the reason is shown) or a recompute is already running."""
        if self._recomputing():
            return None
        return self._start_recompute("Votes recomputed", "")

    def _recomputing(self) -> bool:
        if self.recompute_worker is not None and self.recompute_worker.isRunning():
            self._notice("Recompute", "The votes are being settled again; wait until it is done (or cancel it).")
            return True
        return False

    def _start_recompute(self, title: str, prefix: str, *, level: str | None = None) -> GeneratorWorker | None:
        try:  # the policy decides here, on the UI thread: a refusal opens nothing
            steps = ReferenceService(self.study, self.actor).recompute_steps()
        except AccessDenied as exc:
            self._refused(exc)
            return None
        if level is not None:
            steps = self._level_then(level, steps)
        worker = GeneratorWorker(lambda: steps, parent=self)
        progress = QProgressDialog("Settling every image from its submitted votes …", "Cancel", 0, 0, self.window)
        progress.setWindowTitle(title)
        progress.setWindowModality(Qt.WindowModality.NonModal)  # grading goes on meanwhile
        progress.setMinimumDuration(400)
        progress.setAutoClose(False)
        progress.setAutoReset(False)
        progress.canceled.connect(worker.abort)
        worker.yielded.connect(lambda step: self._on_recompute_step(progress, step))
        worker.returned.connect(lambda summary: self._on_recomputed(title, prefix, summary))
        worker.aborted.connect(
            lambda: self._notice(
                title,
                "Cancelled. The images settled so far keep their new "
                "state; run “Recompute votes” to settle the others.",
            )
        )
        worker.errored.connect(
            lambda exc: self._notice(title, f"The votes could not be settled: {exc}", QMessageBox.Icon.Warning)
        )
        worker.finished.connect(lambda: self._recompute_ended(worker, progress))
        self.recompute_worker, self.progress = worker, progress
        worker.start()
        return worker

    def _level_then(
        self, level: str, steps: Generator[tuple[int, int], None, RecomputeSummary]
    ) -> Generator[tuple[int, int], None, RecomputeSummary]:
        """Store the vote level (in the worker: at eye level it settles every exam), then recompute."""
        set_vote_level(self.study, self.actor, level)
        return (yield from steps)

    def _on_recompute_step(self, progress: QProgressDialog, step: tuple[int, int]) -> None:
        done, total = step
        progress.setMaximum(max(1, total))
        progress.setValue(min(done, total))
        progress.setLabelText(f"Settling every image from its submitted votes: {done:,} of {total:,} …")

    def _on_recomputed(self, title: str, prefix: str, summary: RecomputeSummary) -> None:
        self._notice(title, prefix + summary_text(summary))
        self.refresh_views()
        self.recomputed.emit(summary)

    def _recompute_ended(self, worker: GeneratorWorker, progress: QProgressDialog) -> None:
        progress.close()
        progress.deleteLater()
        if self.recompute_worker is worker:
            self.recompute_worker, self.progress = None, None
        worker.deleteLater()
        self.recomputeEnded.emit()

    def on_grade_submitted(self, _image_id: int) -> None:
        """A grade was submitted (the grading service has settled its image): refresh the views."""
        self.refresh_views()

    def on_changes(self, changes: Sequence[Change]) -> None:
        """Other workstations' edits: the queue and the dashboard follow grades and references."""
        if any(getattr(c, "entity", None) in ("grade", "reference", "exam_grade", "exam_reference") for c in changes):
            self.refresh_views()

    def refresh_views(self) -> None:
        """The votes or references changed (a submit here, an edit elsewhere): refresh the open
        adjudication queue — its pages and counts read in the background, then shown — and the
        dashboard. (A queue page walks the images until it is full: on a large study with few
        images to decide, that is a walk over the study, kept off the UI thread here.)"""
        if self.adjudication is not None and shiboken6.isValid(self.adjudication):
            self._queue_in_background()
        self._exam_queue_in_background()
        self._refresh_dashboard()

    def _queue_in_background(self) -> None:
        view = self.adjudication
        if view is None or not shiboken6.isValid(view):
            return
        if self._queue_calls.busy():
            self._queue_again = True
            return
        service = view.service

        def read() -> tuple[list[QueueItem], list[QueueItem], QueueCounts]:
            return service.queue(), service.insufficient(), service.queue_counts()

        self._queue_calls.start(read, self._on_queue_read, self._on_queue_failed)

    def _on_queue_read(self, lists: tuple[list[QueueItem], list[QueueItem], QueueCounts]) -> None:
        view = self.adjudication
        if view is not None and shiboken6.isValid(view):
            to_decide, too_few, counts = lists
            view.queue.set_items(to_decide, too_few, view.case.image_id if view.case is not None else None)
            view.queue.set_counts(counts.to_decide, counts.too_few)
        self._queue_read()

    def _on_queue_failed(self, exc: BaseException) -> None:
        if isinstance(exc, AccessDenied):  # the account lost its role since the view opened
            self._refused(exc)
        self._queue_read()

    def _queue_read(self) -> None:
        if self._queue_again:
            self._queue_again = False
            self._queue_in_background()

    # ================================================================= exports
    def choose_reference_csv(self) -> Path | None:
        if not self._may(Action.EXPORT_ALL):
            return None
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Export the reference standard", "reference.csv", "CSV (*.csv)"
        )
        return self.export_reference_csv(Path(path)) if path else None

    def export_reference_csv(self, path: Path) -> Path | None:
        """Write the reference standard as CSV (adjudicators and admins)."""
        try:
            written = export_reference_csv(self.study, self.actor, path)
        except AccessDenied as exc:
            self._refused(exc)
            return None
        except ExportError as exc:
            self._notice("Export", exc.reason, QMessageBox.Icon.Warning)
            return None
        self.window.statusBar().showMessage(f"Reference standard written to {written}", 10_000)
        return written

    def choose_snapshot_folder(self) -> None:
        if not self._may(Action.EXPORT_ALL):
            return
        folder = QFileDialog.getExistingDirectory(self.window, "Folder for the training snapshot")
        if folder:
            self.export_snapshot(Path(folder))

    def export_snapshot(self, folder: Path) -> bool:
        """Write a training snapshot in ``folder`` (or, when it is not empty, in a new dated folder
        inside it) in a worker thread; ``snapshotExported`` when done. False when refused or busy.
        (The export service checks the actor again in the worker: a refusal there is shown too.)"""
        if not self._may(Action.EXPORT_ALL):
            return False
        if self.calls.busy():
            self._notice("Export", "A snapshot is being written; wait until it is done.")
            return False
        if folder.exists() and any(folder.iterdir()):
            folder = folder / f"reference-snapshot-{datetime.now():%Y%m%d-%H%M%S}"
        study, actor = self.study, self.actor
        self.window.statusBar().showMessage(f"Writing the training snapshot to {folder} …")
        self.calls.start(lambda: export_snapshot(study, actor, folder), self._on_snapshot, self._on_snapshot_error)
        return True

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        self._notice(
            "Training snapshot",
            f"{len(snapshot)} image(s) written to {snapshot.root}\ncontent hash {snapshot.stored_hash}",
        )
        self.snapshotExported.emit(snapshot)

    def _on_snapshot_error(self, exc: BaseException) -> None:
        reason = getattr(exc, "reason", None) or str(exc)
        self._notice("Training snapshot", f"The snapshot could not be written: {reason}", QMessageBox.Icon.Warning)

    # ================================================================= closing
    def shutdown(self) -> None:
        """Close the windows this menu opened, stop a recompute between two steps (what was
        settled stays) and wait for a snapshot being written."""
        for view in (self.adjudication, self.exam_adjudication, self.dashboard):
            if view is not None and shiboken6.isValid(view):
                view.close()
        if self.recompute_worker is not None:
            self.recompute_worker.shutdown()
        self._queue_calls.shutdown()
        self._exam_queue_calls.shutdown()
        self._counts.shutdown()
        self.calls.shutdown()


def install_reference_features(
    window: MainWindow, study: Study, grading_service: GradingService
) -> ReferenceController:
    """Add the Reference menu to ``window`` (a MainWindow) for the signed-in grader of ``grading_service``."""
    return ReferenceController(window, study, grading_service)
