"""The agreement dashboard's bar charts: category labels never run into each other (issue 17: the
six pair labels of four graders overlapped); a label too wide for its slot wraps onto more lines."""

from __future__ import annotations

from itertools import pairwise

from PySide6.QtGui import QFontMetrics, QPainter, QPixmap

from rop_desktop.ui.agreement.charts import BarChart, fit_label
from rop_desktop.ui.agreement.data import pair_label

GRADERS = ["Dr. Avery", "Dr. Boateng", "Dr. Castellanos", "Dr. Dimitriou"]


def drawn_texts(chart: BarChart) -> list[tuple[float, float, float, float, str]]:
    """(left, top, right, bottom, text) of every label pyqtgraph draws under the bars."""
    pixmap = QPixmap(10, 10)
    painter = QPainter(pixmap)
    try:
        _axis, _ticks, texts = chart.getAxis("bottom").generateDrawSpecs(painter)
    finally:
        painter.end()
    return [(r.left(), r.top(), r.right(), r.bottom(), text) for r, _flags, text in texts]


def test_pair_labels_of_four_graders_do_not_overlap_at_the_dashboard_width(qtbot) -> None:
    pairs = [pair_label(a, b) for i, a in enumerate(GRADERS) for b in GRADERS[i + 1:]]
    chart = BarChart("Cohen's κ per pair", "κ")
    qtbot.addWidget(chart)
    chart.resize(360, 300)  # the dashboard's chart column at 1366x768
    chart.show()
    qtbot.waitExposed(chart)
    chart.set_bars(pairs, {"kappa": [0.5, 0.6, 0.7, 0.4, 0.3, 0.8]})
    qtbot.waitUntil(lambda: len(drawn_texts(chart)) == len(pairs))

    texts = sorted(drawn_texts(chart))
    assert [t[4].replace("\n", "") for t in sorted(texts, key=lambda t: t[0])] == [
        label.replace("\n", "") for label in chart.labels()]
    for left, right in pairwise(texts):
        assert left[2] <= right[0], f"{left[4]!r} runs into {right[4]!r}"
    assert any("\n" in label for label in chart.labels())  # wrapped, not shrunk or dropped
    assert all(label.split("\n")[0].startswith(pair.split("–")[0]) for label, pair in zip(chart.labels(), pairs, strict=True))


def test_labels_that_fit_stay_on_one_line_and_rewrap_when_the_chart_widens(qtbot) -> None:
    pairs = [pair_label(a, b) for i, a in enumerate(GRADERS) for b in GRADERS[i + 1:]]
    chart = BarChart("Cohen's κ per pair", "κ")
    qtbot.addWidget(chart)
    chart.resize(360, 300)
    chart.show()
    qtbot.waitExposed(chart)
    chart.set_bars(pairs, {"kappa": [0.5] * 6})
    narrow = chart.labels()
    chart.resize(1200, 300)
    qtbot.waitUntil(lambda: chart.labels() != narrow)
    assert chart.labels() == pairs


def test_fit_label_wraps_at_dashes_and_elides_a_word_that_is_still_too_wide(qtbot) -> None:
    chart = BarChart("t", "y")
    qtbot.addWidget(chart)
    metrics = QFontMetrics(chart.font())
    width = metrics.horizontalAdvance("Castellanos") * 0.6
    label = fit_label("Avery–Castellanos", width, metrics)
    lines = label.split("\n")
    assert len(lines) == 2 and lines[0].startswith("Av") and lines[1].endswith("…")
    assert all(metrics.horizontalAdvance(line) <= width for line in lines)
    assert fit_label("Avery", 1000, metrics) == "Avery"
