"""Connects the landmark service to the canvas's Landmarks tool, zone rings and the grade panel's
zone suggestion.

* An image put on screen (``WorkspaceController.imageShown``): the grader's stored landmarks go on
  the canvas (no undo step), and the zone suggestion on the grade panel.
* Every landmark edit, undo and redo (``ImageCanvas.landmarksChanged``) is stored at once through
  the service (kept and retried while the database connection is lost, like every edit), version
  checked: a change made on another workstation is shown, never overwritten.
* The suggestion follows the landmarks and the ridge outlines as they change (computed in the
  domain from what is on the canvas); when the grader sets the zone — accepting the suggestion
  or overriding it — the decision is stored beside the suggestion (the service recomputes the
  suggestion from what is stored, never trusting the window's).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QToolBar

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, Zone
from rop_desktop.domain.zones import FieldOfView, Landmarks, ZoneSuggestion, suggest_zone
from rop_desktop.services.grading import GradingService
from rop_desktop.services.landmarks import LandmarkConflict, LandmarkService
from rop_desktop.services.policy import AccessDenied
from rop_desktop.services.studies import Study
from rop_desktop.ui.canvas.zone_controls import ZoneRingsControls
from rop_desktop.ui.controllers.workspace import WorkspaceController
from rop_desktop.ui.grading import GradePanel, GradingShortcuts
from rop_desktop.ui.main_window import MainWindow


class LandmarksController(QObject):
    """See the module docstring. ``workspace`` shows the images; ``panel`` is the grade form whose
    zone the suggestion fills; ``shortcuts`` (if any) gets the zone rings' key."""

    def __init__(
        self,
        window: MainWindow,
        service: LandmarkService,
        panel: GradePanel,
        *,
        workspace: WorkspaceController,
        shortcuts: GradingShortcuts | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.service = service
        self.panel = panel
        self.canvas = window.canvas
        self.workspace = workspace
        self._versions: dict[int, int] = {}
        self._eye: Eye | None = None
        self._field: FieldOfView | None = None
        self._zone: Zone | None = None
        self._loading = False
        self.controls = ZoneRingsControls()
        toolbar = window.findChild(QToolBar, "toolbar_display")
        if toolbar is not None:
            toolbar.addWidget(self.controls)
        self.controls.visibleChanged.connect(self.canvas.set_zone_rings_visible)
        self.controls.opacityChanged.connect(self.canvas.set_zone_rings_opacity)
        if shortcuts is not None:
            shortcuts.bind("canvas.zones.toggle", self.controls.flip)
        self.workspace.imageShown.connect(self.on_image_shown)
        self.canvas.landmarksChanged.connect(self.on_landmarks_changed)
        for signal in (self.canvas.shapeAdded, self.canvas.shapeChanged, self.canvas.shapeRemoved):
            signal.connect(lambda *_: self.update_suggestion())
        panel.valuesChanged.connect(self.on_values_changed)

    # ------------------------------------------------------------------ showing
    def on_image_shown(self, image_id: int) -> None:
        try:
            shown = self.service.show(image_id)
        except AccessDenied as exc:
            self._say(exc.reason)
            return
        self._eye, self._field = shown.eye, shown.field
        self._versions[image_id] = shown.mine.version
        self._zone = self.panel.values().zone
        self._loading = True
        try:
            self.canvas.set_landmarks(shown.mine.landmarks)
        finally:
            self._loading = False
        self.update_suggestion()

    def suggestion(self) -> ZoneSuggestion:
        """The zone the canvas's landmarks and outlines suggest now."""
        outlines = [s.points for s in self.canvas.shapes()]
        return suggest_zone(self.canvas.landmarks(), outlines, fov=self._field, eye=self._eye)

    def update_suggestion(self) -> None:
        if self.workspace.shown is None:
            self.panel.set_zone_suggestion(None)
            return
        self.panel.set_zone_suggestion(self.suggestion())

    # ------------------------------------------------------------------ edits
    def on_landmarks_changed(self, landmarks: Landmarks) -> None:
        image_id = self.workspace.shown
        if image_id is None or self._loading:
            return

        def save() -> None:
            mine = self.service.save_landmarks(image_id, landmarks, expected_version=self._versions.get(image_id))
            self._versions[image_id] = mine.version

        try:
            self.workspace.edits.run(save, "landmarks")
        except LandmarkConflict as conflict:
            self._say(str(conflict))
            self._versions[image_id] = conflict.current.version
            # show what is stored; deferred: we are inside the canvas's undo-stack push (and bound
            # now: Python unbinds ``conflict`` when the except block ends, before the timer fires)
            stored = conflict.current.landmarks
            QTimer.singleShot(0, lambda: self._show_stored(image_id, stored))
        except (AccessDenied, ValueError) as exc:
            self._say(getattr(exc, "reason", str(exc)))
        self.update_suggestion()

    def _show_stored(self, image_id: int, landmarks: Landmarks) -> None:
        if self.workspace.shown != image_id:
            return
        self._loading = True
        try:
            self.canvas.set_landmarks(landmarks)
        finally:
            self._loading = False
        self.update_suggestion()

    def on_values_changed(self, values: GradeValues) -> None:
        """The grader changed the grade: when the zone changed, record it against the suggestion."""
        image_id = self.workspace.shown
        if image_id is None or values.zone is self._zone:
            return
        self._zone = values.zone
        if self.suggestion().zone is None:
            return
        try:
            self.workspace.edits.run(lambda: self.service.decide_zone(image_id, values.zone), "a zone decision")
        except (AccessDenied, ValueError) as exc:
            self._say(getattr(exc, "reason", str(exc)))

    def _say(self, text: str) -> None:
        self.window.statusBar().showMessage(text, 10000)


def install_landmark_features(
    window: MainWindow,
    study: Study,
    grading: GradingService,
    *,
    workspace: WorkspaceController,
    panel: GradePanel,
    shortcuts: GradingShortcuts | None = None,
) -> LandmarksController:
    """The landmark and zone features of a main window, on its ``workspace`` and grade ``panel``."""
    return LandmarksController(
        window, LandmarkService(study, grading.actor), panel, workspace=workspace, shortcuts=shortcuts
    )
