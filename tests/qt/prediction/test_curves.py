"""The Train tab's curves read in plain units: whole epochs on x, the loss as it is on y (issue 17:
they read "epoch (x0.001)" and "loss (x0.001)")."""

from __future__ import annotations

import re

from PySide6.QtGui import QPainter, QPixmap

from rop_desktop.ui.prediction.curves import TrainingCurves


def drawn_labels(curves: TrainingCurves, plot: str, side: str) -> tuple[str, list[str]]:
    """The axis title and the tick texts pyqtgraph draws for ``side`` of ``plot``."""
    axis = getattr(curves, plot).getAxis(side)
    pixmap = QPixmap(10, 10)
    painter = QPainter(pixmap)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    title = re.sub(r"<[^>]+>", "", axis.labelString()).strip()  # pyqtgraph wraps it in a <span>
    return title, [text for _rect, _flags, text in specs[2]]


def test_small_losses_and_the_first_epoch_read_in_plain_units(qtbot) -> None:
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    curves.resize(420, 420)
    curves.show()
    qtbot.waitExposed(curves)
    for batch in range(1, 21):  # the first epoch: x from 0.05 to 1.0, losses around 0.003
        curves.add_batch(1, batch, 20, 0.004 - batch * 0.0001)
    curves.add_epoch(1, 0.0025, 0.0031, {"auroc": 0.7})
    qtbot.wait(50)  # let pyqtgraph lay the axes out for the new range

    title, ticks = drawn_labels(curves, "loss_plot", "bottom")
    assert "x0" not in title and "epoch" in title
    assert ticks and all(t.lstrip("-").isdigit() for t in ticks), ticks  # whole epochs only
    title, ticks = drawn_labels(curves, "loss_plot", "left")
    assert title.startswith("loss") and "x0" not in title
    assert any(t.startswith("0.00") for t in ticks), ticks  # the values themselves: 0.002, 0.003 …


def test_a_longer_run_ticks_whole_epochs(qtbot) -> None:
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    curves.resize(420, 420)
    curves.show()
    qtbot.waitExposed(curves)
    for epoch in range(1, 31):
        curves.add_epoch(epoch, 2.0 / epoch, 2.2 / epoch, {"auroc": 0.5 + epoch / 100})
    qtbot.wait(50)
    for plot in ("loss_plot", "metric_plot"):
        title, ticks = drawn_labels(curves, plot, "bottom")
        assert title.startswith("epoch") and "x0" not in title
        assert len(ticks) >= 3 and all(t.isdigit() for t in ticks), ticks
