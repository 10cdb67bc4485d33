"""Drawing tools of the canvas: the tool protocol, pan, polygon (click vertices), trace (drag a line).

A tool receives mouse events with the position already mapped to image (scene) coordinates and
returns True when it used the event. It edits only through ``host.editor`` (validation + undo
stack) and previews with temporary items it removes itself. The select tool is in
:mod:`.select_tool`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from rop_desktop.domain.geometry import InvalidGeometry, trace_to_polygon
from rop_desktop.domain.shapes import Point

from . import style
from .host import CanvasHost
from .items import CircleItem, PolylinePreviewItem

_ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


def distance(a: Point, b: Point) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


class Tool:
    """Base tool: ignores everything. ``host`` is the canvas (:class:`~.host.CanvasHost`)."""

    name = ""
    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, host: CanvasHost) -> None:
        self.host = host

    @property
    def busy(self) -> bool:
        """True while a gesture (a polygon being drawn, a drag) is in progress."""
        return False

    def activate(self) -> None:
        """The tool became current."""

    def deactivate(self) -> None:
        """The tool stops being current: drop any gesture in progress."""
        self.cancel()

    def cancel(self) -> None:
        """Drop the gesture in progress, changing nothing."""

    def press(self, event: QMouseEvent, p: Point) -> bool:
        return False

    def move(self, event: QMouseEvent, p: Point) -> bool:
        return False

    def release(self, event: QMouseEvent, p: Point) -> bool:
        return False

    def double_click(self, event: QMouseEvent, p: Point) -> bool:
        return False

    def key(self, event: QKeyEvent) -> bool:
        return False

    def leave(self) -> None:
        """The cursor left the view."""

    def history_changed(self) -> None:
        """An edit was done, undone or redone (possibly by the host while a gesture runs)."""


class PanTool(Tool):
    """Left-drag pans (the canvas does the panning; this tool only claims the left button)."""

    name = "pan"
    cursor = Qt.CursorShape.OpenHandCursor


class PolygonTool(Tool):
    """Click vertices; close on the first vertex or with Enter; Backspace undoes a vertex; Escape cancels.

    ``on_change`` (set by the canvas) hears the vertices after every change, ``()`` once the
    outline is closed or dropped: the host keeps the unclosed outline so a crash loses no clicks.
    """

    name = "polygon"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, host: CanvasHost) -> None:
        super().__init__(host)
        self._points: list[Point] = []
        self._preview: PolylinePreviewItem | None = None
        self._cursor: Point | None = None
        self.on_change: Callable[[tuple[Point, ...]], object] | None = None

    @property
    def busy(self) -> bool:
        return bool(self._points)

    @property
    def points(self) -> tuple[Point, ...]:
        """The vertices placed so far."""
        return tuple(self._points)

    def cancel(self) -> None:
        had_points = bool(self._points)
        self._points.clear()
        if self._preview is not None:
            self.host.scene().removeItem(self._preview)
            self._preview = None
        if had_points:
            self._changed()

    def restore(self, points: tuple[Point, ...] | list[Point]) -> None:
        """Continue an outline whose vertices were placed earlier (kept across a crash)."""
        self.cancel()
        if not points:
            return
        self._preview = PolylinePreviewItem(self.host.zoom())
        self.host.scene().addItem(self._preview)
        self._points = [(float(x), float(y)) for x, y in points]
        self._update(None)
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(tuple(self._points))

    def press(self, event: QMouseEvent, p: Point) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return self.busy
        if self._points and distance(p, self._points[0]) <= self.host.scene_tol(style.VERTEX_HIT_PX):
            self.finish()
            return True
        if self._preview is None:
            self._preview = PolylinePreviewItem(self.host.zoom())
            self.host.scene().addItem(self._preview)
        self._points.append(p)
        self._update(p)
        self._changed()
        return True

    def move(self, event: QMouseEvent, p: Point) -> bool:
        self._cursor = p
        if self._points:
            self._update(p)
        return self.busy

    def double_click(self, event: QMouseEvent, p: Point) -> bool:
        return self.busy  # the presses already placed the vertex

    def key(self, event: QKeyEvent) -> bool:
        if not self._points:
            return False
        if event.key() in _ENTER_KEYS:
            self.finish()
        elif event.key() == Qt.Key.Key_Escape:
            self.cancel()
        elif event.key() == Qt.Key.Key_Backspace:
            self._points.pop()
            if self._points:
                self._update(self._cursor)
                self._changed()
            else:
                self._changed()
                self.cancel()
        else:
            return False
        return True

    def finish(self) -> None:
        """Close the polygon: added if valid (and selected), else reported and kept for fixing."""
        shape = self.host.editor.add(self._points, source="drawn")
        if shape is not None:
            self.cancel()
            self.host.layer.select(shape.id)

    def _update(self, cursor: Point | None) -> None:
        if self._preview is not None:
            self._preview.set_state(self._points, cursor)


class TraceTool(Tool):
    """Press, drag along the lesion, release: the band of :attr:`width` pixels becomes a polygon."""

    name = "trace"
    cursor = Qt.CursorShape.CrossCursor
    default_width = 16.0

    def __init__(self, host: CanvasHost) -> None:
        super().__init__(host)
        self._width = self.default_width
        self._line: list[Point] = []
        self._band: QGraphicsPathItem | None = None
        self._brush: CircleItem | None = None

    @property
    def busy(self) -> bool:
        return bool(self._line)

    @property
    def width(self) -> float:
        """Band width in image pixels."""
        return self._width

    def set_width(self, width: float) -> None:
        if not (isinstance(width, (int, float)) and math.isfinite(width) and width > 0):
            raise ValueError(f"the trace width must be a positive number of pixels, not {width!r}")
        self._width = float(width)
        if self._brush is not None:
            self._brush.set_circle(self._brush.pos().x(), self._brush.pos().y(), self._width / 2)
        if self._band is not None:
            self._band.setPen(self._band_pen())

    def activate(self) -> None:
        self._brush = CircleItem(style.cosmetic_pen(style.PREVIEW_COLOR, 1.0), self.host.zoom())
        self._brush.setZValue(style.Z_PREVIEW)
        self._brush.setVisible(False)
        self.host.scene().addItem(self._brush)

    def deactivate(self) -> None:
        self.cancel()
        if self._brush is not None:
            self.host.scene().removeItem(self._brush)
            self._brush = None

    def cancel(self) -> None:
        self._line.clear()
        if self._band is not None:
            self.host.scene().removeItem(self._band)
            self._band = None

    def _band_pen(self) -> QPen:
        color = QColor(style.PREVIEW_COLOR)
        color.setAlpha(110)
        return QPen(color, self._width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)

    def press(self, event: QMouseEvent, p: Point) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return self.busy
        self.cancel()
        self._line = [p]
        self._band = QGraphicsPathItem()
        self._band.setZValue(style.Z_PREVIEW)
        self._band.setPen(self._band_pen())
        self.host.scene().addItem(self._band)
        self._update_band()
        return True

    def move(self, event: QMouseEvent, p: Point) -> bool:
        if self._brush is not None:
            self._brush.set_circle(p[0], p[1], self._width / 2)
            self._brush.setVisible(True)
        if not self._line:
            return False
        if distance(p, self._line[-1]) >= self.host.scene_tol(1.0):
            self._line.append(p)
            self._update_band()
        return True

    def release(self, event: QMouseEvent, p: Point) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or not self._line:
            return self.busy
        if distance(p, self._line[-1]) > 0:
            self._line.append(p)
        line = list(self._line)
        self.cancel()
        try:
            band = trace_to_polygon(line, self._width)
        except InvalidGeometry as exc:
            self.host.report(exc.reason)
            return True
        shape = self.host.editor.add(band.points, band.holes, source="traced", text="Trace lesion")
        if shape is not None:
            self.host.layer.select(shape.id)
        return True

    def key(self, event: QKeyEvent) -> bool:
        if self._line and event.key() == Qt.Key.Key_Escape:
            self.cancel()
            return True
        return False

    def leave(self) -> None:
        if self._brush is not None:
            self._brush.setVisible(False)

    def _update_band(self) -> None:
        assert self._band is not None
        path = QPainterPath(QPointF(*self._line[0]))
        for x, y in self._line[1:]:
            path.lineTo(x, y)
        if len(self._line) == 1:
            path.lineTo(self._line[0][0] + 1e-3, self._line[0][1])  # a dot shows the brush
        self._band.setPath(path)
