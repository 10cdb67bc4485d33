"""Live training curves (pyqtgraph): batch and epoch losses, validation metrics.

The axes read in plain units: pyqtgraph's automatic SI prefix turned a loss of 0.004 into
"loss (x0.001)" and the first epoch's batches into "epoch (x0.001)" (issue 17); the epoch axis
ticks whole epochs only (:class:`EpochAxis`).
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

BACKGROUND = "#22272d"
#: Batch-loss points kept; beyond this every other point is dropped (redraws stay cheap).
MAX_BATCH_POINTS = 2000
COLORS = ("#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176")


class EpochAxis(pg.AxisItem):
    """A bottom axis of whole epochs: ticks at integers only (never 0.25 of an epoch), labelled 1, 2, 3."""

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:  # noqa: N802
        levels = [
            (max(1.0, float(spacing)), [v for v in values if float(v).is_integer()])
            for spacing, values in super().tickValues(minVal, maxVal, size)
        ]
        levels = [(spacing, values) for spacing, values in levels if values]
        if not levels and math.floor(maxVal) >= math.ceil(minVal):  # a range inside one or two epochs
            levels = [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]
        return levels[:1]  # one level: minor ticks would be fractions of an epoch

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        return [str(int(round(v))) for v in values]


def _plot(title: str, y_label: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background=BACKGROUND, axisItems={"bottom": EpochAxis("bottom")})
    plot.setTitle(title, color="#dfe3e8", size="9pt")
    plot.setLabel("bottom", "epoch")
    plot.setLabel("left", y_label)
    for side in ("bottom", "left"):
        plot.getAxis(side).enableAutoSIPrefix(False)  # "loss", never "loss (x0.001)"
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setMouseEnabled(x=False, y=False)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.setMinimumHeight(130)
    plot.addLegend(offset=(-4, 4), labelTextSize="8pt")
    return plot


class TrainingCurves(QWidget):
    """Two plots: losses (per relayed batch, train and validation per epoch) and validation metrics.

    The data shown is kept in plain lists (``batch_loss``, ``train_loss``, ``val_loss``,
    ``metrics``) of ``(x, y)`` points, x in epochs (fractional for batches).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = _plot("Loss", "loss")
        self.metric_plot = _plot("Validation metrics", "")
        self.metric_plot.setYRange(0.0, 1.0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss_plot)
        layout.addWidget(self.metric_plot)
        self._batch_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#7d8792", width=1), name="batch")
        self._train_curve = self.loss_plot.plot(
            [], [], pen=pg.mkPen(COLORS[0], width=2), symbol="o", symbolSize=5, symbolBrush=COLORS[0], name="train"
        )
        self._val_curve = self.loss_plot.plot(
            [], [], pen=pg.mkPen(COLORS[1], width=2), symbol="o", symbolSize=5, symbolBrush=COLORS[1], name="validation"
        )
        self._metric_curves: dict[str, pg.PlotDataItem] = {}
        self.clear()

    def clear(self) -> None:
        self.batch_loss: list[tuple[float, float]] = []
        self.train_loss: list[tuple[float, float]] = []
        self.val_loss: list[tuple[float, float]] = []
        self.metrics: dict[str, list[tuple[float, float]]] = {}
        for curve in (self._batch_curve, self._train_curve, self._val_curve):
            curve.setData([], [])
        for name, curve in self._metric_curves.items():
            self.metric_plot.removeItem(curve)
            legend = self.metric_plot.plotItem.legend
            if legend is not None:
                legend.removeItem(name)
        self._metric_curves.clear()

    def add_batch(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        self.batch_loss.append((epoch - 1 + batch / max(batches, 1), float(loss)))
        if len(self.batch_loss) > MAX_BATCH_POINTS:  # long runs: halve the resolution, keep the shape
            self.batch_loss = self.batch_loss[::2]
        self._batch_curve.setData(*_xy(self.batch_loss))

    def add_epoch(self, epoch: int, train_loss: float, val_loss: float | None, metrics: dict[str, float]) -> None:
        self.train_loss.append((float(epoch), float(train_loss)))
        self._train_curve.setData(*_xy(self.train_loss))
        if val_loss is not None:
            self.val_loss.append((float(epoch), float(val_loss)))
            self._val_curve.setData(*_xy(self.val_loss))
        for name, value in metrics.items():
            if value is None:
                continue
            points = self.metrics.setdefault(name, [])
            points.append((float(epoch), float(value)))
            curve = self._metric_curves.get(name)
            if curve is None:
                color = COLORS[len(self._metric_curves) % len(COLORS)]
                curve = self.metric_plot.plot(
                    [], [], pen=pg.mkPen(color, width=2), symbol="o", symbolSize=5, symbolBrush=color, name=name
                )
                self._metric_curves[name] = curve
            curve.setData(*_xy(points))


def _xy(points: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    return [p[0] for p in points], [p[1] for p in points]
