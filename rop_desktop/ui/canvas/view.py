"""``ImageCanvas``: the annotation view — zoom, pan, tools, undoable polygon edits.

The canvas receives plain data (a numpy RGB image, :class:`Shape` values, display settings) and
reports every edit with plain data through signals; it never touches the store. Scene
coordinates are image pixels.

Signals (emitted for an edit *and* for its undo/redo, so the host can persist each at once):
``shapeAdded(Shape)``, ``shapeChanged(Shape)``, ``shapeRemoved(id)``, ``landmarksChanged(Landmarks)``
(the optic disc and fovea of the Landmarks tool, :mod:`.landmark_tool`); and
``selectionChanged(id | None)``, ``message(str)``, ``zoomChanged(float)``,
``cursorMoved(x, y)`` (image pixels), ``toolChanged(str)``, ``polygonDraftChanged(points)`` (the
vertices of the polygon being drawn after every click, ``()`` once it is closed or dropped: the
host keeps the unclosed outline, :meth:`ImageCanvas.restore_polygon_draft` brings it back).

Mouse: the wheel zooms about the cursor; middle-drag, Space + left-drag or the pan tool pan.
Keys reach the current tool (Enter, Escape, Backspace, Delete). Fitting to the window
(the host binds F) is :meth:`ImageCanvas.fit`; 1:1 is :meth:`ImageCanvas.actual_size`.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFocusEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QResizeEvent,
    QTransform,
    QUndoStack,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsScene, QGraphicsView, QWidget

from rop_desktop.domain.labels import LesionType, Stage
from rop_desktop.domain.shapes import Point, Shape, ShapeId, new_shape_id
from rop_desktop.domain.zones import Landmarks, ZoneRings
from rop_desktop.imaging.display import DisplaySettings

from .backdrop import Backdrop
from .editor import ShapeEditor
from .items import ScaleAwareItem
from .landmark_tool import TOOL_KEYS as LANDMARK_KEYS
from .landmark_tool import LandmarkTool
from .landmarks import LandmarkLayer
from .layer import ShapeLayer
from .select_tool import SelectTool
from .tools import PanTool, PolygonTool, Tool, TraceTool

#: Zoom limits (device pixels per image pixel); the lower one is also at most half the fit zoom.
MIN_ZOOM = 0.02
MAX_ZOOM = 40.0
#: One wheel notch (120 units) zooms by 2**(1/4) ≈ 1.19.
NOTCH_ZOOM_EXPONENT = 0.25
TOOLS: tuple[str, ...] = ("select", "polygon", "trace", "pan", "landmarks")


class ImageCanvas(QGraphicsView):
    """Zoomable image with editable lesion polygons (see the module docstring)."""

    shapeAdded = Signal(object)
    shapeChanged = Signal(object)
    shapeRemoved = Signal(object)
    landmarksChanged = Signal(object)
    selectionChanged = Signal(object)
    message = Signal(str)
    zoomChanged = Signal(float)
    cursorMoved = Signal(float, float)
    toolChanged = Signal(str)
    polygonDraftChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        scene = QGraphicsScene(self)
        scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)  # few, often-changing items
        self.setScene(scene)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QColor("#101010"))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setInteractive(False)  # the tools do all hit-testing
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)

        #: Unlimited undo history of the current image's edits (cleared by :meth:`set_image`).
        self.undo_stack = QUndoStack(self)
        self.backdrop = Backdrop(scene)
        self.layer = ShapeLayer(scene, self)
        self.editor = ShapeEditor(self.layer, self.undo_stack, self.report)
        self.layer.shapeAdded.connect(self.shapeAdded)
        self.layer.shapeChanged.connect(self.shapeChanged)
        self.layer.shapeRemoved.connect(self.shapeRemoved)
        self.layer.selectionChanged.connect(self.selectionChanged)
        #: The optic disc and fovea of the image, and the zone rings they give.
        self.landmark_layer = LandmarkLayer(scene, self)
        self.landmark_layer.landmarksChanged.connect(self.landmarksChanged)

        polygon = PolygonTool(self)
        polygon.on_change = self.polygonDraftChanged.emit
        self._tools: dict[str, Tool] = {
            t.name: t for t in (SelectTool(self), polygon, TraceTool(self), PanTool(self), LandmarkTool(self))
        }
        self._tool = self._tools["select"]
        self.undo_stack.indexChanged.connect(lambda _index: self._tool.history_changed())
        self._tool.activate()
        self._fit_mode = True
        self._space_down = False
        self._pan_last: QPointF | None = None
        self._apply_cursor()

    # ================================================================= image and shapes
    def set_image(
        self,
        rgb: np.ndarray,
        shapes: list[Shape] | tuple[Shape, ...] = (),
        fov: tuple[float, float, float] | None = None,
    ) -> None:
        """Show a new image with its shapes (no shape signals; the undo history is cleared).

        ``rgb`` is HxWx3 uint8 (HxW gray is accepted); ``fov`` is the field-of-view circle
        ``(cx, cy, r)`` shown when the display settings ask for it. Shapes without an id get a
        fresh uuid (read them back with :meth:`shapes`). Overlays and reference outlines of the
        previous image are dropped. The view fits the image. Shapes are shown as given (they come
        from the store, already validated); new and edited ones go through validation.
        """
        shapes = [s if s.id is not None else s.with_(id=new_shape_id()) for s in shapes]
        ids = [s.id for s in shapes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"shapes given to the canvas need unique ids: {sorted(map(str, ids))}")
        self._tool.cancel()
        self.backdrop.set_image(rgb, fov)
        self.undo_stack.clear()
        self.layer.load(shapes)
        self.landmark_layer.load(Landmarks())
        self.editor.image_size = self.backdrop.image_size
        rect = self.backdrop.image_rect
        margin = 4.0 * max(rect.width(), rect.height())  # room to zoom about any point
        self.setSceneRect(rect.adjusted(-margin, -margin, margin, margin))
        self.fit()

    def clear(self) -> None:
        """No image, no shapes, no history."""
        self._tool.cancel()
        self.undo_stack.clear()
        self.layer.clear()
        self.landmark_layer.load(Landmarks())
        self.backdrop.clear()
        self.editor.image_size = None

    def image_size(self) -> tuple[int, int] | None:
        """(width, height) of the image shown, or None."""
        return self.backdrop.image_size

    def shapes(self) -> list[Shape]:
        """The shapes, bottom to top."""
        return self.layer.shapes()

    def shape(self, shape_id: ShapeId) -> Shape:
        """One shape by id (KeyError if absent)."""
        return self.layer.get(shape_id)

    def add_shape(self, shape: Shape) -> Shape | None:
        """Add a ready-made shape (e.g. an accepted model contour) through validation and undo.

        Returns the stored shape (repaired, with an id) or None when refused (``message`` says why).
        """
        return self.editor.add_shape(shape)

    def remove_shape(self, shape_id: ShapeId) -> None:
        """Delete a shape (undoable)."""
        self.editor.remove(shape_id)

    def set_new_shape_defaults(self, lesion_type: LesionType, stage: Stage | None = None) -> None:
        """Lesion type and stage given to the shapes drawn from now on."""
        self.editor.lesion_type = LesionType.parse(lesion_type)
        self.editor.stage = None if stage is None else Stage.parse(stage)

    def set_shape_attributes(self, shape_id: ShapeId, lesion_type: LesionType, stage: Stage | None) -> None:
        """Change a shape's lesion type and stage (undoable; nothing happens if unchanged)."""
        before = self.layer.get(shape_id)
        after = before.with_(
            lesion_type=LesionType.parse(lesion_type), stage=None if stage is None else Stage.parse(stage)
        )
        self.editor.change(before, after, "Change lesion attributes")

    def selected_id(self) -> ShapeId:
        """The selected shape's id, or None."""
        return self.layer.selected_id

    def select(self, shape_id: ShapeId) -> None:
        """Select a shape (None clears the selection)."""
        self.layer.select(shape_id)

    def report(self, text: str) -> None:
        """Emit ``message`` (tools and the editor report through here)."""
        self.message.emit(text)

    # ================================================================= landmarks and zones
    def landmarks(self) -> Landmarks:
        """The optic disc and fovea placed on the image shown."""
        return self.landmark_layer.value()

    def set_landmarks(self, landmarks: Landmarks) -> None:
        """Show stored landmarks (no signal, no undo step): call after :meth:`set_image`."""
        self.landmark_layer.load(landmarks)
        if isinstance(self._tool, LandmarkTool):
            self._tool.rearm()

    def zone_rings(self) -> ZoneRings | None:
        """The zone rings drawn now (None until the disc and the fovea are both placed)."""
        return self.landmark_layer.rings()

    def zone_rings_visible(self) -> bool:
        return self.landmark_layer.rings_visible()

    def set_zone_rings_visible(self, visible: bool) -> None:
        """Show or hide the zone rings (they appear only once both landmarks are placed)."""
        self.landmark_layer.set_rings_visible(visible)

    def set_zone_rings_opacity(self, opacity: float) -> None:
        """Opacity of the zone rings, 0–1."""
        self.landmark_layer.set_rings_opacity(opacity)

    # ================================================================= display and read-only layers
    def display_settings(self) -> DisplaySettings:
        return self.backdrop.settings

    def set_display_settings(self, settings: DisplaySettings) -> None:
        """Re-render the image through :mod:`rop_desktop.imaging.display`; toggle the FOV outline."""
        self.backdrop.set_settings(settings)

    def displayed_image(self) -> np.ndarray | None:
        """The RGB array shown now (after the display pipeline)."""
        return self.backdrop.displayed()

    def set_overlay(self, name: str, rgba: np.ndarray | None, opacity: float = 0.5) -> None:
        """A read-only RGBA layer above the image (model mask, saliency); None removes it."""
        self.backdrop.set_overlay(name, rgba, opacity)

    def set_reference_shapes(
        self, name: str, shapes: list[Shape] | tuple[Shape, ...], color: QColor | str = "#ffffff"
    ) -> None:
        """Read-only dashed outlines (another grader's polygons); an empty list removes the layer."""
        self.backdrop.set_reference_shapes(name, shapes, color)
        self._sync_scale()

    # ================================================================= tools
    def tool(self) -> str:
        return self._tool.name

    def set_tool(self, name: str) -> None:
        """Switch to "select", "polygon", "trace", "pan" or "landmarks" (a gesture in progress is dropped)."""
        if name not in self._tools:
            raise ValueError(f"unknown canvas tool {name!r}: expected one of {', '.join(TOOLS)}")
        if name == self._tool.name:
            return
        self._tool.deactivate()
        self._tool = self._tools[name]
        self._tool.activate()
        self._apply_cursor()
        self.toolChanged.emit(name)

    def restore_polygon_draft(self, points: tuple[Point, ...] | list[Point]) -> None:
        """Switch to the polygon tool and continue the unclosed outline ``points`` (image pixels)."""
        self.set_tool("polygon")
        self._tools["polygon"].restore(points)  # type: ignore[attr-defined]

    def tool_object(self, name: str) -> Tool:
        """The tool instance (e.g. to read the polygon being drawn)."""
        return self._tools[name]

    def trace_width(self) -> float:
        return self._tools["trace"].width  # type: ignore[attr-defined]

    def set_trace_width(self, width: float) -> None:
        """Width in image pixels of the band the trace tool draws."""
        self._tools["trace"].set_width(width)  # type: ignore[attr-defined]

    def _apply_cursor(self) -> None:
        shape = Qt.CursorShape.OpenHandCursor if self._space_down else self._tool.cursor
        self.viewport().setCursor(shape)

    # ================================================================= zoom and pan
    def zoom(self) -> float:
        """Device pixels per image pixel."""
        return self.transform().m11()

    def scene_tol(self, pixels: float) -> float:
        """A distance of ``pixels`` on screen, in image pixels."""
        return pixels / max(self.zoom(), 1e-9)

    def to_scene(self, pos: QPointF | QPoint) -> Point:
        """A viewport position (float precision) in image coordinates."""
        q = self.viewportTransform().inverted()[0].map(QPointF(pos))
        return q.x(), q.y()

    def _fit_zoom(self) -> float:
        rect = self.backdrop.image_rect
        if rect.isEmpty():
            return 1.0
        vp = self.viewport().rect()
        return max(min(vp.width() / rect.width(), vp.height() / rect.height()), 1e-6)

    def zoom_limits(self) -> tuple[float, float]:
        """(min, max) zoom for the current image and window."""
        return max(MIN_ZOOM, min(0.5 * self._fit_zoom(), 1.0)), MAX_ZOOM

    def set_zoom(self, zoom: float, anchor: QPointF | QPoint | None = None) -> None:
        """Zoom to ``zoom`` keeping the image point under ``anchor`` (viewport pixels; centre if None)."""
        low, high = self.zoom_limits()
        zoom = min(max(zoom, low), high)
        anchor_f = QPointF(self.viewport().rect().center()) if anchor is None else QPointF(anchor)
        fixed = QPointF(*self.to_scene(anchor_f))
        self.setTransform(QTransform.fromScale(zoom, zoom))
        delta = self.viewportTransform().map(fixed) - anchor_f
        self._scroll_by(delta.x(), delta.y())
        self._fit_mode = False
        self._sync_scale()

    def zoom_by(self, factor: float, anchor: QPointF | QPoint | None = None) -> None:
        """Multiply the zoom by ``factor`` about ``anchor`` (viewport pixels)."""
        self.set_zoom(self.zoom() * factor, anchor)

    def fit(self) -> None:
        """Show the whole image, centred; the view keeps fitting on resize until zoomed."""
        rect = self.backdrop.image_rect
        if rect.isEmpty():
            return
        zoom = self._fit_zoom()
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self.centerOn(rect.center())
        self._fit_mode = True
        self._sync_scale()

    def view_centre(self) -> Point:
        """The image point at the centre of the view."""
        return self.to_scene(QPointF(self.viewport().rect().center()))

    def set_view(self, zoom: float, centre: Point) -> None:
        """Show the image at ``zoom`` centred on the image point ``centre`` (linked views)."""
        low, high = self.zoom_limits()
        zoom = min(max(zoom, low), high)
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self.centerOn(QPointF(*centre))
        self._fit_mode = False
        self._sync_scale()

    def actual_size(self) -> None:
        """1 image pixel = 1 screen pixel, about the view centre."""
        self.set_zoom(1.0)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the image by (dx, dy) viewport pixels."""
        self._scroll_by(-dx, -dy)
        self._fit_mode = False

    def _scroll_by(self, dx: float, dy: float) -> None:
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + round(dx))
        v.setValue(v.value() + round(dy))

    def _sync_scale(self) -> None:
        scale = self.zoom()
        self.layer.set_view_scale(scale)
        self.landmark_layer.set_view_scale(scale)
        self.backdrop.set_view_scale(scale)
        for item in self.scene().items():
            if isinstance(item, ScaleAwareItem):
                item.set_view_scale(scale)
        self.zoomChanged.emit(scale)

    # ================================================================= Qt events
    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt API
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not delta or self.backdrop.image_size is None:
            event.ignore()
            return
        self.zoom_by(2.0 ** (NOTCH_ZOOM_EXPONENT * delta / 120.0), event.position())
        event.accept()

    def _starts_pan(self, event: QMouseEvent) -> bool:
        button = event.button()
        return button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and (self._space_down or self._tool.name == "pan")
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if self._starts_pan(event) and not self._tool.busy:
            self._pan_last = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self.backdrop.image_size is not None:
            self._tool.press(event, self.to_scene(event.position()))
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        p = self.to_scene(event.position())
        if self._pan_last is not None:
            d = event.position() - self._pan_last
            self._pan_last = event.position()
            self.pan_by(d.x(), d.y())
        elif self.backdrop.image_size is not None:
            self._tool.move(event, p)
        if self.backdrop.image_size is not None:
            self.cursorMoved.emit(p[0], p[1])
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if self._pan_last is not None:
            if not (event.buttons() & (Qt.MouseButton.MiddleButton | Qt.MouseButton.LeftButton)):
                self._pan_last = None
                self._apply_cursor()
        elif self.backdrop.image_size is not None:
            self._tool.release(event, self.to_scene(event.position()))
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if self.backdrop.image_size is not None and self._pan_last is None:
            self._tool.double_click(event, self.to_scene(event.position()))
        event.accept()

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        self._tool.leave()
        super().leaveEvent(event)

    _DRAWING_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape, Qt.Key.Key_Backspace)

    def event(self, event: QEvent) -> bool:
        # While a gesture is in progress (a polygon being drawn), Enter / Escape / Backspace belong
        # to the canvas, not to the window's shortcuts (Enter would otherwise submit the grade).
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and self._tool.busy
            and isinstance(event, QKeyEvent)
            and event.key() in self._DRAWING_KEYS
        ):
            event.accept()
            return True
        # The Landmarks tool's own keys (D, F, Delete…) belong to it while the canvas has the focus
        # (F would otherwise fit the image, D pick the tool again).
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and self._tool.name == "landmarks"
            and isinstance(event, QKeyEvent)
            and event.key() in LANDMARK_KEYS
            and not event.modifiers()
            & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier)
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_down = True
                self._apply_cursor()
            event.accept()
            return
        if self._tool.key(event):
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self._apply_cursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt API
        self._space_down = False  # a Space release lost to another window must not leave pan mode on
        self._apply_cursor()
        super().focusOutEvent(event)

    def image_rect(self) -> QRectF:
        """The image's rectangle in scene coordinates (empty without an image)."""
        return self.backdrop.image_rect
