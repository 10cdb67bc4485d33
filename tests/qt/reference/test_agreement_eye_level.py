"""The agreement dashboard says at which level its figures are, and at eye level shows the figures
of the graders' confirmed eye-level grades (one rating per grader per exam)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from rop_desktop.services import exams
from rop_desktop.services.agreement import AgreementService
from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_ADMIN
from rop_desktop.ui.agreement.data import fmt_kappa

from .conftest import demo_sign_in
from .test_agreement_dashboard import open_dashboard


def test_the_dashboard_follows_the_vote_level(qtbot, desk_factory) -> None:
    desk = desk_factory(DEMO_ADJUDICATOR)
    view = open_dashboard(qtbot, desk)
    assert view.level_label.text().startswith("Figures at image level")
    assert view.field_table.titles[1] == "Images, all graders"
    images = view.data.report.n_images

    exams.set_vote_level(desk.store, demo_sign_in(desk.store, DEMO_ADMIN), "eye")
    with qtbot.waitSignal(view.reportShown, timeout=30_000):
        qtbot.mouseClick(view.refresh_button, Qt.MouseButton.LeftButton)
    report = AgreementService(desk.store, desk.actor).dashboard()
    assert view.data.report.level == report.level == "eye" and report.n_images < images
    assert view.level_label.text().startswith("Figures at eye level")
    assert view.status.text().startswith(f"{report.n_images} exams graded by 4 graders")
    assert view.field_table.titles[1] == "Exams, all graders" and view.loo_table.titles[1] == "Exams"
    rop = report.for_field("rop")
    rows = {row[0]: row for row in view.field_table.texts()}
    assert rows["ROP presence"][1] == str(rop.fleiss_items) and rows["ROP presence"][5] == fmt_kappa(rop.fleiss_kappa)
    assert "exams rated by all 4 graders" in view.fleiss_label.text()
