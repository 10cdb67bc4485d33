"""The canvas's editable shapes: plain :class:`Shape` values, their items, selection, hit tests.

:class:`ShapeLayer` is the only place that changes which shapes exist; the undo commands call
:meth:`add` / :meth:`remove` / :meth:`replace`, which emit ``shapeAdded`` / ``shapeRemoved`` /
``shapeChanged`` — for an edit and for its undo and redo alike, so the host can persist each.
:meth:`load` and :meth:`clear` (a new image) emit no shape signals.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QObject, QPointF, Signal
from PySide6.QtWidgets import QGraphicsScene

from rop_desktop.domain.geometry import nearest_vertex, point_on_edge
from rop_desktop.domain.shapes import Point, Shape, ShapeId

from . import style
from .items import PolygonItem


class ShapeLayer(QObject):
    """Ordered shapes (later ones on top) shown as :class:`PolygonItem` in a scene."""

    shapeAdded = Signal(object)  # Shape
    shapeChanged = Signal(object)  # Shape
    shapeRemoved = Signal(object)  # shape id (str or int)
    selectionChanged = Signal(object)  # shape id or None

    def __init__(self, scene: QGraphicsScene, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._scene = scene
        self._order: list[ShapeId] = []
        self._items: dict[ShapeId, PolygonItem] = {}
        self._selected: ShapeId = None
        self._active_vertex: int | None = None
        self._scale = 1.0

    # ----------------------------------------------------------------- queries
    def shapes(self) -> list[Shape]:
        """All shapes, bottom to top."""
        return [self._items[i].model for i in self._order]

    def get(self, shape_id: ShapeId) -> Shape:
        """The shape with this id; raises KeyError with the id."""
        try:
            return self._items[shape_id].model
        except KeyError:
            raise KeyError(f"no shape with id {shape_id!r} on the canvas") from None

    def item(self, shape_id: ShapeId) -> PolygonItem:
        return self._items[shape_id]

    def index_of(self, shape_id: ShapeId) -> int:
        return self._order.index(shape_id)

    def __contains__(self, shape_id: object) -> bool:
        return shape_id in self._items

    def __len__(self) -> int:
        return len(self._order)

    # ----------------------------------------------------------------- changes
    def load(self, shapes: Iterable[Shape]) -> None:
        """Replace everything by ``shapes`` (a new image): no shape signals."""
        self.clear()
        for shape in shapes:
            if shape.id is None or shape.id in self._items:
                raise ValueError(f"shapes given to the canvas need unique ids; got {shape.id!r} twice or None")
            self._insert(shape, None)
        self._restack()

    def clear(self) -> None:
        """Remove all shapes and the selection (no shape signals)."""
        self.select(None)
        for item in self._items.values():
            self._scene.removeItem(item)
        self._items.clear()
        self._order.clear()

    def add(self, shape: Shape, index: int | None = None) -> None:
        """Insert ``shape`` at ``index`` in the stacking order (top when None)."""
        if shape.id is None or shape.id in self._items:
            raise ValueError(f"cannot add shape with id {shape.id!r}: missing or already on the canvas")
        self._insert(shape, index)
        self._restack()
        self.shapeAdded.emit(shape)

    def remove(self, shape_id: ShapeId) -> int:
        """Remove a shape; returns its former stacking index."""
        self.get(shape_id)
        if self._selected == shape_id:
            self.select(None)
        index = self._order.index(shape_id)
        del self._order[index]
        self._scene.removeItem(self._items.pop(shape_id))
        self._restack()
        self.shapeRemoved.emit(shape_id)
        return index

    def replace(self, shape: Shape) -> None:
        """Swap in another version of a shape with the same id."""
        item = self._items.get(shape.id)
        if item is None:
            raise KeyError(f"no shape with id {shape.id!r} on the canvas")
        item.set_model(shape)
        if self._selected == shape.id and self._active_vertex is not None and self._active_vertex >= len(shape.points):
            self._active_vertex = None
        self._highlight(shape.id)
        self.shapeChanged.emit(shape)

    def _insert(self, shape: Shape, index: int | None) -> None:
        item = PolygonItem(shape, self._scale)
        self._items[shape.id] = item
        self._order.insert(len(self._order) if index is None else index, shape.id)
        self._scene.addItem(item)

    def _restack(self) -> None:
        for i, shape_id in enumerate(self._order):
            z = style.Z_SELECTED if shape_id == self._selected else style.Z_SHAPES + i * 1e-3
            self._items[shape_id].setZValue(z)

    # ----------------------------------------------------------------- selection
    @property
    def selected_id(self) -> ShapeId:
        return self._selected

    @property
    def active_vertex(self) -> int | None:
        """The vertex of the selected shape last clicked (Delete removes it), or None."""
        return self._active_vertex

    def select(self, shape_id: ShapeId, vertex: int | None = None) -> None:
        """Select a shape (None clears) and optionally one of its vertices."""
        if shape_id is not None and shape_id not in self._items:
            raise KeyError(f"no shape with id {shape_id!r} on the canvas")
        previous = self._selected
        self._selected = shape_id
        self._active_vertex = vertex if shape_id is not None else None
        if previous is not None and previous in self._items and previous != shape_id:
            self._items[previous].set_highlight(False)
        if shape_id is not None:
            self._highlight(shape_id)
        self._restack()
        if previous != shape_id:
            self.selectionChanged.emit(shape_id)

    def _highlight(self, shape_id: ShapeId) -> None:
        self._items[shape_id].set_highlight(shape_id == self._selected, self._active_vertex)

    # ----------------------------------------------------------------- hit tests (scene units)
    def shape_at(self, p: Point, tol: float) -> ShapeId:
        """The topmost shape containing ``p`` or with an edge within ``tol``; the selected one first."""
        order = list(reversed(self._order))
        if self._selected is not None:
            order.remove(self._selected)
            order.insert(0, self._selected)
        qp = QPointF(*p)
        for shape_id in order:
            item = self._items[shape_id]
            if item.shape().contains(qp):
                return shape_id
            model = item.model
            if any(point_on_edge(r, p, tol) is not None for r in (model.points, *model.holes)):
                return shape_id
        return None

    def vertex_at(self, shape_id: ShapeId, p: Point, tol: float) -> int | None:
        """Index of the shape's exterior vertex within ``tol`` of ``p``."""
        return nearest_vertex(self.get(shape_id).points, p, tol)

    def edge_at(self, shape_id: ShapeId, p: Point, tol: float) -> tuple[int, Point] | None:
        """The shape's exterior edge near ``p``: ``(edge index, projected point)``."""
        return point_on_edge(self.get(shape_id).points, p, tol)

    def set_view_scale(self, scale: float) -> None:
        """The view's zoom, for new items' screen-pixel margins."""
        self._scale = scale
