"""The canvas's landmarks (optic disc, fovea) and the ICROP3 zone rings they define.

:class:`LandmarkLayer` holds one :class:`~rop_desktop.domain.zones.Landmarks` value and draws it:
a disc marker (with its rim when measured), a fovea marker and — when both are placed — zone I,
posterior zone II and the *estimated* zone II boundary as rings around the disc (toggle and
opacity). Like :class:`~.layer.ShapeLayer` it is the only place the value changes:
:class:`SetLandmarksCommand` (the undo stack) calls :meth:`LandmarkLayer.set`, which emits
``landmarksChanged`` for an edit and for its undo and redo, so the host can store each;
:meth:`LandmarkLayer.load` (a new image) emits nothing. The geometry is the domain's
(:func:`~rop_desktop.domain.zones.zone_rings`); this module only draws it.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QUndoCommand
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene, QGraphicsSimpleTextItem, QStyleOptionGraphicsItem, QWidget

from rop_desktop.domain.labels import Zone
from rop_desktop.domain.zones import Landmarks, ZoneRefused, ZoneRings, zone_rings

from . import style
from .items import CircleItem

DISC_COLOR = "#ffffff"
FOVEA_COLOR = "#ffd54f"
#: Ring colours and pen styles: zone I solid, posterior zone II dashed, the zone II estimate dotted.
RING_STYLES: dict[Zone, tuple[str, Qt.PenStyle, str]] = {
    Zone.I: ("#ff5252", Qt.PenStyle.SolidLine, "Zone I"),
    Zone.POSTERIOR_II: ("#ffab40", Qt.PenStyle.DashLine, "Posterior II"),
    Zone.II: ("#69f0ae", Qt.PenStyle.DotLine, "Zone II (estimated)"),
}
MARKER_PX = 9.0
Z_RINGS = style.Z_FOV + 0.5
Z_MARKERS = style.Z_SHAPES - 0.5
DEFAULT_OPACITY = 0.8


class MarkerItem(QGraphicsItem):
    """A landmark drawn at a constant screen size (it ignores the view's zoom): a ringed cross
    for the disc, a diamond for the fovea, with a one-letter label."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(Z_MARKERS + 1)
        color = QColor(DISC_COLOR if kind == "disc" else FOVEA_COLOR)
        self._pen = QPen(color, 2.0)
        self._halo = QPen(QColor(0, 0, 0, 170), 4.0)
        self._font = QFont()
        self._font.setBold(True)
        self._font.setPixelSize(11)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        r = MARKER_PX + 4
        return QRectF(-r, -r, 2 * r + 14, 2 * r)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = MARKER_PX
        for pen in (self._halo, self._pen):
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            if self.kind == "disc":
                painter.drawEllipse(QPointF(0, 0), r * 0.7, r * 0.7)
                painter.drawLine(QPointF(-r, 0), QPointF(r, 0))
                painter.drawLine(QPointF(0, -r), QPointF(0, r))
            else:
                painter.drawPolygon([QPointF(0, -r), QPointF(r, 0), QPointF(0, r), QPointF(-r, 0)])
                painter.drawPoint(QPointF(0, 0))
        painter.setFont(self._font)
        painter.setPen(self._pen)
        painter.drawText(QPointF(r + 3, -3), "D" if self.kind == "disc" else "F")


class ZoneRingsItem(QGraphicsItem):
    """Zone I, posterior zone II and the estimated zone II boundary as circles (scene units),
    each labelled at its top with a constant-size caption."""

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(Z_RINGS)
        self._rings: ZoneRings | None = None
        self._labels: dict[Zone, QGraphicsSimpleTextItem] = {}
        font = QFont()
        font.setPixelSize(12)
        font.setBold(True)
        for zone, (color, _, text) in RING_STYLES.items():
            label = QGraphicsSimpleTextItem(text, self)
            label.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
            label.setBrush(QColor(color))
            label.setFont(font)
            self._labels[zone] = label
        self.setVisible(False)

    @property
    def rings(self) -> ZoneRings | None:
        return self._rings

    def set_rings(self, rings: ZoneRings | None) -> None:
        self.prepareGeometryChange()
        self._rings = rings
        if rings is not None:
            cx, cy = rings.centre
            for zone, radius in rings.radii().items():
                self._labels[zone].setPos(cx + 4, cy - radius - 2)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        if self._rings is None:
            return QRectF()
        cx, cy = self._rings.centre
        r = self._rings.zone_ii + 2
        return QRectF(cx - r, cy - r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self._rings is None:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        centre = QPointF(*self._rings.centre)
        for zone, radius in self._rings.radii().items():
            color, pen_style, _ = RING_STYLES[zone]
            painter.setPen(style.cosmetic_pen(QColor(0, 0, 0, 150), 3.5, pen_style))
            painter.drawEllipse(centre, radius, radius)
            painter.setPen(style.cosmetic_pen(color, 2.0, pen_style))
            painter.drawEllipse(centre, radius, radius)


class LandmarkLayer(QObject):
    """One image's landmarks on a scene, and the zone rings they give (see the module docstring)."""

    landmarksChanged = Signal(object)  # Landmarks

    def __init__(self, scene: QGraphicsScene, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._value = Landmarks()
        self._disc = MarkerItem("disc")
        self._fovea = MarkerItem("fovea")
        self._rim = CircleItem(style.cosmetic_pen(DISC_COLOR, 1.5, Qt.PenStyle.DashLine))
        self._rim.setZValue(Z_MARKERS)
        self.rings_item = ZoneRingsItem()
        for item in (self._disc, self._fovea, self._rim, self.rings_item):
            scene.addItem(item)
        self._rings_wanted = True
        self._opacity = DEFAULT_OPACITY
        self.rings_item.setOpacity(self._opacity)
        self._preview: Landmarks | None = None
        self._show(self._value)

    # ----------------------------------------------------------------- the value
    def value(self) -> Landmarks:
        return self._value

    def load(self, landmarks: Landmarks) -> None:
        """Show the landmarks of a new image (no signal)."""
        self._value = landmarks
        self._preview = None
        self._show(landmarks)

    def set(self, landmarks: Landmarks) -> None:
        """Change the landmarks (the undo commands call this) and emit ``landmarksChanged``."""
        self._value = landmarks
        self._preview = None
        self._show(landmarks)
        self.landmarksChanged.emit(landmarks)

    def preview(self, landmarks: Landmarks | None) -> None:
        """Draw ``landmarks`` while a gesture is in progress (None: back to the value)."""
        self._preview = landmarks
        self._show(self._value if landmarks is None else landmarks)

    # ----------------------------------------------------------------- the rings
    def rings(self) -> ZoneRings | None:
        """The zone rings of the landmarks shown (None while the disc or fovea is missing)."""
        return self.rings_item.rings

    def rings_visible(self) -> bool:
        """Whether the rings are switched on (they show only once both landmarks are placed)."""
        return self._rings_wanted

    def set_rings_visible(self, visible: bool) -> None:
        self._rings_wanted = bool(visible)
        self.rings_item.setVisible(self._rings_wanted and self.rings_item.rings is not None)

    def rings_opacity(self) -> float:
        return self._opacity

    def set_rings_opacity(self, opacity: float) -> None:
        if not 0.0 <= opacity <= 1.0:
            raise ValueError(f"the zone rings' opacity must be within [0, 1], not {opacity}")
        self._opacity = float(opacity)
        self.rings_item.setOpacity(self._opacity)

    # ----------------------------------------------------------------- drawing
    def _show(self, lm: Landmarks) -> None:
        self._disc.setVisible(lm.disc is not None)
        if lm.disc is not None:
            self._disc.setPos(*lm.disc)
        self._fovea.setVisible(lm.fovea is not None)
        if lm.fovea is not None:
            self._fovea.setPos(*lm.fovea)
        self._rim.setVisible(lm.disc is not None and lm.disc_radius is not None)
        if lm.disc is not None and lm.disc_radius is not None:
            self._rim.set_circle(lm.disc[0], lm.disc[1], lm.disc_radius)
        try:
            rings: ZoneRings | None = zone_rings(lm)
        except ZoneRefused:
            rings = None
        self.rings_item.set_rings(rings)
        self.rings_item.setVisible(self._rings_wanted and rings is not None)

    def set_view_scale(self, scale: float) -> None:
        self._rim.set_view_scale(scale)


class SetLandmarksCommand(QUndoCommand):
    """Replace one image's landmarks (placing, moving, measuring or removing one of them)."""

    def __init__(self, layer: LandmarkLayer, before: Landmarks, after: Landmarks, text: str) -> None:
        super().__init__(text)
        self.layer = layer
        self.before = before
        self.after = after

    def redo(self) -> None:
        self.layer.set(self.after)

    def undo(self) -> None:
        self.layer.set(self.before)
