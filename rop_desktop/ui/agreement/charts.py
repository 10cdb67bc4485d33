"""Bar charts of the dashboard (pyqtgraph): one statistic per grader pair, or several per grader.

pyqtgraph draws every category label on one line, centred under its bars, whether or not it fits:
with four graders' six pairs the labels ran into each other (issue 17). :func:`fit_label` wraps a
label that is wider than its category's slot onto more lines (at "–" or spaces), eliding what
still does not fit; the chart re-fits its labels whenever its plot area changes size.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QWidget

BACKGROUND = "#22272d"
SERIES_COLORS = ("#4fc3f7", "#ffb74d", "#81c784", "#e57373")
#: Most lines of one category label.
MAX_LABEL_LINES = 3
#: Pixels kept free between two neighbouring labels.
LABEL_GAP = 6


def fit_label(text: str, width: float, metrics: QFontMetrics, max_lines: int = MAX_LABEL_LINES) -> str:
    """``text`` as lines of at most ``width`` px: unchanged if it fits, else wrapped after "–", "-",
    "/" or at spaces, each line elided ("…") if one word is still too wide."""
    if metrics.horizontalAdvance(text) <= width:
        return text
    words = [w for w in re.split(r"(?<=[–/-])|\s+", text) if w]
    lines: list[str] = []
    for word in words:
        joined = (lines[-1] + ("" if lines[-1].endswith(("–", "-", "/")) else " ") + word) if lines else word
        if lines and metrics.horizontalAdvance(joined) <= width:
            lines[-1] = joined
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], " ".join(lines[max_lines - 1 :])]
    return "\n".join(metrics.elidedText(line, Qt.TextElideMode.ElideRight, int(width)) for line in lines)


class BarChart(pg.PlotWidget):
    """Grouped bars with category labels under them; ``values()`` returns what is drawn."""

    def __init__(self, title: str, y_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=BACKGROUND)
        self.setTitle(title, color="#dfe3e8", size="9pt")
        self.setLabel("left", y_label)
        self.showGrid(x=False, y=True, alpha=0.2)
        self.setMouseEnabled(x=False, y=False)
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setFixedHeight(300)
        self._legend = self.addLegend(offset=(-4, 4), labelTextSize="8pt", colCount=4)
        self._bars: list[pg.BarGraphItem] = []
        self._data: dict[str, list[float | None]] = {}
        self._categories: list[str] = []
        self._labels: list[str] = []
        self.getViewBox().sigResized.connect(self._fit_labels)

    def set_bars(
        self,
        categories: Sequence[str],
        series: dict[str, Sequence[float | None]],
        y_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        """One group of bars per category, one bar per series (None: no bar)."""
        for item in self._bars:
            self.removeItem(item)
        self._bars.clear()
        self._legend.clear()
        self._categories = list(categories)
        self._data = {name: list(values) for name, values in series.items()}
        width = 0.8 / max(1, len(series))
        for k, (name, values) in enumerate(series.items()):
            xs = [i - 0.4 + width * (k + 0.5) for i, v in enumerate(values) if v is not None]
            ys = [float(v) for v in values if v is not None]
            color = SERIES_COLORS[k % len(SERIES_COLORS)]
            bars = pg.BarGraphItem(x=xs, height=ys, width=width * 0.9, brush=color, pen=pg.mkPen(color))
            self.addItem(bars)
            self._bars.append(bars)
            if len(series) > 1:
                self._legend.addItem(bars, name)
        low = min([y_range[0]] + [v for values in series.values() for v in values if v is not None])
        headroom = 0.12 * (y_range[1] - min(low, 0.0)) if len(series) > 1 else 0.0  # room for the legend
        self.setYRange(min(low, 0.0), y_range[1] + headroom, padding=0.03)
        self.setXRange(-0.6, max(0.6, len(categories) - 0.4), padding=0)
        self._fit_labels()

    def _fit_labels(self) -> None:
        """Category labels wrapped to the width one category gets at the plot's current size."""
        view = self.getViewBox()
        (x0, x1), _ = view.viewRange()
        slot = view.width() / max(x1 - x0, 1e-6) - LABEL_GAP  # one category is one x unit
        axis = self.getAxis("bottom")
        metrics = QFontMetrics(axis.style["tickFont"] or self.font())
        labels = [
            fit_label(label, max(slot, 24.0), metrics) if view.width() > 0 else label for label in self._categories
        ]
        axis.setTicks([[(i, label) for i, label in enumerate(labels)]])
        lines = max((label.count("\n") + 1 for label in labels), default=1)
        # pyqtgraph sizes the axis for 80 % of the text's height, which cuts descenders and a second line off
        axis.setHeight(
            lines * metrics.lineSpacing() + axis.style["tickTextOffset"][1] + max(0, axis.style["tickLength"]) + 2
        )
        self._labels = labels

    def labels(self) -> list[str]:
        """The category labels as drawn (lines joined by newlines)."""
        return list(self._labels)

    def values(self) -> dict[str, list[float | None]]:
        """Series name → the values drawn, in category order."""
        return {name: list(v) for name, v in self._data.items()}

    def categories(self) -> list[str]:
        return list(self._categories)
