"""Fixtures for the canvas tests: a shown 800x600 canvas on a 128x64 image (zoom 6.25) holding one
square (id "sq"), a ``signals`` recorder, and a ``ui`` driver that sends real mouse/key events to
positions given in image coordinates. (The suite runs with --import-mode=importlib: test modules
reach these helpers through fixtures, not imports.)"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from rop_desktop.domain.shapes import Shape
from rop_desktop.ui.canvas import ImageCanvas

IMAGE_W, IMAGE_H = 128, 64  # fits 800x600 at zoom 6.25, with 100 px of margin above and below
SQUARE = ((20.0, 20.0), (60.0, 20.0), (60.0, 50.0), (20.0, 50.0))


def make_rgb() -> np.ndarray:
    """Red grows with x, green with y, blue constant: every pixel tells where it is."""
    ys, xs = np.mgrid[0:IMAGE_H, 0:IMAGE_W]
    return np.dstack([xs * 2, ys * 4, np.full_like(xs, 60)]).astype(np.uint8)


@dataclass
class Recorder:
    """Every signal the canvas emitted, in order, as (name, args)."""

    events: list[tuple[str, tuple]] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def of(self, name: str) -> list[tuple]:
        return [args for n, args in self.events if n == name]

    def clear(self) -> None:
        self.events.clear()


class Driver:
    """Real mouse and key events on the canvas viewport, at image coordinates."""

    def __init__(self, qtbot, canvas: ImageCanvas) -> None:
        self.qtbot = qtbot
        self.canvas = canvas

    def pos(self, x: float, y: float) -> QPoint:
        return self.canvas.mapFromScene(QPointF(x, y))

    def click(self, x: float, y: float, button: Qt.MouseButton = Qt.MouseButton.LeftButton) -> None:
        self.qtbot.mouseClick(self.canvas.viewport(), button, pos=self.pos(x, y))

    def double_click(self, x: float, y: float) -> None:
        self.qtbot.mouseDClick(self.canvas.viewport(), Qt.MouseButton.LeftButton, pos=self.pos(x, y))

    def drag(self, path: Sequence[tuple[float, float]], button: Qt.MouseButton = Qt.MouseButton.LeftButton,
             modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
        vp = self.canvas.viewport()
        self.qtbot.mousePress(vp, button, modifier, self.pos(*path[0]))
        for p in path[1:]:
            self.qtbot.mouseMove(vp, self.pos(*p))
        self.qtbot.mouseRelease(vp, button, modifier, self.pos(*path[-1]))

    def drag_pixels(self, start: QPoint, offsets: Sequence[tuple[int, int]],
                    button: Qt.MouseButton = Qt.MouseButton.LeftButton) -> None:
        """A drag in viewport pixels (positions computed once, before the view moves)."""
        vp = self.canvas.viewport()
        self.qtbot.mousePress(vp, button, pos=start)
        for dx, dy in offsets:
            self.qtbot.mouseMove(vp, start + QPoint(dx, dy))
        dx, dy = offsets[-1]
        self.qtbot.mouseRelease(vp, button, pos=start + QPoint(dx, dy))

    def key(self, key: Qt.Key) -> None:
        self.qtbot.keyClick(self.canvas, key)

    def wheel(self, pos: QPoint, delta: int = 120) -> None:
        """A real wheel event (pytest-qt has no wheel helper)."""
        vp = self.canvas.viewport()
        event = QWheelEvent(QPointF(pos), QPointF(vp.mapToGlobal(pos)), QPoint(0, 0), QPoint(0, delta),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(vp, event)


@pytest.fixture
def rgb() -> np.ndarray:
    return make_rgb()


@pytest.fixture
def canvas(qtbot, rgb: np.ndarray) -> ImageCanvas:
    view = ImageCanvas()
    view.resize(800, 600)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    view.set_image(rgb, [Shape(id="sq", points=SQUARE)])
    view.setFocus()
    return view


@pytest.fixture
def ui(qtbot, canvas: ImageCanvas) -> Driver:
    return Driver(qtbot, canvas)


@pytest.fixture
def signals(canvas: ImageCanvas) -> Iterator[Recorder]:
    rec = Recorder()
    for name in ("shapeAdded", "shapeChanged", "shapeRemoved", "selectionChanged", "message", "zoomChanged"):
        getattr(canvas, name).connect(lambda *args, _n=name: rec.events.append((_n, args)))
    yield rec
