"""The select tool: pick, move and reshape polygons.

* click a polygon (inside or on its outline) → select it; click empty space → deselect;
* drag the polygon → move it; drag a vertex handle of the selected polygon → move that vertex;
  each drag pushes ONE undo command at release (the item is only previewed while dragging);
* double-click an edge of the selected polygon → insert a vertex there;
* right-click a vertex handle → delete the vertex; Delete/Backspace → delete the last clicked
  (red) vertex if there is one, else the whole polygon; Escape → deselect.

Every new outline goes through the editor's validation: an invalid result snaps back with a
message (e.g. deleting a vertex of a triangle: "A polygon needs at least 3 points").
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent

from rop_desktop.domain.shapes import Point, Shape, ShapeId

from . import style
from .host import CanvasHost
from .tools import Tool, distance

_DELETE_KEYS = (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)


@dataclass
class _Drag:
    shape: Shape
    start: Point
    vertex: int | None  # None: move the whole polygon
    started: bool = False


class SelectTool(Tool):
    """Select, move, and edit vertices (see the module docstring)."""

    name = "select"
    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, host: CanvasHost) -> None:
        super().__init__(host)
        self._drag: _Drag | None = None

    @property
    def busy(self) -> bool:
        return self._drag is not None

    def cancel(self) -> None:
        if self._drag is not None:
            if self._drag.shape.id in self.host.layer:  # show the stored shape again
                item = self.host.layer.item(self._drag.shape.id)
                item.setPos(0.0, 0.0)
                item.set_preview(None)
            self._drag = None

    def history_changed(self) -> None:
        """An undo/redo during a drag would make the dragged 'before' stale: drop the drag."""
        self.cancel()

    # ----------------------------------------------------------------- hit tests
    def _vertex_hit(self, p: Point) -> tuple[ShapeId, int | None]:
        layer = self.host.layer
        selected = layer.selected_id
        if selected is None:
            return None, None
        return selected, layer.vertex_at(selected, p, self.host.scene_tol(style.VERTEX_HIT_PX))

    # ----------------------------------------------------------------- mouse
    def press(self, event: QMouseEvent, p: Point) -> bool:
        layer = self.host.layer
        selected, vertex = self._vertex_hit(p)
        if event.button() == Qt.MouseButton.RightButton:
            if vertex is None:
                return False
            self.delete_vertex(selected, vertex)
            return True
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        self.cancel()
        if vertex is not None:
            layer.select(selected, vertex)
            self._drag = _Drag(layer.get(selected), p, vertex)
            return True
        hit = layer.shape_at(p, self.host.scene_tol(style.EDGE_HIT_PX))
        layer.select(hit)
        if hit is not None:
            self._drag = _Drag(layer.get(hit), p, None)
        return True

    def move(self, event: QMouseEvent, p: Point) -> bool:
        drag = self._drag
        if drag is None:
            return False
        if not drag.started:
            if distance(p, drag.start) < self.host.scene_tol(style.DRAG_START_PX):
                return True
            drag.started = True
        item = self.host.layer.item(drag.shape.id)
        if drag.vertex is None:
            item.setPos(p[0] - drag.start[0], p[1] - drag.start[1])
        else:
            item.set_preview(drag.shape.with_vertex_moved(drag.vertex, p).points)
        return True

    def release(self, event: QMouseEvent, p: Point) -> bool:
        drag = self._drag
        if drag is None or event.button() != Qt.MouseButton.LeftButton:
            return drag is not None
        self._drag = None
        if not drag.started:
            return True
        item = self.host.layer.item(drag.shape.id)
        item.setPos(0.0, 0.0)
        editor = self.host.editor
        if drag.vertex is None:
            moved = drag.shape.translated(p[0] - drag.start[0], p[1] - drag.start[1])
            editor.replace(drag.shape, moved.points, moved.holes, text="Move polygon")
        else:
            moved = drag.shape.with_vertex_moved(drag.vertex, p)
            editor.replace(drag.shape, moved.points, text="Move vertex")
        return True

    def double_click(self, event: QMouseEvent, p: Point) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        self.cancel()
        layer = self.host.layer
        selected = layer.selected_id or layer.shape_at(p, self.host.scene_tol(style.EDGE_HIT_PX))
        if selected is None:
            return False
        if layer.vertex_at(selected, p, self.host.scene_tol(style.VERTEX_HIT_PX)) is not None:
            return True  # on a handle: nothing to insert
        edge = layer.edge_at(selected, p, self.host.scene_tol(style.EDGE_HIT_PX))
        if edge is None:
            return True
        index, point = edge
        before = layer.get(selected)
        after = self.host.editor.replace(
            before, before.with_vertex_inserted(index + 1, point).points, text="Insert vertex"
        )
        if after is not None:
            layer.select(selected, index + 1 if len(after.points) == len(before.points) + 1 else None)
        return True

    # ----------------------------------------------------------------- keys
    def key(self, event: QKeyEvent) -> bool:
        layer = self.host.layer
        if event.key() == Qt.Key.Key_Escape and layer.selected_id is not None:
            self.cancel()
            layer.select(None)
            return True
        if event.key() in _DELETE_KEYS and layer.selected_id is not None:
            self.cancel()
            if layer.active_vertex is not None:
                self.delete_vertex(layer.selected_id, layer.active_vertex)
            else:
                self.host.editor.remove(layer.selected_id)
            return True
        return False

    def delete_vertex(self, shape_id: ShapeId, index: int) -> None:
        """Remove one vertex (refused, with a message, when fewer than 3 would remain)."""
        layer = self.host.layer
        before = layer.get(shape_id)
        self.host.editor.replace(before, before.with_vertex_removed(index).points, text="Delete vertex")
        if shape_id in layer:
            layer.select(shape_id, None)
