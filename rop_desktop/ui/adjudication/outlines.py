"""The legend above the adjudication canvas: one colour and one checkbox per grader's outlines,
and one for the reference outline being chosen.

The bar only shows and reports: ``toggled(layer, visible)`` when the adjudicator ticks a box
(``layer`` is a grader's name or :data:`REFERENCE_LAYER`); the window draws the layers.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QWidget

#: One colour per grader, in the case's grader order: bright hues that stand out on an orange fundus.
GRADER_COLORS: tuple[str, ...] = (
    "#00e5ff",
    "#c6ff00",
    "#ff4081",
    "#ffd740",
    "#b388ff",
    "#69f0ae",
    "#ff9e80",
    "#82b1ff",
)
#: Colour of the reference outline the adjudicator is choosing.
REFERENCE_COLOR = "#ffffff"
REFERENCE_LAYER = "reference outline"


def grader_color(index: int) -> str:
    """The legend colour of the ``index``-th grader (the palette repeats after eight)."""
    return GRADER_COLORS[index % len(GRADER_COLORS)]


def _swatch(color: str) -> QLabel:
    """A short dashed line in ``color``, as the canvas draws the outlines."""
    swatch = QLabel()
    swatch.setFixedSize(22, 10)
    swatch.setStyleSheet(f"border-top: 3px dashed {color}; margin-top: 4px;")
    return swatch


class OutlineLegend(QWidget):
    """Checkbox + colour swatch per grader, and the reference outline (see the module docstring)."""

    toggled = Signal(str, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(6, 2, 6, 2)
        self._layout.setSpacing(4)
        self._boxes: dict[str, QCheckBox] = {}
        self._colors: dict[str, str] = {}

    def set_graders(self, graders: Sequence[tuple[str, int]]) -> None:
        """(grader name, number of outlines) per grader; every box starts ticked."""
        while self._layout.count():
            item = self._layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()  # gone at once, deleted when Qt gets to it
                widget.deleteLater()
        self._boxes.clear()
        self._colors.clear()
        self._layout.addWidget(QLabel("Outlines:"))
        for index, (name, count) in enumerate(graders):
            short = name.split()[-1] if name.split() else name
            self._add(
                name,
                grader_color(index),
                f"{short} ({count})" if count else f"{short} (none)",
                f"{name} outlined {count} polygon(s) on this image"
                if count
                else f"{name} outlined nothing on this image",
            )
        self._add(REFERENCE_LAYER, REFERENCE_COLOR, "Reference", "The outline chosen as the reference standard")
        self._layout.addStretch(1)

    def _add(self, layer: str, color: str, text: str, tip: str) -> None:
        self._layout.addWidget(_swatch(color))
        box = QCheckBox(text)
        box.setChecked(True)
        box.setToolTip(tip)
        box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        box.toggled.connect(lambda on, name=layer: self.toggled.emit(name, on))
        self._layout.addWidget(box)
        self._layout.addSpacing(8)
        self._boxes[layer] = box
        self._colors[layer] = color

    def box(self, layer: str) -> QCheckBox:
        """The checkbox of a grader (by name) or of :data:`REFERENCE_LAYER`."""
        return self._boxes[layer]

    def color(self, layer: str) -> str:
        return self._colors[layer]

    def visible(self, layer: str) -> bool:
        box = self._boxes.get(layer)
        return box is not None and box.isChecked()
