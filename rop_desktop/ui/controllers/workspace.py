"""Connects the grading service to the worklist, canvas and grade panel.

Every user edit is written through the service at once (drafts included), so nothing is lost
if the app dies. Image decoding runs in the ImageLoader thread; the window never waits for it.
The service acts for the signed-in account and checks it on every call: a refusal (the account
was deactivated or lost its role meanwhile) is shown in the status bar, never swallowed.

What a click costs does not grow with the study (issue 15): the worklist is a paged model over
the service's indexed queries (:class:`_ServicePages`); a filter or order change is one guarded
call (the first page, the counts and where the current image is); an image put on screen is one
(:meth:`GradingService.show`: polygons, grade, "remember", the next image to decode); an edit
updates its own row, never the list; and edits made on other workstations
(:meth:`apply_changes`, from the change watcher, which leaves this workstation's own out) update
the rows of this grader's images they touched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, QTimer, Signal

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Role
from rop_desktop.domain.shapes import Shape, ShapeId
from rop_desktop.imaging.display import DisplaySettings, DisplaySettingsError
from rop_desktop.services import identity
from rop_desktop.services.changes import Change
from rop_desktop.services.grading import (
    GradeConflict,
    GradingError,
    GradingService,
    ImageData,
    MyGrade,
    ShapeConflict,
    WorklistQuery,
    WorklistRow,
)
from rop_desktop.services.policy import AccessDenied
from rop_desktop.ui.controllers.connection import install_connection_guard
from rop_desktop.ui.controllers.outline_draft import OutlineDraftKeeper
from rop_desktop.ui.grading import GradePanel
from rop_desktop.ui.main_window import MainWindow
from rop_desktop.workers.image_loader import ImageLoader


class _ServicePages:
    """The worklist model's source: one query of the grading service, read page by page."""

    def __init__(self, service: GradingService, query: WorklistQuery) -> None:
        self.service = service
        self.query = query

    def page(self, offset: int, limit: int) -> Sequence[WorklistRow]:
        q = self.query
        return self.service.worklist(
            q.status, q.patient, q.camera, sort=q.sort, descending=q.descending, offset=offset, limit=limit
        )

    def position(self, image_id: int) -> int | None:
        return self.service.worklist_position(self.query, image_id)


class WorkspaceController(QObject):
    imageShown = Signal(int)  # image id, after pixels and polygons are on the canvas
    gradeSubmitted = Signal(int)

    def __init__(self, window: MainWindow, service: GradingService, grade_panel: GradePanel) -> None:
        super().__init__(window)
        self.window = window
        self.service = service
        self.panel = grade_panel
        self.current: int | None = None  # the image asked for (may still be decoding)
        #: Which image "next to do" opens: (current id) -> id | None. The model features may
        #: replace it with "most uncertain first" (active learning).
        self.next_todo_policy: Callable[[int | None], int | None] = service.next_todo
        #: The image whose pixels, polygons and grade are on screen: the one every edit belongs to.
        #: It differs from ``current`` while the next image decodes; keys pressed meanwhile still
        #: edit what the grader sees, never the image that is not shown yet.
        self.shown: int | None = None
        #: The version of my grade each image had when this window last showed or wrote it: a change
        #: made elsewhere in between is a conflict, never overwritten (read when an edit is sent, so
        #: edits queued during a connection loss chain correctly).
        self._versions: dict[int, int | None] = {}
        #: Every edit goes through here: saved at once, or kept and retried while the database
        #: connection is lost (the status bar says so), in order.
        self.edits = install_connection_guard(window)
        self.loader = ImageLoader(service.load_image, parent=self)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        window.worklist.model.loadFailed.connect(self._on_page_failed)
        window.on_shutdown(self.shutdown)
        self._save_display = QTimer(self)
        self._save_display.setSingleShot(True)
        self._save_display.setInterval(400)
        self._save_display.timeout.connect(self._persist_display)

        w = window
        w.set_grader(service.grader.name, service.grader.role.label)
        w.worklist.imageActivated.connect(self.open_image)
        w.worklist.filterChanged.connect(lambda _f: self.refresh_worklist())
        w.next_action.triggered.connect(lambda: self._step(+1))
        w.prev_action.triggered.connect(lambda: self._step(-1))
        w.next_todo_action.triggered.connect(self.open_next_todo)
        w.canvas.shapeAdded.connect(self._save_shape)
        w.canvas.shapeChanged.connect(self._save_shape)
        w.canvas.shapeRemoved.connect(self._delete_shape)
        w.canvas.selectionChanged.connect(self._on_selection)
        w.lesion_combo.currentIndexChanged.connect(self._on_lesion_defaults)
        w.stage_combo.currentIndexChanged.connect(self._on_lesion_defaults)
        w.display_bar.settingsChanged.connect(self._on_display)
        self.panel.valuesChanged.connect(self._save_draft)
        self.panel.submitRequested.connect(self.submit)
        if hasattr(self.panel, "refused"):  # a key that could not act says why in the status bar too
            self.panel.refused.connect(lambda text: self.window.statusBar().showMessage(text, 8000))
        if hasattr(self.panel, "set_grader"):
            self.panel.set_grader(service.grader.name, service.grader.role.label)

        stored = service.display_settings()
        if stored:
            try:
                settings = DisplaySettings.from_dict(stored)
            except DisplaySettingsError:
                settings = DisplaySettings()
            w.display_bar.set_settings(settings)
            w.canvas.set_display_settings(settings)
        w.worklist.set_cameras(service.cameras())
        self.refresh_worklist()
        #: The polygon being drawn is kept at every vertex and offered back after a crash.
        self.outline_drafts = OutlineDraftKeeper(self)

    # ------------------------------------------------------------------ the worklist
    def reload_study_lists(self) -> None:
        """After an import: new cameras in the filter, new rows in the worklist."""
        try:
            self.window.worklist.set_cameras(self.service.cameras())
        except AccessDenied as exc:
            self._refused(exc)
            return
        self.refresh_worklist()
        if self.current is None:
            self.start()

    def worklist_query(self) -> WorklistQuery:
        """The list the worklist panel asks for now."""
        f = self.window.worklist.filters()
        return WorklistQuery(
            f["status"], f["patient"], f["camera"], f["sort"], f["descending"], f.get("attention", False)
        )

    def refresh_worklist(self) -> None:
        """Show the list the panel asks for: its first page, counts and where the current image is
        (one guarded call); the other pages are read when the view shows them."""
        query = self.worklist_query()
        try:
            page = self.service.worklist_page(query, 0, self.window.worklist.model.page_size, locate=self.current)
        except AccessDenied as exc:
            self._refused(exc)
            return
        except GradingError as exc:
            self.window.statusBar().showMessage(str(exc), 10000)
            return
        self.window.worklist.set_page(page, _ServicePages(self.service, query), current=self.current)

    def reload_worklist_rows(self) -> None:
        """Read the rows the worklist holds again (model scores or their visibility changed): the
        same list, the same places; one guarded call for the cached pages' rows."""
        ids = self.window.worklist.model.cached_image_ids()
        if not ids:
            return
        try:
            rows = self.service.worklist_rows(ids)
        except AccessDenied as exc:
            self._refused(exc)
            return
        for row in rows:
            self.window.worklist.update_row(row)

    def apply_changes(self, changes: Sequence[Change]) -> None:
        """Other workstations' edits (``services.changes.Change``): the rows of this grader's
        images whose grade changed are read again and replaced; nothing else moves. (Others'
        grades and outlines change nothing in this grader's worklist.)"""
        grade_ids = sorted({c.entity_id for c in changes if getattr(c, "entity", None) == "grade"})
        if not grade_ids:
            return
        try:
            rows = self.service.rows_of_grades(grade_ids)
        except AccessDenied as exc:
            self._refused(exc)
            return
        for row in rows:
            self.window.worklist.update_row(row)
        if rows:
            self._refresh_totals()

    def _refresh_totals(self) -> None:
        """The footer's totals for the whole study (one indexed statement), after a status changed."""
        try:
            self.window.worklist.set_totals(self.service.my_totals())
        except AccessDenied as exc:
            self._refused(exc)

    def _refresh_row(self, image_id: int) -> None:
        """This grader's own submit of an image whose model score the row hides: the row, read as
        it is now (the submit may unblind the score). Nothing to read for any other row."""
        row = self.window.worklist.model.cached_row(image_id)
        if row is None or not row.scores_hidden:
            return
        try:
            rows = self.service.worklist_rows([image_id])
        except AccessDenied as exc:
            self._refused(exc)
            return
        for row in rows:
            self.window.worklist.update_row(row)

    def _on_page_failed(self, exc: BaseException) -> None:
        if isinstance(exc, AccessDenied):
            self._refused(exc)
        else:
            self.window.statusBar().showMessage(f"The worklist could not be read: {exc}", 10000)

    # ------------------------------------------------------------------ navigation
    def _refused(self, exc: AccessDenied) -> None:
        """The service refused this account: say why (the status bar), change nothing."""
        self.window.statusBar().showMessage(exc.reason, 15000)

    def start(self) -> None:
        """Back to the image the grader left if it is still to do, else the first image to grade
        (or the first image when all are done)."""
        try:
            last = self.service.last_image()
            if last is not None and not self.service.my_grade(last).submitted:
                self.open_image(last)
                return
            first = self.service.next_todo()
        except AccessDenied as exc:
            self._refused(exc)
            return
        if first is None:  # all done: show every image instead of an empty to-do list
            self.window.worklist.status_filter.setCurrentIndex(self.window.worklist.status_filter.findData(None))
            first = self.window.worklist.model.image_id_at(0)
        if first is not None:
            self.open_image(first)

    def open_image(self, image_id: int) -> None:
        if image_id == self.current:
            return
        self.current = image_id
        self.window.worklist.select(image_id)
        self.window.image_label.setText("loading …")
        self.loader.request(image_id)

    def open_next_todo(self) -> None:
        try:
            nxt = self.next_todo_policy(self.current)
        except AccessDenied as exc:
            self._refused(exc)
            return
        if nxt is None:
            self.window.statusBar().showMessage("Everything in this study is submitted. Thank you!", 8000)
            return
        self.open_image(nxt)

    def _step(self, delta: int) -> None:
        model = self.window.worklist.model
        if model.rowCount() == 0:
            return
        row = model.row_of(self.current) if self.current is not None else None
        row = 0 if row is None else max(0, min(model.rowCount() - 1, row + delta))
        image_id = model.image_id_at(row)
        if image_id is not None:
            self.open_image(image_id)

    def _on_loaded(self, image_id: int, data: ImageData) -> None:
        if image_id != self.current:
            return
        try:
            state = self.service.show(image_id)  # polygons, grade, remembered, next to do: one call
        except AccessDenied as exc:
            self._refused(exc)
            return
        shapes, mine, upcoming = state.shapes, state.grade, state.upcoming
        self.window.canvas.set_image(data.rgb, shapes, data.fov)
        self._versions[image_id] = mine.version
        self.panel.set_values(mine.values, submitted=mine.submitted)
        self.shown = image_id
        self._update_polygon_stages()
        eye = data.eye.value if data.eye else "eye ?"
        who = self._identity_text(image_id)
        self.window.image_label.setText(f"{who or data.patient} · {eye} · {data.original_name}")
        self.imageShown.emit(image_id)
        self.loader.prefetch(upcoming)

    def _identity_text(self, image_id: int) -> str | None:
        """The patient's identity for the status bar, only where the study shows it and only for an
        admin (the identity service decides; everyone else sees the pseudonymous code)."""
        if self.service.actor.role is not Role.ADMIN:
            return None
        try:
            shown = identity.shown_identity(self.service.study, self.service.actor, image_id)
        except AccessDenied:
            return None
        return shown.line() if shown is not None else None

    def _on_load_failed(self, image_id: int, message: str) -> None:
        if image_id == self.current:
            self.shown = None
            self.window.canvas.clear()
            self.window.image_label.setText("")
            self.window.statusBar().showMessage(message, 10000)

    # ------------------------------------------------------------------ edits (each one stored)
    def _save_shape(self, shape: Shape) -> None:
        if self.shown is None:
            return
        image_id = self.shown
        try:
            self.edits.run(lambda: self.service.save_shape(image_id, shape), "a polygon")
        except (GradingError, AccessDenied) as exc:
            self._edit_refused(exc)
        self._update_polygon_stages()

    def _delete_shape(self, shape_id: object) -> None:
        if self.shown is None or not isinstance(shape_id, str):
            return
        image_id = self.shown
        try:
            self.edits.run(lambda: self.service.delete_shape(image_id, shape_id), "a polygon deletion")
        except (GradingError, AccessDenied) as exc:
            self._edit_refused(exc)
        self._update_polygon_stages()

    def _edit_refused(self, exc: GradingError | AccessDenied) -> None:
        self.window.statusBar().showMessage(str(exc), 10000)
        if isinstance(exc, ShapeConflict) and self.shown is not None:
            # show what is stored; deferred: we are inside the canvas's undo-stack push
            image_id = self.shown
            QTimer.singleShot(0, lambda: self.loader.request(image_id) if self.current == image_id else None)

    def _update_polygon_stages(self) -> None:
        if hasattr(self.panel, "set_polygon_stages"):
            self.panel.set_polygon_stages([s.stage for s in self.window.canvas.shapes()])

    def _save_draft(self, values: GradeValues) -> None:
        if self.shown is None:
            return
        image_id = self.shown
        saved: list[MyGrade] = []
        new_grade = not self._versions.get(image_id)  # version 0: no grade yet, this edit starts a draft

        def save() -> None:
            saved.append(self.service.save_draft(image_id, values, expected_version=self._versions.get(image_id)))
            self._versions[image_id] = saved[-1].version

        try:
            stored = self.edits.run(save, "a draft grade")
        except GradeConflict as conflict:
            self._show_conflict(image_id, conflict)
            return
        except AccessDenied as exc:
            self._refused(exc)
            return
        if stored:
            mine = saved[0]
            self.window.worklist.set_status(image_id, "submitted" if mine.submitted else "draft")
            if new_grade:
                self._refresh_totals()

    def _show_conflict(self, image_id: int, conflict: GradeConflict) -> None:
        """Another workstation changed this grade: show its version, say so, write nothing."""
        self.window.statusBar().showMessage(str(conflict), 15000)
        self._versions[image_id] = conflict.current.version
        if image_id == self.shown:
            self.panel.set_values(conflict.current.values, submitted=conflict.current.submitted)

    def submit(self) -> None:
        """Submit the grade on screen; then open the next image to do (unless another one is on its way)."""
        if self.shown is None:
            return
        image_id = self.shown
        values = self.panel.values()

        def send() -> None:
            mine = self.service.submit(image_id, values, expected_version=self._versions.get(image_id))
            self._versions[image_id] = mine.version

        try:
            sent = self.edits.run(send, "a submitted grade")
        except GradeConflict as conflict:
            self._show_conflict(image_id, conflict)
            return
        except (GradingError, AccessDenied) as exc:
            self.window.statusBar().showMessage(str(exc), 10000)
            return
        if not sent:  # kept until the database is back: stay on this image, nothing is lost
            return
        self.window.worklist.set_status(image_id, "submitted")
        self._refresh_totals()
        self._refresh_row(image_id)  # the submit may unblind the image's model score
        self.gradeSubmitted.emit(image_id)
        self.window.statusBar().showMessage("Submitted.", 3000)
        if self.current == image_id:
            self.open_next_todo()

    # ------------------------------------------------------------------ polygons' attributes
    def _on_lesion_defaults(self) -> None:
        lesion = self.window.lesion_combo.currentData()
        stage = self.window.stage_combo.currentData()
        canvas = self.window.canvas
        canvas.set_new_shape_defaults(lesion, stage)
        selected = canvas.selected_id()
        if selected is not None:
            shape = canvas.shape(selected)
            if shape.lesion_type != lesion or shape.stage != stage:
                canvas.set_shape_attributes(selected, lesion, stage)

    def _on_selection(self, shape_id: ShapeId) -> None:
        if shape_id is None:
            return
        shape = self.window.canvas.shape(shape_id)
        w = self.window
        for combo, value in ((w.lesion_combo, shape.lesion_type), (w.stage_combo, shape.stage)):
            combo.blockSignals(True)
            combo.setCurrentIndex(max(0, combo.findData(value)))
            combo.blockSignals(False)

    # ------------------------------------------------------------------ display
    def _on_display(self, settings: DisplaySettings) -> None:
        self.window.canvas.set_display_settings(settings)
        self._save_display.start()

    def _persist_display(self) -> None:
        try:
            self.service.save_display_settings(self.window.display_bar.settings().to_dict())
        except AccessDenied as exc:
            self._refused(exc)

    def shutdown(self) -> None:
        if self._save_display.isActive():
            self._save_display.stop()
            self._persist_display()
        self.loader.shutdown()
        self.window.worklist.shutdown()
