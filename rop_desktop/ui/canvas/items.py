"""Graphics items of the canvas: editable polygons, previews, read-only reference outlines.

Items draw with cosmetic pens (constant screen width) from cached ``QPainterPath`` /
``QPolygonF`` built when the geometry changes, never in ``paint()``; vertex handles are drawn as
wide cosmetic points, so they keep the same on-screen size at every zoom. Polygons use
``DeviceCoordinateCache``: a repaint blits cached pixmaps and calls no Python. Their bounding rects
add a margin of a few *screen* pixels, which the canvas keeps right through
:meth:`ScaleAwareItem.set_view_scale` when the zoom changes. Items take no mouse events: the
canvas's tools do all hit-testing (:mod:`.layer`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from rop_desktop.domain.shapes import Point, Shape

from . import style


def ring_polygon(ring: Sequence[Point]) -> QPolygonF:
    """An open ring as a ``QPolygonF``."""
    return QPolygonF([QPointF(x, y) for x, y in ring])


def shape_path(points: Sequence[Point], holes: Iterable[Sequence[Point]] = ()) -> QPainterPath:
    """A closed path of the exterior and holes (odd-even fill, so holes stay empty)."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    for ring in (points, *holes):
        if len(ring) >= 2:
            path.addPolygon(ring_polygon(ring))
            path.closeSubpath()
    return path


class ScaleAwareItem(QGraphicsItem):
    """An item whose bounding rect includes a margin of ``margin_px`` screen pixels."""

    margin_px: float = style.HANDLE_PX + 2.0

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self._scale = max(scale, 1e-6)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_view_scale(self, scale: float) -> None:
        """Tell the item the view's zoom (device pixels per scene unit)."""
        scale = max(scale, 1e-6)
        if scale != self._scale:
            self.prepareGeometryChange()
            self._scale = scale

    def margin(self) -> float:
        """The margin in scene units."""
        return self.margin_px / self._scale


class PolygonItem(ScaleAwareItem):
    """One editable shape; shows vertex handles when selected."""

    def __init__(self, shape: Shape, scale: float = 1.0) -> None:
        super().__init__(scale)
        self._model = shape
        self._preview: tuple[Point, ...] | None = None
        self._selected = False
        self._active_vertex: int | None = None
        # Repaints blit a device-resolution pixmap (re-rendered only after an edit or a zoom):
        # a full viewport repaint with 20 polygons of 200 vertices then costs ~1-3 ms, not ~15 ms.
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._rebuild()

    @property
    def model(self) -> Shape:
        """The shape shown (as stored; previews do not change it)."""
        return self._model

    def displayed_points(self) -> tuple[Point, ...]:
        """The exterior ring as drawn now (the preview while dragging, else the model's)."""
        return self._preview if self._preview is not None else self._model.points

    def set_model(self, shape: Shape) -> None:
        """Show another version of the shape; drops any preview."""
        self._model = shape
        self._preview = None
        self._rebuild()

    def set_preview(self, points: Sequence[Point] | None) -> None:
        """Draw a temporary exterior ring (vertex drag) or go back to the model (None)."""
        self._preview = None if points is None else tuple(points)
        self._rebuild()

    def set_highlight(self, selected: bool, active_vertex: int | None = None) -> None:
        """Selected look (thicker outline, handles); ``active_vertex`` is drawn in red."""
        self._selected = selected
        self._active_vertex = active_vertex if selected else None
        self._make_pens()
        self.update()

    def _rebuild(self) -> None:
        self.prepareGeometryChange()
        ring = self.displayed_points()
        self._path = shape_path(ring, self._model.holes)
        self._vertices = ring_polygon(ring)
        self._bounds = self._path.boundingRect()
        self._make_pens()
        self.update()

    def _make_pens(self) -> None:
        color = style.lesion_color(self._model.lesion_type)
        if self._selected:
            self._pen = style.cosmetic_pen(color, style.SELECTED_OUTLINE_PX)
            self._brush = style.fill_brush(color, style.SELECTED_FILL_ALPHA)
        else:
            self._pen = style.cosmetic_pen(color, style.OUTLINE_PX)
            self._brush = style.fill_brush(color, style.FILL_ALPHA)
        square = Qt.PenCapStyle.SquareCap
        self._handle_back = style.cosmetic_pen("#000000", style.HANDLE_PX + 2, cap=square)
        self._handle_pen = style.cosmetic_pen(style.SELECTED_COLOR, style.HANDLE_PX, cap=square)
        self._active_pen = style.cosmetic_pen(style.ACTIVE_VERTEX_COLOR, style.HANDLE_PX, cap=square)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        m = self.margin()
        return self._bounds.adjusted(-m, -m, m, m)

    def shape(self) -> QPainterPath:
        return self._path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setPen(self._pen)
        painter.setBrush(self._brush)
        painter.drawPath(self._path)
        if self._selected and self._vertices.size():
            painter.setPen(self._handle_back)
            painter.drawPoints(self._vertices)
            painter.setPen(self._handle_pen)
            painter.drawPoints(self._vertices)
            if self._active_vertex is not None and 0 <= self._active_vertex < self._vertices.size():
                painter.setPen(self._active_pen)
                painter.drawPoint(self._vertices.at(self._active_vertex))


class PolylinePreviewItem(ScaleAwareItem):
    """The polygon being drawn: placed vertices, a rubber band to the cursor, the first-vertex handle."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__(scale)
        self.setZValue(style.Z_PREVIEW)
        self._points: list[QPointF] = []
        self._cursor: QPointF | None = None
        self._pen = style.cosmetic_pen(style.PREVIEW_COLOR, 1.5)
        self._band_pen = style.cosmetic_pen(style.PREVIEW_COLOR, 1.0, Qt.PenStyle.DashLine)
        self._handle_pen = style.cosmetic_pen(style.PREVIEW_COLOR, style.HANDLE_PX, cap=Qt.PenCapStyle.SquareCap)
        self._bounds = QRectF()

    def set_state(self, points: Sequence[Point], cursor: Point | None) -> None:
        """Show the placed ``points`` and a rubber band to ``cursor`` (None hides it)."""
        self.prepareGeometryChange()
        self._points = [QPointF(x, y) for x, y in points]
        self._cursor = None if cursor is None else QPointF(*cursor)
        poly = QPolygonF(self._points + ([self._cursor] if self._cursor is not None else []))
        self._bounds = poly.boundingRect()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        m = self.margin()
        return self._bounds.adjusted(-m, -m, m, m)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if not self._points:
            return
        painter.setPen(self._pen)
        painter.drawPolyline(QPolygonF(self._points))
        if self._cursor is not None:
            painter.setPen(self._band_pen)
            painter.drawLine(self._points[-1], self._cursor)
        painter.setPen(self._handle_pen)
        painter.drawPoint(self._points[0])


class CircleItem(ScaleAwareItem):
    """A circle outlined with a cosmetic pen (the field of view, the trace brush)."""

    margin_px = 3.0

    def __init__(self, pen: QPen, scale: float = 1.0) -> None:
        super().__init__(scale)
        self._pen = pen
        self._radius = 0.0

    def set_circle(self, cx: float, cy: float, radius: float) -> None:
        """Centre and radius in scene units."""
        self.prepareGeometryChange()
        self._radius = max(radius, 0.0)
        self.setPos(cx, cy)
        self.update()

    @property
    def radius(self) -> float:
        return self._radius

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        r = self._radius + self.margin()
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setPen(self._pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(QPointF(0.0, 0.0), self._radius, self._radius)


class ReferenceShapesItem(ScaleAwareItem):
    """Read-only outlines of one layer (another grader's polygons, a model's contours)."""

    margin_px = 3.0

    def __init__(self, shapes: Sequence[Shape], color: QColor | str, scale: float = 1.0) -> None:
        super().__init__(scale)
        self.setZValue(style.Z_REFERENCE)
        self._pen = style.cosmetic_pen(color, 1.5, Qt.PenStyle.DashLine)
        self._shapes = tuple(shapes)
        path = QPainterPath()
        path.setFillRule(Qt.FillRule.OddEvenFill)
        for shape in self._shapes:
            path.addPath(shape_path(shape.points, shape.holes))
        self._path = path
        self._bounds = path.boundingRect()
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    @property
    def shapes(self) -> tuple[Shape, ...]:
        return self._shapes

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        m = self.margin()
        return self._bounds.adjusted(-m, -m, m, m)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setPen(self._pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
