"""The Landmarks tool: two clicks place the optic disc centre and the fovea; keys D and F too.

* A click places the *armed* landmark: the disc first, then the fovea (the tool arms whichever
  is still missing). Pressing on the disc and dragging to its rim also measures the disc radius.
* With the tool active and the canvas focused, **D** / **F** put the disc / fovea under the
  mouse pointer at once (or arm it, when the pointer is off the image); **Delete** removes the
  armed one; **Escape** drops a drag.

Every change is one :class:`~.landmarks.SetLandmarksCommand` on the canvas's undo stack (undo,
redo), which the canvas reports through ``landmarksChanged`` for the host to store.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent

from rop_desktop.domain.shapes import Point
from rop_desktop.domain.zones import Landmarks

from . import style
from .host import CanvasHost
from .landmarks import SetLandmarksCommand
from .tools import Tool

#: The keys the tool takes from the window while it is active and the canvas has the focus.
TOOL_KEYS = (Qt.Key.Key_D, Qt.Key.Key_F, Qt.Key.Key_Delete, Qt.Key.Key_Backspace, Qt.Key.Key_Escape)
_NAMES = {"disc": "optic disc", "fovea": "fovea"}


class LandmarkTool(Tool):
    """See the module docstring."""

    name = "landmarks"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, host: CanvasHost) -> None:
        super().__init__(host)
        self.armed = "disc"
        self._press: Point | None = None
        self._dragging = False
        self._pointer: Point | None = None

    @property
    def busy(self) -> bool:
        return self._press is not None

    def activate(self) -> None:
        """The tool was chosen: it takes the keyboard (so that D and F reach it) and arms the
        landmark still missing."""
        self.host.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.rearm()

    def rearm(self) -> None:
        """Arm whichever landmark is missing (new landmarks were loaded), else keep the armed one."""
        self.arm(self._missing() or self.armed)

    def cancel(self) -> None:
        self._press = None
        self._dragging = False
        self.host.landmark_layer.preview(None)

    def arm(self, which: str) -> None:
        """Make the next click place ``which`` ("disc" or "fovea") and say so."""
        if which not in _NAMES:
            raise ValueError(f"a landmark is 'disc' or 'fovea', not {which!r}")
        self.armed = which
        hint = "click the optic disc centre (drag to its rim to measure it)" if which == "disc" else "click the fovea"
        self.host.report(f"Landmarks: {hint} · D disc, F fovea at the pointer · Delete removes the {_NAMES[which]}")

    # ----------------------------------------------------------------- mouse
    def press(self, event: QMouseEvent, p: Point) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return self.busy
        self._press = self._clamp(p)
        self._dragging = False
        if self.armed == "disc":
            self.host.landmark_layer.preview(self.value().with_(disc=self._press))
        return True

    def move(self, event: QMouseEvent, p: Point) -> bool:
        self._pointer = p
        if self._press is None:
            return False
        if self.armed == "disc":
            radius = math.hypot(p[0] - self._press[0], p[1] - self._press[1])
            self._dragging = self._dragging or radius >= self.host.scene_tol(style.DRAG_START_PX)
            current = self.value()
            preview = current.with_(
                disc=self._press, disc_radius=radius if self._dragging and radius > 0 else current.disc_radius
            )
            self.host.landmark_layer.preview(preview)
        return True

    def release(self, event: QMouseEvent, p: Point) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self._press is None:
            return self.busy
        start, dragged = self._press, self._dragging
        self.cancel()
        if self.armed == "disc":
            radius = math.hypot(p[0] - start[0], p[1] - start[1]) if dragged else None
            self.place("disc", start, radius=radius)
        else:
            self.place("fovea", self._clamp(p))
        return True

    def leave(self) -> None:
        self._pointer = None

    # ----------------------------------------------------------------- keys
    def key(self, event: QKeyEvent) -> bool:
        if event.modifiers() & (
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier
        ):
            return False
        key = event.key()
        if key == Qt.Key.Key_Escape and self.busy:
            self.cancel()
            return True
        if key in (Qt.Key.Key_D, Qt.Key.Key_F):
            which = "disc" if key == Qt.Key.Key_D else "fovea"
            pointer = self._pointer
            if pointer is not None and self._on_image(pointer):
                self.place(which, pointer)
            else:
                self.arm(which)
            return True
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.remove(self.armed)
            return True
        return False

    # ----------------------------------------------------------------- edits
    def value(self) -> Landmarks:
        return self.host.landmark_layer.value()

    def place(self, which: str, p: Point, *, radius: float | None = None) -> None:
        """Put the disc or the fovea at ``p`` (undoable); a disc keeps its radius unless a new
        one is given. Then arm whichever landmark is still missing."""
        before = self.value()
        p = self._clamp(p)
        if which == "disc":
            after = before.with_(disc=p, disc_radius=radius if radius else before.disc_radius)
        else:
            after = before.with_(fovea=p)
        if after != before:
            text = (
                f"Place the {_NAMES[which]}"
                if (before.disc if which == "disc" else before.fovea) is None
                else f"Move the {_NAMES[which]}"
            )
            if which == "disc" and radius:
                text = "Measure the optic disc"
            self.host.undo_stack.push(SetLandmarksCommand(self.host.landmark_layer, before, after, text))
        self.arm(self._missing() or which)

    def remove(self, which: str) -> None:
        """Remove the disc (with its radius) or the fovea (undoable)."""
        before = self.value()
        after = before.with_(disc=None, disc_radius=None) if which == "disc" else before.with_(fovea=None)
        if after != before:
            self.host.undo_stack.push(
                SetLandmarksCommand(self.host.landmark_layer, before, after, f"Remove the {_NAMES[which]}")
            )

    def _missing(self) -> str | None:
        lm = self.value()
        return "disc" if lm.disc is None else ("fovea" if lm.fovea is None else None)

    def _on_image(self, p: Point) -> bool:
        size = self.host.image_size()
        return size is not None and 0 <= p[0] <= size[0] and 0 <= p[1] <= size[1]

    def _clamp(self, p: Point) -> Point:
        size = self.host.image_size()
        if size is None:
            return p
        return min(max(p[0], 0.0), float(size[0])), min(max(p[1], 0.0), float(size[1]))
