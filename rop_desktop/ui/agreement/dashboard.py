"""The agreement dashboard: how the graders agree with each other, with the majority, and the model.

Aggregate statistics only (no image's grade is shown), so every role may open it. The figures
are computed off the UI thread (``compute(threshold) -> DashboardData``) and shown when ready
(``reportShown``). The field and statistic pickers change the pair matrix and the κ chart; the
threshold re-runs the model comparison — by default (``None``) at the active model's own operating
threshold, the one every other part of the app applies; Export CSV writes ``AgreementReport.to_csv``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from rop_desktop.ui.adjudication.background import BackgroundCalls
from rop_desktop.ui.adjudication.notice import show_notice

from .charts import BarChart
from .data import DashboardData, pair_label, short_name
from .model_section import MODEL_FIGURE_COLUMNS, model_caption, model_figure_rows
from .tables import (
    FIELD_COLUMNS,
    FIELD_TITLES,
    LOO_COLUMNS,
    METHOD_COLUMNS,
    MODEL_COLUMNS,
    ORDINAL_FIELDS,
    PAIR_STATISTICS,
    PairMatrix,
    StatTable,
    at_level,
    field_rows,
    loo_rows,
    method_rows,
    model_rows,
    unit_of,
)

#: What the figures compare, by the study's vote level (``AgreementReport.level``).
LEVEL_TEXT = {
    "image": "Figures at image level: each grader's submitted grade of an image is one rating (the study "
    "votes image by image).",
    "eye": "Figures at eye level: each grader's confirmed eye-level grade of an exam — one eye at one "
    "visit — is one rating (the study votes eye by eye). The model is compared image by image.",
}


def _section(title: str | QLabel, *widgets: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 6, 0, 6)
    layout.setSpacing(3)
    caption = title if isinstance(title, QLabel) else QLabel(title)
    caption.setStyleSheet("font-weight: bold;")
    layout.addWidget(caption)
    for widget in widgets:
        layout.addWidget(widget)
    return box


def _note() -> QLabel:
    label = QLabel("")
    label.setWordWrap(True)
    label.setStyleSheet("color: #aab3bd;")
    return label


class AgreementDashboard(QWidget):
    """See the module docstring."""

    reportShown = Signal(object)  # DashboardData
    exported = Signal(str)

    def __init__(
        self, compute: Callable[[float | None], DashboardData], *, title: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("AgreementDashboard")
        self.setWindowTitle(f"Agreement — {title}" if title else "Agreement")
        self.resize(1380, 920)
        self._compute = compute
        self.data: DashboardData | None = None
        self._again = False
        self.last_notice: QMessageBox | None = None
        self.calls = BackgroundCalls(self)
        self._build()

    # ================================================================= layout
    def _build(self) -> None:
        self.field_combo = QComboBox()
        for name, title in FIELD_TITLES.items():
            self.field_combo.addItem(title, name)
        self.stat_combo = QComboBox()
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 0.99)
        self.threshold.setSingleStep(0.05)
        self.threshold.setSpecialValueText("model's own")  # 0.00: the operating threshold stored with the model
        self.threshold.setValue(0.0)
        self.threshold.setToolTip(
            "The model calls ROP when P(ROP) ≥ threshold. “model's own”: the operating "
            "threshold chosen on validation data and stored with the model version"
        )
        self.refresh_button = QPushButton("Recompute")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setEnabled(False)
        self.status = QLabel("Computing …")
        self.status.setWordWrap(True)  # the graders' names wrap: the window still fits a 1366 px screen
        bar = QHBoxLayout()
        for text, widget in (
            ("Field", self.field_combo),
            ("Pair statistic", self.stat_combo),
            ("Model threshold", self.threshold),
        ):
            bar.addWidget(QLabel(text))
            bar.addWidget(widget)
            bar.addSpacing(10)
        bar.addWidget(self.status, 1)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.export_button)

        self.field_table = StatTable(FIELD_COLUMNS)
        self.pair_matrix = PairMatrix()
        self.fleiss_label = _note()
        self.loo_table = StatTable(LOO_COLUMNS)
        self.loo_note = _note()
        self.method_table = StatTable(METHOD_COLUMNS)
        self.model_label = _note()
        self.model_figures = StatTable(MODEL_FIGURE_COLUMNS)
        self.model_figures.setObjectName("modelFigures")
        self.model_table = StatTable(MODEL_COLUMNS)
        self.kappa_chart = BarChart("Cohen's κ per pair", "κ")
        self.loo_chart = BarChart("Each grader against the majority of the others", "")
        self.pair_title = QLabel("Pairs")
        self.level_label = QLabel("")
        self.level_label.setWordWrap(True)
        self.level_label.setStyleSheet("font-weight: bold;")
        field_note = self.field_note = _note()

        left = QVBoxLayout()
        left.addWidget(_section("Agreement per field", self.field_table, field_note))
        left.addWidget(_section(self.pair_title, self.pair_matrix, self.fleiss_label))
        left.addWidget(
            _section(
                "Each grader against the majority of the other graders (ROP yes/no)", self.loo_table, self.loo_note
            )
        )
        left.addWidget(
            _section("Model against the reference standard", self.model_label, self.model_figures, self.model_table)
        )
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(self.kappa_chart)
        right.addWidget(self.loo_chart)
        right.addWidget(_section("Reference standard", self.method_table))
        right.addStretch(1)
        columns = QHBoxLayout()
        columns.setSpacing(18)
        columns.addLayout(left, 3)
        columns.addLayout(right, 2)
        body = QWidget()
        body.setLayout(columns)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.level_label)
        layout.addWidget(scroll, 1)

        self.field_combo.currentIndexChanged.connect(self._on_field)
        self.stat_combo.currentIndexChanged.connect(lambda _i: self._show_pairs())
        self.refresh_button.clicked.connect(self.refresh)
        self.threshold.editingFinished.connect(self.refresh)
        self.export_button.clicked.connect(self._choose_export)
        self._on_field()

    # ================================================================= computing
    def refresh(self) -> None:
        """Recompute every figure in a worker thread (``reportShown`` when ready)."""
        if self.calls.busy():
            self._again = True  # e.g. the threshold changed while computing: once more when done
            return
        self._again = False
        self.status.setText("Computing …")
        self.refresh_button.setEnabled(False)
        compute = self._compute
        threshold = float(self.threshold.value()) or None  # 0.00 is “model's own”
        self.calls.start(lambda: compute(threshold), self.show_data, self._on_error)

    def _on_error(self, exc: BaseException) -> None:
        self.refresh_button.setEnabled(True)
        self.status.setText("The statistics could not be computed.")
        self.last_notice = show_notice(
            self, "Agreement", f"The statistics could not be computed: {exc}", QMessageBox.Icon.Warning
        )

    def show_data(self, data: DashboardData) -> None:
        """Show a computed dashboard."""
        self.data = data
        report = data.report
        self.refresh_button.setEnabled(True)
        self.export_button.setEnabled(True)
        unit = unit_of("", report.level)
        self.status.setText(
            f"{report.n_images} {unit} graded by {len(report.graders)} graders: " + ", ".join(report.graders)
        )
        self.level_label.setText(LEVEL_TEXT.get(report.level, ""))
        self.field_note.setText(
            f"Percent agreement and kappas are means over the grader pairs (each pair on the {unit} "
            f"both rated); Fleiss' κ uses the {unit} every grader rated. Weighted κ: ordinal fields."
        )
        for table, columns in (
            (self.field_table, FIELD_COLUMNS),
            (self.loo_table, LOO_COLUMNS),
            (self.method_table, METHOD_COLUMNS),
        ):
            table.set_titles(at_level(columns, report.level))
        self.field_table.set_rows(field_rows(report))
        self.loo_table.set_rows(loo_rows(report))
        ties = "left out" if report.loo_ties == "leave_out" else "counted as ROP"
        notes = [n for g in report.leave_one_out for n in g.notes]
        self.loo_note.setText(f"A tie among the other graders is {ties}." + (" " + " ".join(notes) if notes else ""))
        self.method_table.set_rows(method_rows(report))
        self.loo_chart.set_bars(
            [short_name(g.grader) for g in report.leave_one_out],
            {
                "sensitivity": [g.sensitivity for g in report.leave_one_out],
                "specificity": [g.specificity for g in report.leave_one_out],
                "accuracy": [g.accuracy for g in report.leave_one_out],
            },
        )
        self._show_model(data)
        self._show_pairs()
        self.reportShown.emit(data)
        if self._again:
            self.refresh()

    def _show_model(self, data: DashboardData) -> None:
        model = data.report.model
        self.model_table.setVisible(model is not None)
        self.model_figures.setVisible(model is not None)
        if model is None:
            self.model_label.setText(data.model_note or "No model comparison.")
            return
        self.model_label.setText(model_caption(data))
        self.model_figures.set_rows(model_figure_rows(model))
        self.model_table.set_rows(model_rows(model))

    # ================================================================= pickers
    def _on_field(self) -> None:
        field = self.field_combo.currentData()
        ordinal = field in ORDINAL_FIELDS
        current = self.stat_combo.currentData()
        self.stat_combo.blockSignals(True)
        self.stat_combo.clear()
        for name, title, ordinal_only in PAIR_STATISTICS:
            if ordinal or not ordinal_only:
                self.stat_combo.addItem(title, name)
        self.stat_combo.setCurrentIndex(max(0, self.stat_combo.findData(current)))
        self.stat_combo.blockSignals(False)
        self._show_pairs()

    def _show_pairs(self) -> None:
        if self.data is None or not self.data.report.fields:
            return
        report = self.data.report
        field = report.for_field(self.field_combo.currentData())
        statistic = self.stat_combo.currentData()
        title = FIELD_TITLES.get(field.field, field.field)
        self.pair_matrix.set_field(report.graders, field, statistic, report.level)
        fleiss = "undefined" if field.fleiss_kappa is None else f"{field.fleiss_kappa:.2f}"
        unit = unit_of(field.field, report.level)
        self.fleiss_label.setText(
            f"Fleiss' κ on {title.lower()}: {fleiss} ({field.fleiss_items} {unit} rated by "
            f"all {len(report.graders)} graders). " + " ".join(field.notes)
        )
        self.pair_title.setText(f"Pairs — {title}, {self.stat_combo.currentText()}")
        self.kappa_chart.setTitle(f"{self.stat_combo.currentText()} per pair — {title}", color="#dfe3e8", size="9pt")
        self.kappa_chart.set_bars(
            [pair_label(p.grader_a, p.grader_b) for p in field.pairs],
            {statistic: [getattr(p, statistic) for p in field.pairs]},
        )

    # ================================================================= export
    def _choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the agreement statistics", "agreement.csv", "CSV (*.csv)")
        if path:
            self.export_csv(Path(path))

    def export_csv(self, path: Path) -> Path | None:
        """Write the report as CSV (every figure, one per row); None when it could not be written."""
        if self.data is None:
            return None
        try:
            written = self.data.report.to_csv(path)
        except OSError as exc:
            self.last_notice = show_notice(
                self, "Export", f"Cannot write {path}: {exc.strerror or exc}", QMessageBox.Icon.Warning
            )
            return None
        self.status.setText(f"Exported to {written}")
        self.exported.emit(str(written))
        return written

    # ================================================================= closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        self.calls.shutdown()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self.data is None and not self.calls.busy():
            self.refresh()
