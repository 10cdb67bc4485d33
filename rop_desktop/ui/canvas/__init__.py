"""The annotation canvas: a zoomable image with undoable lesion polygons.

Modules: :mod:`.view` (``ImageCanvas``: zoom, pan, events, public API), :mod:`.tools` and
:mod:`.select_tool` (gestures), :mod:`.editor` (validation gate to the undo stack),
:mod:`.commands` (undo commands), :mod:`.layer` (shapes, selection, hit tests), :mod:`.landmarks`
and :mod:`.landmark_tool` (optic disc, fovea, zone rings; the Landmarks tool), :mod:`.items`
(graphics items), :mod:`.backdrop` (image through the display pipeline, overlays, reference
outlines, field of view), :mod:`.style` (colours and sizes), :mod:`.perf` (repaint timing).
"""

from __future__ import annotations

from rop_desktop.imaging.display import DisplaySettings

from .commands import AddShapeCommand, RemoveShapeCommand, ReplaceShapeCommand
from .landmarks import LandmarkLayer, SetLandmarksCommand
from .perf import measure_repaint
from .view import TOOLS, ImageCanvas

__all__ = [
    "TOOLS",
    "AddShapeCommand",
    "DisplaySettings",
    "ImageCanvas",
    "LandmarkLayer",
    "RemoveShapeCommand",
    "ReplaceShapeCommand",
    "SetLandmarksCommand",
    "measure_repaint",
]
