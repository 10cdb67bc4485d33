"""Small widgets of the model panels: a probability bar with its operating threshold and an
image label for numpy arrays."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen, QPixmap, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

POSITIVE = QColor("#d9534f")
NEGATIVE = QColor("#3aa55d")
TRACK = QColor("#2b3138")
MARK = QColor("#f5f5f5")


class ProbabilityBar(QWidget):
    """A horizontal bar filled to ``p``, red at or above the threshold, green below, with the
    threshold drawn as a tick. ``value()`` / ``threshold()`` read back what is shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._p: float | None = None
        self._t: float | None = None
        self.setMinimumHeight(16)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(160, 16)

    def set_value(self, p: float | None, threshold: float | None = None) -> None:
        self._p = None if p is None else float(min(max(p, 0.0), 1.0))
        self._t = None if threshold is None else float(min(max(threshold, 0.0), 1.0))
        self.setToolTip(
            "" if p is None else f"p = {p:.3f}" + ("" if threshold is None else f", threshold {threshold:.3f}")
        )
        self.update()

    def value(self) -> float | None:
        return self._p

    def threshold(self) -> float | None:
        return self._t

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(1, 3, -1, -3)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(TRACK)
        painter.drawRoundedRect(rect, 3, 3)
        if self._p is not None:
            positive = self._p >= (self._t if self._t is not None else 0.5)
            painter.setBrush(POSITIVE if positive else NEGATIVE)
            painter.drawRoundedRect(QRectF(rect.left(), rect.top(), rect.width() * self._p, rect.height()), 3, 3)
        if self._t is not None:
            x = rect.left() + rect.width() * self._t
            painter.setPen(QPen(MARK, 2))
            painter.drawLine(int(x), int(rect.top()) - 3, int(x), int(rect.bottom()) + 3)
        painter.end()


def pixmap_from_array(array: np.ndarray) -> QPixmap:
    """A pixmap owning a copy of an HxW (grey) or HxWx3 (RGB) uint8 array."""
    arr = np.ascontiguousarray(array)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(f"expected an HxW or HxWx3 uint8 array, not {arr.dtype} {arr.shape}")
    h, w = arr.shape[:2]
    fmt = QImage.Format.Format_Grayscale8 if arr.ndim == 2 else QImage.Format.Format_RGB888
    return QPixmap.fromImage(QImage(arr.data, w, h, arr.strides[0], fmt).copy())


class ArrayLabel(QLabel):
    """Shows a numpy image scaled to the label's width (aspect kept); ``array()`` is what is shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._array: np.ndarray | None = None
        self._pixmap = QPixmap()
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(60)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def set_array(self, array: np.ndarray | None) -> None:
        self._array = None if array is None else np.asarray(array)
        self._pixmap = QPixmap() if self._array is None else pixmap_from_array(self._array)
        self._rescale()

    def array(self) -> np.ndarray | None:
        return self._array

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._rescale()

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        if self._pixmap.isNull():
            return 60
        return max(60, int(width * self._pixmap.height() / max(self._pixmap.width(), 1)))

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt API
        return not self._pixmap.isNull()

    def _rescale(self) -> None:
        if self._pixmap.isNull():
            self.clear()
            return
        width = max(self.width(), 60)
        self.setPixmap(self._pixmap.scaledToWidth(width, Qt.TransformationMode.FastTransformation))
