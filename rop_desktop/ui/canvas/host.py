"""What a canvas tool may use of the canvas that hosts it.

The tools (:mod:`.tools`, :mod:`.select_tool`, :mod:`.landmark_tool`) are created by the canvas
(:mod:`.view`); typing their host as this protocol instead of ``ImageCanvas`` keeps the import
graph one-way (view → tools → host) and says, in one place, the few canvas members a gesture
needs: the edit gate and undo stack, the two layers, the scene, zoom and messages.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QGraphicsScene

from .editor import ShapeEditor
from .landmarks import LandmarkLayer
from .layer import ShapeLayer


class CanvasHost(Protocol):
    """The members of :class:`~.view.ImageCanvas` that the tools use."""

    @property
    def editor(self) -> ShapeEditor:
        """Validation gate to the undo stack: every shape edit of a tool goes through it."""

    @property
    def layer(self) -> ShapeLayer:
        """The editable shapes, their selection and hit tests."""

    @property
    def landmark_layer(self) -> LandmarkLayer:
        """The optic disc, the fovea and the zone rings they give."""

    @property
    def undo_stack(self) -> QUndoStack:
        """The undo history of the image shown."""

    def scene(self) -> QGraphicsScene:
        """Where tools add their temporary preview items (and remove them)."""

    def zoom(self) -> float:
        """Device pixels per image pixel."""

    def scene_tol(self, pixels: float) -> float:
        """A distance of ``pixels`` on screen, in image pixels (hit tolerances)."""

    def image_size(self) -> tuple[int, int] | None:
        """(width, height) of the image shown, or None."""

    def report(self, text: str) -> None:
        """Tell the user something (a refused edit, a hint)."""

    def setFocus(self, reason: Qt.FocusReason) -> None:  # noqa: N802 - Qt's name
        """Take the keyboard focus (for the tool's keys)."""
