"""The dashboard's tables, filled from an ``AgreementReport`` (plain data in, text cells out)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QResizeEvent
from PySide6.QtWidgets import QHeaderView, QSizePolicy, QTableWidget, QTableWidgetItem, QWidget

from rop_desktop.ui.tables import make_read_only

from .data import fmt_kappa, fmt_percent, mean, short_name

if TYPE_CHECKING:
    from rop_desktop.services.agreement import AgreementReport


FIELD_TITLES = {
    "rop": "ROP presence",
    "stage": "Stage",
    "plus": "Plus disease",
    "zone": "Zone",
    "quality": "Image quality",
    "treatment class": "Treatment decision (ETROP)",
}
#: Fields whose items are exams (one eye at one visit), not images.
EXAM_FIELDS = ("treatment class",)
#: Ordered categories: the weighted kappas apply.
ORDINAL_FIELDS = ("stage", "plus", "zone", "treatment class")
#: Pair statistics offered for the matrix: (attribute of PairAgreement, title, ordinal fields only).
PAIR_STATISTICS: tuple[tuple[str, str, bool], ...] = (
    ("kappa", "Cohen's κ", False),
    ("percent_agreement", "% agreement", False),
    ("kappa_linear", "Weighted κ (linear)", True),
    ("kappa_quadratic", "Weighted κ (quadratic)", True),
)
METHOD_TITLES = {
    "unanimous": "Unanimous",
    "majority": "Majority",
    "hospital_tiebreak": "Tie → hospital diagnosis",
    "severity_tiebreak": "Tie → more severe",
    "ungradable_majority": "Ungradable (majority)",
    "adjudicated": "Adjudicated",
    "imported": "Imported",
}


def unit_of(field: str, level: str = "image") -> str:
    """What one rating of ``field`` is about at the report's ``level``: "exams" or "images"."""
    return "exams" if level == "eye" or field in EXAM_FIELDS else "images"


def at_level(columns: Sequence[str], level: str) -> list[str]:
    """Column titles for a report at ``level``: "Images…" reads "Exams…" at eye level."""
    if level != "eye":
        return list(columns)
    return [c.replace("Images", "Exams") for c in columns]


class StatTable(QTableWidget):
    """A read-only table that is as tall as its rows (no inner scroll bar)."""

    def __init__(self, columns: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(0, len(columns), parent)
        self.titles = list(columns)
        self.setHorizontalHeaderLabels(self.titles)
        make_read_only(self)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().hide()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_titles(self, columns: Sequence[str]) -> None:
        """New column titles (as many as before): e.g. :func:`at_level`'s."""
        self.titles = list(columns)
        self.setHorizontalHeaderLabels(self.titles)
        self._wrap_titles()

    def set_rows(self, rows: Sequence[Sequence[str]], tips: Sequence[Sequence[str]] | None = None) -> None:
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                item.setTextAlignment(
                    Qt.AlignmentFlag.AlignCenter if c else Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
                )
                if tips is not None:
                    item.setToolTip(tips[r][c])
                self.setItem(r, c, item)
        self._fit_height()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._wrap_titles()

    def _wrap_titles(self) -> None:
        """A column title wider than its column goes on two lines ("Weighted κ" / "(quadratic)")
        instead of being cut at both ends (a 1366 px screen); the full title is its tooltip."""
        metrics = self.horizontalHeader().fontMetrics()
        changed = False
        for column, title in enumerate(self.titles):
            text = title
            if metrics.horizontalAdvance(title) + 12 > self.columnWidth(column) and " " in title:
                middle = len(title) // 2
                cut = min((i for i, ch in enumerate(title) if ch == " "), key=lambda i: abs(i - middle))
                text = title[:cut] + "\n" + title[cut + 1 :]
            item = self.horizontalHeaderItem(column)
            if item is not None and item.text() != text:
                item.setText(text)
                item.setToolTip(title)
                changed = True
        if changed:
            self._fit_height()

    def _fit_height(self) -> None:
        self.resizeRowsToContents()
        height = self.horizontalHeader().sizeHint().height() + 2 * self.frameWidth() + 2
        height += sum(self.rowHeight(r) for r in range(self.rowCount()))
        self.setFixedHeight(height)

    def texts(self) -> list[list[str]]:
        return [
            [item.text() if (item := self.item(r, c)) is not None else "" for c in range(self.columnCount())]
            for r in range(self.rowCount())
        ]


def field_rows(report: AgreementReport) -> list[list[str]]:
    """Per field: images rated by all, mean % agreement and κ over the pairs, weighted κ, Fleiss' κ."""
    rows = []
    for fa in report.fields:
        pairs = fa.pairs
        # the treatment class is rated per exam at either level: said so where the column counts images
        items = (
            f"{fa.fleiss_items} exams" if fa.field in EXAM_FIELDS and report.level != "eye" else str(fa.fleiss_items)
        )
        rows.append(
            [
                FIELD_TITLES.get(fa.field, fa.field),
                items,
                fmt_percent(mean([p.percent_agreement for p in pairs])),
                fmt_kappa(mean([p.kappa for p in pairs])),
                fmt_kappa(mean([p.kappa_quadratic for p in pairs])) if fa.ordinal else "n/a",
                fmt_kappa(fa.fleiss_kappa),
            ]
        )
    return rows


FIELD_COLUMNS = ("Field", "Images, all graders", "% agreement", "Cohen's κ", "Weighted κ (quad.)", "Fleiss' κ")


class PairMatrix(QTableWidget):
    """Graders × graders, one pair statistic of one field; a cell's tooltip has all of them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        make_read_only(self)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def set_field(self, graders: Sequence[str], field: Any, statistic: str, report_level: str = "image") -> None:
        """Fill from a ``FieldAgreement``; ``statistic`` is an attribute of its pairs;
        ``report_level`` the report's ("image" or "eye": what was rated)."""
        n = len(graders)
        self.setRowCount(n)
        self.setColumnCount(n)
        labels = [short_name(g) for g in graders]
        self.setHorizontalHeaderLabels(labels)
        self.setVerticalHeaderLabels(labels)
        pairs = {(p.grader_a, p.grader_b): p for p in field.pairs}
        pairs.update({(p.grader_b, p.grader_a): p for p in field.pairs})
        percent = statistic == "percent_agreement"
        for r, a in enumerate(graders):
            for c, b in enumerate(graders):
                pair = pairs.get((a, b))
                value = getattr(pair, statistic) if pair is not None else None
                item = QTableWidgetItem("—" if r == c else (fmt_percent(value) if percent else fmt_kappa(value)))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if pair is not None:
                    item.setToolTip(_pair_tip(a, b, field, pair, report_level))
                    if value is not None:
                        level = max(0.0, min(1.0, value))
                        item.setBackground(QBrush(QColor.fromHsvF(0.33 * level, 0.6, 0.42, 0.85)))
                self.setItem(r, c, item)
        self.resizeRowsToContents()
        height = self.horizontalHeader().sizeHint().height() + 2 * self.frameWidth() + 2
        self.setFixedHeight(height + sum(self.rowHeight(r) for r in range(n)))


def _pair_tip(a: str, b: str, field: Any, pair: Any, level: str = "image") -> str:
    """Every statistic of one pair on one field."""
    unit = unit_of(field.field, level)
    tip = (
        f"{a} vs {b} on {FIELD_TITLES.get(field.field, field.field)}: {pair.n_items} {unit} rated by both\n"
        f"% agreement {fmt_percent(pair.percent_agreement)}\nCohen's κ {fmt_kappa(pair.kappa)}"
    )
    if field.ordinal:
        tip += f"\nweighted κ linear {fmt_kappa(pair.kappa_linear)}, quadratic {fmt_kappa(pair.kappa_quadratic)}"
    return tip


LOO_COLUMNS = ("Grader", "Images", "Sensitivity", "Specificity", "Accuracy", "TP", "FP", "TN", "FN")


def loo_rows(report: AgreementReport) -> list[list[str]]:
    return [
        [
            g.grader,
            str(g.n_items),
            fmt_percent(g.sensitivity),
            fmt_percent(g.specificity),
            fmt_percent(g.accuracy),
            str(g.tp),
            str(g.fp),
            str(g.tn),
            str(g.fn),
        ]
        for g in report.leave_one_out
    ]


METHOD_COLUMNS = ("How the reference was reached", "Images")


def method_rows(report: AgreementReport) -> list[list[str]]:
    counts = report.references_by_method
    rows = [[METHOD_TITLES.get(m, m), str(n)] for m, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    rows.append(["Total", str(sum(counts.values()))])
    open_images = report.n_images - sum(counts.values())
    if open_images > 0:
        rows.append(["Graded, no reference yet", str(open_images)])
    return rows


MODEL_COLUMNS = ("Grader", "Grader's error rate", "Model's error rate", "Error reduction")


def model_rows(model: Any) -> list[list[str]]:
    """Paper A's error reduction of the model against each grader (same images)."""
    return [
        [name, fmt_percent(model.grader_error_rate.get(name)), fmt_percent(model.model_error_rate), fmt_percent(value)]
        for name, value in model.error_reduction.items()
    ]


def model_summary(model: Any, name: str | None) -> str:
    auroc = f", AUROC {fmt_kappa(model.auroc)}" if model.auroc is not None else ""
    return (
        f"{name or 'Active model'} against the reference standard on {model.n_images} images at threshold "
        f"{model.threshold:.2f}: sensitivity {fmt_percent(model.sensitivity)}, specificity "
        f"{fmt_percent(model.specificity)}, accuracy {fmt_percent(model.accuracy)}{auroc}. "
        f"Mean error reduction vs the graders: {fmt_percent(model.mean_error_reduction)}."
    )
