"""The agreement dashboard shows what AgreementService computes, to adjudicators and admins (a
grader is refused: it compares graders with each other), and exports it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from rop_desktop.services.agreement import AgreementService
from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_ADMIN
from rop_desktop.services.reference import recompute_references
from rop_desktop.ui.agreement import AgreementDashboard
from rop_desktop.ui.agreement.data import fmt_kappa, fmt_percent

from .conftest import Desk

TIMEOUT_MS = 30_000  # the first dashboard loads torch (torchmetrics) in its worker thread


def open_dashboard(qtbot, desk: Desk) -> AgreementDashboard:
    with qtbot.waitSignal(desk.controller.dashboard_action.triggered, timeout=1000):
        desk.controller.dashboard_action.trigger()
    view = desk.controller.dashboard
    assert view is not None and view.isVisible()
    qtbot.waitUntil(lambda: view.data is not None, timeout=TIMEOUT_MS)
    return view


def test_a_grader_gets_no_dashboard(qtbot, desk_factory) -> None:
    desk = desk_factory("Dr. Boateng")
    assert not desk.controller.dashboard_action.isVisible()
    desk.controller.dashboard_action.trigger()  # triggered anyway: refused with the reason, nothing opens
    assert desk.controller.dashboard is None
    assert "only the adjudicator or admin role may see the agreement statistics" in \
        desk.controller.last_notice.text()
    desk.controller.last_notice.close()


def test_the_adjudicator_sees_the_figures_agreement_service_computes(qtbot, desk_factory) -> None:
    desk = desk_factory(DEMO_ADJUDICATOR)
    recompute_references(desk.store, desk.actor)
    view = open_dashboard(qtbot, desk)
    report = AgreementService(desk.store, desk.actor).dashboard()
    assert view.data.report.graders == report.graders

    rop = report.for_field("rop")
    first = rop.pairs[0]
    a, b = report.graders.index(first.grader_a), report.graders.index(first.grader_b)
    assert view.pair_matrix.item(a, b).text() == fmt_kappa(first.kappa) == view.pair_matrix.item(b, a).text()
    assert view.kappa_chart.values()["kappa"] == pytest.approx([p.kappa for p in rop.pairs])
    field_rows = {row[0]: row for row in view.field_table.texts()}
    assert field_rows["ROP presence"][5] == fmt_kappa(rop.fleiss_kappa)
    assert field_rows["ROP presence"][1] == str(rop.fleiss_items)
    assert "Fleiss' κ on rop presence: " + fmt_kappa(rop.fleiss_kappa) in view.fleiss_label.text()

    # weighted kappa of an ordinal field, through the pickers
    view.field_combo.setCurrentIndex(view.field_combo.findData("stage"))
    view.stat_combo.setCurrentIndex(view.stat_combo.findData("kappa_quadratic"))
    stage = report.for_field("stage").pairs[0]
    assert view.pair_matrix.item(a, b).text() == fmt_kappa(stage.kappa_quadratic)

    loo = {row[0]: row for row in view.loo_table.texts()}
    for grader in report.leave_one_out:
        assert loo[grader.grader][2:5] == [fmt_percent(grader.sensitivity), fmt_percent(grader.specificity),
                                            fmt_percent(grader.accuracy)]
    assert view.loo_chart.values()["sensitivity"] == pytest.approx([g.sensitivity for g in report.leave_one_out])
    methods = dict((row[0], row[1]) for row in view.method_table.texts())
    assert methods["Total"] == str(sum(report.references_by_method.values()))
    assert methods["Majority"] == str(report.references_by_method["majority"])
    assert not view.model_table.isVisible() and "No active binary ROP model" in view.model_label.text()


def test_export_csv_writes_every_figure(qtbot, desk_factory, tmp_path: Path, monkeypatch) -> None:
    desk = desk_factory(DEMO_ADMIN)
    view = open_dashboard(qtbot, desk)
    target = tmp_path / "agreement.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "CSV (*.csv)"))
    with qtbot.waitSignal(view.exported, timeout=5000):
        qtbot.mouseClick(view.export_button, Qt.MouseButton.LeftButton)
    with target.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(view.data.report.rows())
    fleiss = next(r for r in rows if r["table"] == "fleiss" and r["field"] == "rop")
    assert float(fleiss["value"]) == pytest.approx(view.data.report.for_field("rop").fleiss_kappa)


def test_the_treatment_decision_kappa_is_a_row_and_a_pickable_field(qtbot, desk_factory) -> None:
    from rop_desktop.services.exams import treatment_agreement

    desk = desk_factory(DEMO_ADJUDICATOR)
    view = open_dashboard(qtbot, desk)
    treatment = treatment_agreement(desk.store, desk.actor)
    assert treatment.pairs, "the demo's graders class the same exams"
    row = {r[0]: r for r in view.field_table.texts()}["Treatment decision (ETROP)"]
    assert row[1] == f"{treatment.fleiss_items} exams" and row[5] == fmt_kappa(treatment.fleiss_kappa)
    view.field_combo.setCurrentIndex(view.field_combo.findData("treatment class"))
    assert view.stat_combo.findData("kappa_quadratic") >= 0     # ordered classes: weighted kappas offered
    view.stat_combo.setCurrentIndex(view.stat_combo.findData("kappa_quadratic"))
    report = view.data.report
    first = treatment.pairs[0]
    a, b = report.graders.index(first.grader_a), report.graders.index(first.grader_b)
    assert view.pair_matrix.item(a, b).text() == fmt_kappa(first.kappa_quadratic)
    assert "exams rated by all" in view.fleiss_label.text()
