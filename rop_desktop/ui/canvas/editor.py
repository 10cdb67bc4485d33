"""The gate between the tools and the undo stack: validate, report, push one command.

Every outline passes :func:`~rop_desktop.domain.geometry.validate_polygon` here. A refused one
changes nothing and reports its reason; a repaired one is accepted and the repairs reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from PySide6.QtGui import QUndoStack

from rop_desktop.domain.geometry import GeometryResult, InvalidGeometry, validate_polygon
from rop_desktop.domain.labels import LesionType, Stage
from rop_desktop.domain.shapes import Point, Shape, ShapeId, new_shape_id

from .commands import AddShapeCommand, RemoveShapeCommand, ReplaceShapeCommand
from .layer import ShapeLayer


def repair_message(result: GeometryResult) -> str:
    """The sentence shown when an outline was accepted after repairs."""
    return "Polygon accepted: " + "; ".join(result.messages)


class ShapeEditor:
    """Turns tool gestures into validated undoable edits of a :class:`ShapeLayer`."""

    def __init__(self, layer: ShapeLayer, stack: QUndoStack, report: Callable[[str], None]) -> None:
        self.layer = layer
        self.stack = stack
        self.report = report
        #: (width, height) of the image; outlines are clipped to it. None: no image.
        self.image_size: tuple[int, int] | None = None
        self.lesion_type: LesionType = LesionType.DEMARCATION_LINE
        self.stage: Stage | None = None

    def check(self, points: Iterable[Point], holes: Iterable[Sequence[Point]] = ()) -> GeometryResult | None:
        """Validate an outline; reports and returns None when refused, reports repairs."""
        try:
            result = validate_polygon(points, self.image_size, holes)
        except InvalidGeometry as exc:
            self.report(exc.reason)
            return None
        if result.repaired:
            self.report(repair_message(result))
        return result

    def add(
        self,
        points: Iterable[Point],
        holes: Iterable[Sequence[Point]] = (),
        source: str = "drawn",
        text: str = "Add polygon",
    ) -> Shape | None:
        """A new shape with a fresh uuid and the current lesion type / stage; None if refused."""
        result = self.check(points, holes)
        if result is None:
            return None
        shape = Shape(
            id=new_shape_id(),
            points=result.points,
            holes=result.holes,
            lesion_type=self.lesion_type,
            stage=self.stage,
            source=source,
        )
        self.stack.push(AddShapeCommand(self.layer, shape, text))
        return shape

    def add_shape(self, shape: Shape, text: str = "Add polygon") -> Shape | None:
        """Add a ready-made shape (keeps its attributes; a fresh id when it has none or a taken one)."""
        result = self.check(shape.points, shape.holes)
        if result is None:
            return None
        shape_id = shape.id if shape.id is not None and shape.id not in self.layer else new_shape_id()
        shape = shape.with_(id=shape_id, points=result.points, holes=result.holes)
        self.stack.push(AddShapeCommand(self.layer, shape, text))
        return shape

    def replace(
        self,
        before: Shape,
        points: Iterable[Point],
        holes: Iterable[Sequence[Point]] | None = None,
        text: str = "Edit polygon",
    ) -> Shape | None:
        """A new outline for ``before``; returns the stored shape, or None if refused or unchanged.

        On refusal the shape's item is redrawn as it was (a drag snaps back).
        """
        result = self.check(points, before.holes if holes is None else holes)
        if result is None:
            self.layer.item(before.id).set_model(before)
            return None
        after = before.with_geometry(result.points, result.holes)
        return after if self.change(before, after, text) else None

    def change(self, before: Shape, after: Shape, text: str) -> bool:
        """Push ``before → after`` unless they are equal; the item is refreshed either way."""
        if after == before:
            self.layer.item(before.id).set_model(before)
            return False
        self.stack.push(ReplaceShapeCommand(self.layer, before, after, text))
        return True

    def remove(self, shape_id: ShapeId, text: str = "Delete polygon") -> None:
        """Delete a shape (undoable)."""
        self.stack.push(RemoveShapeCommand(self.layer, self.layer.get(shape_id), text))
