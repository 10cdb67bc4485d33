"""Undo commands of the canvas: every edit is one of these three, holding plain before/after values.

``QUndoStack.push`` calls :meth:`redo` at once, so pushing a command *is* doing the edit. Each
command only calls :class:`~.layer.ShapeLayer`, which emits the signals the host persists.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from rop_desktop.domain.shapes import Shape

from .layer import ShapeLayer


class AddShapeCommand(QUndoCommand):
    """Add a shape (on top, or at ``index`` in the stacking order)."""

    def __init__(self, layer: ShapeLayer, shape: Shape, text: str = "Add polygon", index: int | None = None) -> None:
        super().__init__(text)
        self.layer = layer
        self.shape = shape
        self.index = index

    def redo(self) -> None:
        self.layer.add(self.shape, self.index)

    def undo(self) -> None:
        self.layer.remove(self.shape.id)


class RemoveShapeCommand(QUndoCommand):
    """Remove a shape; undo puts it back at the same place in the stacking order."""

    def __init__(self, layer: ShapeLayer, shape: Shape, text: str = "Delete polygon") -> None:
        super().__init__(text)
        self.layer = layer
        self.shape = shape
        self.index = layer.index_of(shape.id)

    def redo(self) -> None:
        self.index = self.layer.remove(self.shape.id)

    def undo(self) -> None:
        self.layer.add(self.shape, self.index)


class ReplaceShapeCommand(QUndoCommand):
    """Swap one version of a shape for another (move, vertex edits, attribute changes)."""

    def __init__(self, layer: ShapeLayer, before: Shape, after: Shape, text: str = "Edit polygon") -> None:
        if before.id != after.id:
            raise ValueError(f"a replacement keeps the shape id: {before.id!r} != {after.id!r}")
        super().__init__(text)
        self.layer = layer
        self.before = before
        self.after = after

    def redo(self) -> None:
        self.layer.replace(self.after)

    def undo(self) -> None:
        self.layer.replace(self.before)
