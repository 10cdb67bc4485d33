"""Bar charts of the dashboard (pyqtgraph): one statistic per grader pair, or several per grader."""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

BACKGROUND = "#22272d"
SERIES_COLORS = ("#4fc3f7", "#ffb74d", "#81c784", "#e57373")


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

    def set_bars(self, categories: Sequence[str], series: dict[str, Sequence[float | None]],
                 y_range: tuple[float, float] = (0.0, 1.0)) -> None:
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
        self.getAxis("bottom").setTicks([[(i, label) for i, label in enumerate(categories)]])
        low = min([y_range[0]] + [v for values in series.values() for v in values if v is not None])
        headroom = 0.12 * (y_range[1] - min(low, 0.0)) if len(series) > 1 else 0.0  # room for the legend
        self.setYRange(min(low, 0.0), y_range[1] + headroom, padding=0.03)
        self.setXRange(-0.6, max(0.6, len(categories) - 0.4), padding=0)

    def values(self) -> dict[str, list[float | None]]:
        """Series name → the values drawn, in category order."""
        return {name: list(v) for name, v in self._data.items()}

    def categories(self) -> list[str]:
        return list(self._categories)
