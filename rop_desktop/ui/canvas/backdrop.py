"""The read-only layers under the shapes: the image (through the display pipeline), the
field-of-view outline, overlay images (a model mask, a saliency map) and reference outlines
(other graders' polygons during adjudication).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPixmapItem, QGraphicsScene

from rop_desktop.domain.shapes import Shape
from rop_desktop.imaging.display import DisplayRenderer, DisplaySettings

from . import style
from .items import CircleItem, ReferenceShapesItem

#: Above this zoom the image is drawn with nearest-neighbour sampling (pixels stay sharp).
SMOOTH_BELOW_ZOOM = 2.0


def qimage_from_rgb(rgb: np.ndarray) -> QImage:
    """An RGB32 ``QImage`` that owns a copy of ``rgb`` (HxWx3 uint8): safe after ``rgb`` is gone."""
    arr = np.ascontiguousarray(rgb)
    h, w = arr.shape[:2]
    view = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888)
    return view.convertToFormat(QImage.Format.Format_RGB32)  # a new buffer, owned by Qt


def qimage_from_rgba(rgba: np.ndarray) -> QImage:
    """A premultiplied ARGB32 ``QImage`` owning a copy of ``rgba`` (HxWx4 uint8)."""
    arr = np.ascontiguousarray(rgba)
    h, w = arr.shape[:2]
    view = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGBA8888)
    return view.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


def _pixmap_item(z: float) -> QGraphicsPixmapItem:
    item = QGraphicsPixmapItem()
    item.setZValue(z)
    item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
    item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
    return item


class Backdrop:
    """Owns the image item and the read-only layers of one scene."""

    def __init__(self, scene: QGraphicsScene) -> None:
        self._scene = scene
        self.image_item = _pixmap_item(style.Z_IMAGE)
        scene.addItem(self.image_item)
        self._renderer: DisplayRenderer | None = None
        self._settings = DisplaySettings()
        self._displayed: np.ndarray | None = None
        self._fov: tuple[float, float, float] | None = None
        self.fov_item = CircleItem(style.cosmetic_pen("#ffffff", 1.0, Qt.PenStyle.DashLine))
        self.fov_item.setZValue(style.Z_FOV)
        self.fov_item.setVisible(False)
        scene.addItem(self.fov_item)
        self._overlays: dict[str, QGraphicsPixmapItem] = {}
        self._references: dict[str, ReferenceShapesItem] = {}
        self._scale = 1.0

    # ----------------------------------------------------------------- image
    @property
    def image_size(self) -> tuple[int, int] | None:
        """(width, height) of the image, or None."""
        if self._renderer is None:
            return None
        h, w = self._renderer.source.shape[:2]
        return w, h

    @property
    def image_rect(self) -> QRectF:
        size = self.image_size
        return QRectF() if size is None else QRectF(0, 0, size[0], size[1])

    @property
    def settings(self) -> DisplaySettings:
        return self._settings

    def displayed(self) -> np.ndarray | None:
        """The RGB array shown now (after the display pipeline), or None."""
        return self._displayed

    def set_image(self, rgb: np.ndarray, fov: tuple[float, float, float] | None) -> None:
        """Show a new image; drops the overlays and reference outlines of the previous one."""
        renderer = DisplayRenderer(rgb)  # validates before anything changes
        self.clear()
        self._renderer = renderer
        self._fov = None if fov is None else (float(fov[0]), float(fov[1]), float(fov[2]))
        self._render()

    def clear(self) -> None:
        for name in list(self._overlays):
            self.set_overlay(name, None)
        for name in list(self._references):
            self.set_reference_shapes(name, ())
        self._renderer = None
        self._displayed = None
        self._fov = None
        self.image_item.setPixmap(QPixmap())
        self._update_fov()

    def set_settings(self, settings: DisplaySettings) -> None:
        """Re-render the image when the pixels change; show or hide the FOV outline."""
        old, self._settings = self._settings, settings
        if self._renderer is not None and (old.mode, old.brightness, old.contrast, old.gamma) != (
            settings.mode,
            settings.brightness,
            settings.contrast,
            settings.gamma,
        ):
            self._render()
        self._update_fov()

    def _render(self) -> None:
        assert self._renderer is not None
        self._displayed = self._renderer.render(self._settings)
        self.image_item.setPixmap(QPixmap.fromImage(qimage_from_rgb(self._displayed)))
        self._update_fov()

    def _update_fov(self) -> None:
        if self._fov is not None:
            self.fov_item.set_circle(*self._fov)
        self.fov_item.setVisible(self._fov is not None and self._settings.show_fov)

    def set_view_scale(self, scale: float) -> None:
        """Sharp pixels when zoomed in, smooth sampling when zoomed out."""
        self._scale = scale
        smooth = scale < SMOOTH_BELOW_ZOOM
        mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
        for item in (self.image_item, *self._overlays.values()):
            item.setTransformationMode(mode)

    # ----------------------------------------------------------------- read-only layers
    def overlay_names(self) -> list[str]:
        return list(self._overlays)

    def overlay_item(self, name: str) -> QGraphicsPixmapItem:
        return self._overlays[name]

    def set_overlay(self, name: str, rgba: np.ndarray | None, opacity: float = 0.5) -> None:
        """Show ``rgba`` (HxWx4 uint8, any size: stretched over the image) above the image; None removes."""
        old = self._overlays.pop(name, None)
        if old is not None:
            self._scene.removeItem(old)
        if rgba is None:
            return
        if not isinstance(rgba, np.ndarray) or rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4:
            raise ValueError(
                f"overlay {name!r} must be an HxWx4 uint8 RGBA array, "
                f"not {getattr(rgba, 'dtype', type(rgba))} {getattr(rgba, 'shape', '')}"
            )
        if not 0.0 <= opacity <= 1.0:
            raise ValueError(f"overlay opacity must be within [0, 1], not {opacity}")
        item = _pixmap_item(style.Z_OVERLAY + len(self._overlays) * 1e-3)
        item.setPixmap(QPixmap.fromImage(qimage_from_rgba(rgba)))
        size = self.image_size
        if size is not None:
            item.setTransform(QTransform.fromScale(size[0] / rgba.shape[1], size[1] / rgba.shape[0]))
        item.setOpacity(opacity)
        self._overlays[name] = item
        self._scene.addItem(item)
        self.set_view_scale(self._scale)

    def reference_names(self) -> list[str]:
        return list(self._references)

    def reference_item(self, name: str) -> ReferenceShapesItem:
        return self._references[name]

    def set_reference_shapes(self, name: str, shapes: Sequence[Shape], color: QColor | str = "#ffffff") -> None:
        """Show read-only outlines under ``name`` (dashed, never selectable); empty removes the layer."""
        old = self._references.pop(name, None)
        if old is not None:
            self._scene.removeItem(old)
        if shapes:
            item = ReferenceShapesItem(shapes, color, self._scale)
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, False)
            self._references[name] = item
            self._scene.addItem(item)
