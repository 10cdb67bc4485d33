"""Measuring the canvas's redraw cost (the lead's benchmarks use this)."""

from __future__ import annotations

import statistics
import time

from PySide6.QtWidgets import QApplication

from .view import ImageCanvas


def measure_repaint(canvas: ImageCanvas, repeats: int = 10) -> float:
    """Median seconds of one full, synchronous viewport repaint (image, overlays, all shapes).

    The canvas must be shown (offscreen is fine). Pending events are processed first so that
    only painting is timed.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, not {repeats}")
    QApplication.processEvents()
    viewport = canvas.viewport()
    times: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        viewport.repaint()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
