"""Keeps the polygon being drawn, vertex by vertex, so that a crash loses no clicks (issue 17).

A closed polygon is saved the moment it is closed; the one still being drawn is kept apart
(:mod:`rop_desktop.services.outline_drafts`): written at every vertex, dropped when it is closed,
cancelled or left for another image. When the study is opened again after a crash the window goes
to that image, the polygon tool continues the outline where it stopped, and the status bar says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, SignalInstance

from rop_desktop.domain.shapes import Point
from rop_desktop.services.grading import GradingError
from rop_desktop.services.outline_drafts import (
    OutlineDraft,
    discard_outline_draft,
    outline_draft,
    save_outline_draft,
)
from rop_desktop.services.policy import AccessDenied

if TYPE_CHECKING:
    from rop_desktop.services.grading import GradingService
    from rop_desktop.ui.main_window import MainWindow

    from .connection import PendingEdits

RESTORED_MESSAGE = (
    "The outline you had not closed when the app stopped is back ({n} vertices): click the "
    "first vertex or press Enter to close it, Esc to drop it."
)


class DraftHost(Protocol):
    """What the keeper uses of the workspace controller (typed here, so the two modules do not
    import each other)."""

    window: MainWindow
    service: GradingService
    imageShown: SignalInstance
    shown: int | None
    edits: PendingEdits

    def open_image(self, image_id: int) -> None: ...


class OutlineDraftKeeper(QObject):
    """Writes the canvas's unclosed polygon through the service and offers it back on reopening."""

    def __init__(self, workspace: DraftHost) -> None:
        super().__init__(workspace if isinstance(workspace, QObject) else None)
        self.workspace = workspace
        self.window = workspace.window
        service = workspace.service
        self._study, self._actor = service.study, service.actor
        try:
            #: The outline left unclosed last time, until its image is on screen again.
            self.pending: OutlineDraft | None = outline_draft(self._study, self._actor)
        except AccessDenied:
            self.pending = None
        self._stored = self.pending is not None
        self._redirected = False
        self.window.canvas.polygonDraftChanged.connect(self._on_changed)
        workspace.imageShown.connect(self._on_shown)

    def _on_shown(self, image_id: int) -> None:
        draft = self.pending
        if draft is None:
            return
        if draft.image_id != image_id:
            if not self._redirected:  # the first image shown after a crash: go to the outline's
                self._redirected = True
                self.workspace.open_image(draft.image_id)
            else:  # its image could not be shown, or the grader went elsewhere: offer it no more
                self.pending = None
            return
        self.pending = None
        w = self.window
        for combo, value in ((w.lesion_combo, draft.lesion_type), (w.stage_combo, draft.stage)):
            index = combo.findData(value)
            if index >= 0:
                combo.setCurrentIndex(index)
        w.canvas.restore_polygon_draft(draft.points)
        w.statusBar().showMessage(RESTORED_MESSAGE.format(n=len(draft.points)), 20_000)

    def _on_changed(self, points: tuple[Point, ...]) -> None:
        image_id = self.workspace.shown
        if points and image_id is not None:
            editor = self.window.canvas.editor
            draft = OutlineDraft(image_id, tuple(points), editor.lesion_type, editor.stage)
            self._run(lambda: save_outline_draft(self._study, self._actor, draft))
            self._stored = True
        elif not points and self._stored and self.pending is None:
            self._run(lambda: discard_outline_draft(self._study, self._actor))
            self._stored = False

    def _run(self, write: Callable[[], object]) -> None:
        try:
            self.workspace.edits.run(write, "the outline being drawn")
        except (GradingError, AccessDenied) as exc:
            self.window.statusBar().showMessage(str(exc), 10_000)
