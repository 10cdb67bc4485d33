"""Colours, pens and on-screen sizes of the annotation canvas (one place to tune the look)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QPen

from rop_desktop.domain.labels import LesionType

#: Outline colour per lesion type (saturated colours that stand out on a red-orange fundus).
LESION_COLORS: dict[LesionType, str] = {
    LesionType.DEMARCATION_LINE: "#ffe14d",  # yellow
    LesionType.RIDGE: "#3ee0ff",  # cyan
    LesionType.EXTRARETINAL_PROLIFERATION: "#d05bff",  # violet
}
SELECTED_COLOR = "#ffffff"
ACTIVE_VERTEX_COLOR = "#ff3b30"
PREVIEW_COLOR = "#7CFC00"

#: On-screen sizes in device pixels (constant whatever the zoom).
HANDLE_PX = 8
VERTEX_HIT_PX = 8.0
EDGE_HIT_PX = 6.0
DRAG_START_PX = 3.0
OUTLINE_PX = 2.0
SELECTED_OUTLINE_PX = 3.0
FILL_ALPHA = 45
SELECTED_FILL_ALPHA = 80

# Z values: image < overlays < reference shapes < fov < shapes < previews.
Z_IMAGE = 0.0
Z_OVERLAY = 1.0
Z_REFERENCE = 5.0
Z_FOV = 6.0
Z_SHAPES = 10.0
Z_SELECTED = 500.0
Z_PREVIEW = 1000.0


def lesion_color(lesion_type: LesionType) -> QColor:
    """The outline colour of a lesion type."""
    return QColor(LESION_COLORS.get(lesion_type, PREVIEW_COLOR))


def cosmetic_pen(
    color: QColor | str,
    width_px: float,
    style: Qt.PenStyle = Qt.PenStyle.SolidLine,
    cap: Qt.PenCapStyle = Qt.PenCapStyle.RoundCap,
) -> QPen:
    """A pen whose width is in screen pixels whatever the zoom."""
    pen = QPen(QColor(color), width_px, style, cap, Qt.PenJoinStyle.RoundJoin)
    pen.setCosmetic(True)
    return pen


def fill_brush(color: QColor | str, alpha: int) -> QBrush:
    """A translucent fill of ``color``."""
    c = QColor(color)
    c.setAlpha(alpha)
    return QBrush(c)
