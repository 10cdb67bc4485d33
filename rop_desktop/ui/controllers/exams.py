"""Connects the exam service to the exam panel, the progression view and the Needs attention list.

* An image put on screen: its exam (one eye at one visit) is read in one guarded call
  (``ExamService.state``) and shown beside the canvas — the strip, the eye-level grade pre-filled
  from the grader's image grades, its treatment badge, the models' view of the eye where the
  grader may see it.
* A thumbnail of the strip opens that image in the workspace.
* Every change of the eye-level grade is stored at once (a draft), version checked; *Confirm*
  submits it. Until the grader touches it, the form follows the roll-up of their image grades as
  they grade the images.
* The worklist gets a *Class* column (the treatment badge of each image's exam,
  ``ui.exams.worklist_badge``); the rows of the exam on screen are read again when its class may
  have changed (an image grade, the eye-level grade).
* *Progression of this eye…* opens the patient's visits (the grader's own grades; the reference
  standard for adjudicators and admins) with two visits side by side, images decoded off the UI
  thread; *Needs attention…* lists the eyes that got worse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction

from rop_desktop.domain.grades import GradeValues
from rop_desktop.services.exams import ExamError, ExamGradeConflict, ExamService, ExamState, MyExamGrade, Progression
from rop_desktop.services.grading import GradingService, ImageData
from rop_desktop.services.policy import AccessDenied
from rop_desktop.services.studies import Study
from rop_desktop.ui.controllers.workspace import WorkspaceController
from rop_desktop.ui.exams import AttentionWindow, ExamPanel, ProgressionWindow
from rop_desktop.ui.exams.worklist_badge import TreatmentColumnProxy
from rop_desktop.ui.grading import GradePanel, GradingShortcuts
from rop_desktop.ui.main_window import MainWindow
from rop_desktop.workers.image_loader import ImageLoader


class ExamController(QObject):
    """See the module docstring. ``workspace`` shows the images and keeps the edits; the image
    grade ``grade_panel`` changing refreshes the roll-up; ``shortcuts`` (if any) get the exam keys."""

    def __init__(
        self,
        window: MainWindow,
        service: ExamService,
        grading: GradingService,
        *,
        workspace: WorkspaceController,
        grade_panel: GradePanel,
        shortcuts: GradingShortcuts | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.service = service
        self.grading = grading
        self.workspace = workspace
        self.grade_panel = grade_panel
        self.panel = ExamPanel()
        self.panel.setObjectName("examPanel")
        window.add_side_panel(self.panel, "Eye exam")
        self.worklist_badge = TreatmentColumnProxy(self)
        window.worklist.set_proxy(self.worklist_badge)
        self.state: ExamState | None = None
        self.progression_window: ProgressionWindow | None = None
        self.attention_window: AttentionWindow | None = None
        self._loaders: dict[str, ImageLoader] = {}
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(250)
        self._refresh_timer.timeout.connect(self.refresh)
        self.workspace.imageShown.connect(self.on_image_shown)
        self.workspace.gradeSubmitted.connect(lambda _id: self._refresh_timer.start())
        window.side_tabs.currentChanged.connect(self._on_tab_changed)
        grade_panel.valuesChanged.connect(lambda _v: self._refresh_timer.start())
        self.panel.strip.imageChosen.connect(self.workspace.open_image)
        self.panel.form.valuesChanged.connect(self.save_draft)
        self.panel.form.submitRequested.connect(self.submit)
        self.panel.form.refillRequested.connect(self.refill)
        self.panel.progressionRequested.connect(self.open_progression)
        self.panel.attentionRequested.connect(self.open_attention)
        if shortcuts is not None:
            shortcuts.bind("exam.show", self.toggle_tab)
            shortcuts.bind("exam.confirm", self.panel.form.request_confirm)
        menu = window.menuBar().addMenu("E&xams")
        self.progression_action = QAction("Progression of this eye…", window)
        self.progression_action.triggered.connect(self.open_progression)
        self.attention_action = QAction("Needs attention…", window)
        self.attention_action.triggered.connect(self.open_attention)
        menu.addActions([self.progression_action, self.attention_action])
        window.on_shutdown(self.shutdown)

    def toggle_tab(self) -> None:
        """Ctrl+E: the Eye exam tab, or back to the image's grade."""
        tabs = self.window.side_tabs
        if tabs.currentWidget() is self.panel:
            tabs.setCurrentWidget(self.grade_panel)
            self.window.canvas.setFocus(Qt.FocusReason.ShortcutFocusReason)  # the keys grade the image again
        else:
            tabs.setCurrentWidget(self.panel)
            self.panel.form.setFocus(Qt.FocusReason.ShortcutFocusReason)  # the grade keys edit the eye now

    # ------------------------------------------------------------------ the exam on screen
    def on_image_shown(self, image_id: int) -> None:
        """Show the exam of the image now when the Eye exam tab is open; otherwise a moment later,
        in a turn of its own, so that grading image after image never waits for it (a submit and
        the next image stay one short stall each, not one long one)."""
        if self._panel_open():
            self._refresh_timer.stop()
            self.refresh(image_id)
        else:
            self._refresh_timer.start()

    def _panel_open(self) -> bool:
        return self.window.side_tabs.currentWidget() is self.panel

    def _on_tab_changed(self, _index: int) -> None:
        if self._panel_open():
            self._catch_up()

    def _catch_up(self) -> None:
        """A refresh waiting on its timer happens now (the tab opens, or the eye-level grade is
        about to be saved: never against the exam of the previous image)."""
        if self._refresh_timer.isActive():
            self._refresh_timer.stop()
            self.refresh()

    def refresh(self, image_id: int | None = None) -> None:
        """Read the exam of the image on screen again and show it."""
        image_id = image_id if image_id is not None else self.workspace.shown
        if image_id is None:
            return
        try:
            state = self.service.state(image_id)
        except ExamError as exc:  # an image without an eye: no exam to show
            self.state = None
            self.panel.title.setText("No eye-level exam")
            self.panel.subtitle.setText(exc.reason)
            return
        except AccessDenied as exc:
            self._say(exc.reason)
            return
        self.state = state
        self.panel.set_state(state, image_id)
        self._show_model(image_id)
        self._refresh_worklist_rows()

    def _refresh_worklist_rows(self) -> None:
        """The worklist rows of the exam on screen, read again: their class may have changed."""
        if self.state is None:
            return
        try:
            rows = self.grading.worklist_rows([i.image_id for i in self.state.info.images])
        except AccessDenied:
            return
        for row in rows:
            self.window.worklist.update_row(row)

    def _show_model(self, image_id: int) -> None:
        values = self.panel.form.values()
        try:
            summary = self.service.model_summary(image_id, zone=values.zone, plus=values.plus)
        except (AccessDenied, ExamError):
            summary = None
        self.panel.set_model_summary(summary)

    # ------------------------------------------------------------------ the eye-level grade
    def save_draft(self, values: GradeValues) -> None:
        self._catch_up()
        if self.state is None:
            return
        key = self.state.info.key

        def save() -> None:  # the version is read when the edit is sent (edits kept offline chain)
            mine = self.service.save_draft(key, values, expected_version=self._version())
            self._stored(mine)

        if self._run(save, "an eye-level grade"):
            self._refresh_worklist_rows()

    def submit(self) -> None:
        self._catch_up()
        if self.state is None:
            return
        key, values = self.state.info.key, self.panel.form.values()

        def send() -> None:
            mine = self.service.submit(key, values, expected_version=self._version())
            self._stored(mine)

        if self._run(send, "a confirmed eye-level grade"):
            self._say("Eye-level grade confirmed.", 4000)
            self.refresh()

    def refill(self) -> None:
        """Put the roll-up of the image grades back into the form (and store it as the draft)."""
        self._catch_up()
        if self.state is None:
            return
        values = self.state.rollup.values
        self.panel.form.set_state(values, submitted=False, stored=True, sources=self.state.rollup.sources)
        self.save_draft(values)

    def _version(self) -> int | None:
        return self.state.grade.version if self.state is not None else None

    def _stored(self, mine: MyExamGrade) -> None:
        if self.state is not None:
            self.state = replace(self.state, grade=mine)

    def _run(self, save: Callable[[], object], what: str) -> bool:
        try:
            return bool(self.workspace.edits.run(save, what))
        except ExamGradeConflict as conflict:
            self._say(conflict.reason, 15000)
            self.refresh()
        except (ExamError, AccessDenied) as exc:
            self._say(exc.reason)
        return False

    # ------------------------------------------------------------------ progression
    def open_progression(self) -> ProgressionWindow | None:
        image_id = self.workspace.shown
        if image_id is None:
            return None
        try:
            progression = self._progression(image_id)
        except (AccessDenied, ExamError) as exc:
            self._say(getattr(exc, "reason", str(exc)))
            return None
        if self.progression_window is None:
            self.progression_window = ProgressionWindow(self.window)
            self.progression_window.sideRequested.connect(self._load_side)
            for side in ("left", "right"):
                loader = ImageLoader(self.grading.load_image, parent=self)
                loader.loaded.connect(lambda image_id, data, s=side: self._side_loaded(s, image_id, data))
                loader.failed.connect(lambda _id, message: self._say(message))
                self._loaders[side] = loader
        self.progression_window.set_progression(progression, image_id)
        self.progression_window.show()
        self.progression_window.raise_()
        return self.progression_window

    def _progression(self, image_id: int) -> Progression:
        if self.service.actor.elevated:
            reference = self.service.reference_progression(image_id)
            if reference.eyes:
                return reference
        return self.service.progression(image_id)

    def _load_side(self, side: str, image_id: int) -> None:
        self._loaders[side].request(image_id)

    def _side_loaded(self, side: str, image_id: int, data: ImageData) -> None:
        window = self.progression_window
        if window is not None:
            window.show_side(side, image_id, data.rgb, data.fov)

    # ------------------------------------------------------------------ needs attention
    def open_attention(self) -> AttentionWindow | None:
        try:
            if self.service.actor.elevated:
                items, basis = self.service.reference_needs_attention(), "the reference standard"
            else:
                items, basis = self.service.needs_attention(), "your grades"
        except AccessDenied as exc:
            self._say(exc.reason)
            return None
        if self.attention_window is None:
            self.attention_window = AttentionWindow(self.window)
            self.attention_window.imageRequested.connect(self.workspace.open_image)
        self.attention_window.set_items(items, basis)
        self.attention_window.show()
        self.attention_window.raise_()
        return self.attention_window

    # ------------------------------------------------------------------ housekeeping
    def _say(self, text: str, ms: int = 10000) -> None:
        self.window.statusBar().showMessage(text, ms)

    def shutdown(self) -> None:
        self._refresh_timer.stop()
        for loader in self._loaders.values():
            loader.shutdown()
        for child in (self.progression_window, self.attention_window):
            if child is not None:
                child.close()


def install_exam_features(
    window: MainWindow,
    study: Study,
    grading: GradingService,
    *,
    workspace: WorkspaceController,
    grade_panel: GradePanel,
    shortcuts: GradingShortcuts | None = None,
) -> ExamController:
    """The eye-level exam features of a main window, on its ``workspace`` and image ``grade_panel``."""
    return ExamController(
        window,
        ExamService(study, grading.actor),
        grading,
        workspace=workspace,
        grade_panel=grade_panel,
        shortcuts=shortcuts,
    )
