"""Who may do what, in the real main window (``build_window``) on the demo study.

A grader's window offers none of the elevated actions (assist mode, vote settings, the Admin
menu, the agreement dashboard, the adjudication queue, recompute, exports, training and model
management); an action object triggered anyway ends in the service's refusal, whose reason is
shown, and the study is left exactly as it was. Adjudicators and admins get what their role
allows. File → Switch grader… signs the account out and another in, in a new window; Change my
password… goes through the accounts service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QSettings, Qt
from sqlalchemy.exc import OperationalError

from rop_desktop.app import build_window
from rop_desktop.services import accounts
from rop_desktop.services.assist import assist_mode
from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_ADMIN, DEMO_GRADER, DEMO_PASSWORDS
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import AuditEvent, StudySetting
from rop_desktop.ui.sign_in import AccountMemory

SHOWN_TIMEOUT_MS = 15_000
GRADER = "Dr. Avery"  # a demo grader who submitted every image


def menu_titles(window) -> set[str]:
    return {a.text() for a in window.menuBar().actions() if a.isVisible()}


def side_tabs(window) -> list[str]:
    return [window.side_tabs.tabText(i) for i in range(window.side_tabs.count())]


def study_state(study: Study) -> tuple:
    """Everything a refused action could have changed: audit trail, settings, references, versions."""
    with study.session() as session:
        audit = session.query(AuditEvent).count()
        settings = sorted((s.key, repr(s.value)) for s in session.query(StudySetting).all())
        references = sorted((r.image_id, r.method, r.version_id) for r in repo.list_references(session))
        versions = len(repo.list_model_versions(session, None))
    return audit, settings, references, versions


@pytest.fixture
def memory(tmp_path: Path) -> AccountMemory:
    return AccountMemory(QSettings(str(tmp_path / "workstation.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def open_window(qtbot, demo_study_dir: Path, demo_actor, memory: AccountMemory) -> Iterator[Callable]:
    """``open_window(name)``: the real main window signed in as the demo account ``name``, shown."""
    studies: list[Study] = []
    windows: list = []

    def make(name: str):
        study = Study.open(demo_study_dir)
        studies.append(study)
        window = build_window(study, demo_actor(study, name), memory=memory)
        window.resize(1400, 900)
        windows.append(window)
        with qtbot.waitExposed(window):
            window.show()
        return window

    make.windows = windows  # windows opened by a switch are added by the tests, closed here too
    yield make
    for window in windows:
        if shiboken6.isValid(window):  # a switch closed and deleted its old window already
            window.close()
            window.deleteLater()
    for study in studies:
        study.close()


# ---------------------------------------------------------------------------- what each role sees
def test_a_graders_window_offers_no_elevated_action(open_window) -> None:
    window = open_window(GRADER)
    assert menu_titles(window) == {"&File", "&Interop", "E&xams"}  # no Reference, no Admin menu
    reference = window.wiring.reference
    for action in (reference.adjudication_action, reference.dashboard_action, reference.settings_action,
                   reference.recompute_action, reference.csv_action, reference.snapshot_action):
        assert not action.isVisible(), action.text()
    assert window.wiring.accounts.admin_menu is None and window.wiring.accounts.accounts_action is None
    assert not window.wiring.study_menu.import_files_action.isVisible()
    assert not window.wiring.interop.import_action.isVisible() and not window.wiring.interop.dicom_action.isVisible()
    assert window.wiring.accounts.switch_action.isVisible() and window.wiring.accounts.password_action.isVisible()
    models = window.wiring.prediction
    assert "Train" not in side_tabs(window) and models.training is None and models.training_service is None
    panel = models.versions_panel
    for widget in (panel.assist_check, panel.predict_all_button, panel.activate_button, panel.delete_button,
                   panel.export_button, panel.import_button):
        assert widget.isHidden(), widget.text()
    assert not panel.findChildren(type(panel.activate_button), "reportButton")
    assert not panel.uncertain_button.isHidden()  # the grader's own worklist order stays


def test_the_adjudicator_and_the_admin_get_what_their_role_allows(open_window) -> None:
    adjudicator = open_window(DEMO_ADJUDICATOR)
    assert menu_titles(adjudicator) == {"&File", "&Reference", "&Interop", "E&xams", "&Models"}
    reference = adjudicator.wiring.reference
    assert not reference.settings_action.isVisible()  # vote rules are a study setting: admins
    assert all(a.isVisible() for a in (reference.adjudication_action, reference.dashboard_action,
                                       reference.recompute_action, reference.csv_action, reference.snapshot_action))
    assert "Train" in side_tabs(adjudicator) and adjudicator.wiring.accounts.admin_menu is None
    assert adjudicator.wiring.prediction.versions_panel.assist_check.isHidden()
    assert not adjudicator.wiring.prediction.versions_panel.activate_button.isHidden()
    assert not adjudicator.wiring.study_menu.import_files_action.isVisible()

    admin = open_window(DEMO_ADMIN)
    assert menu_titles(admin) == {"&File", "&Reference", "&Interop", "E&xams", "&Admin", "&Models"}
    assert admin.wiring.reference.settings_action.isVisible() and admin.wiring.study_menu.import_files_action.isVisible()
    assert not admin.wiring.prediction.versions_panel.assist_check.isHidden()
    assert admin.wiring.interop.import_action.isVisible()


# ---------------------------------------------------------------------------- triggered anyway
def test_elevated_actions_triggered_anyway_are_refused_and_nothing_changes(qtbot, open_window) -> None:
    window = open_window(GRADER)
    study = window.wiring.study_menu.study
    before = study_state(study)
    reference = window.wiring.reference
    expected = {
        reference.settings_action: "only the admin role may change study settings",
        reference.adjudication_action: "only the adjudicator or admin role may see the reference standard",
        reference.dashboard_action: "only the adjudicator or admin role may see the agreement statistics",
        reference.recompute_action: "only the adjudicator or admin role may adjudicate or recompute",
        reference.csv_action: "only the adjudicator or admin role may export",
        reference.snapshot_action: "only the adjudicator or admin role may export",
    }
    for action, reason in expected.items():
        action.trigger()
        notice = reference.last_notice
        assert notice is not None and notice.isVisible(), action.text()
        assert f"{GRADER} is signed in as grader" in notice.text() and reason in notice.text(), notice.text()
        assert reason in window.statusBar().currentMessage()
        notice.close()
    assert reference.adjudication is None and reference.dashboard is None

    panel = window.wiring.prediction.versions_panel
    panel.assist_check.setChecked(True)  # the hidden switch flipped anyway: the service refuses
    assert not panel.assist_check.isChecked() and not assist_mode(study)
    assert "only the admin role may change study settings" in panel.message.text()
    window.wiring.prediction.versions.delete(1)
    assert "only the adjudicator or admin role may train or manage model versions" in panel.message.text()

    assert window.wiring.accounts.open_accounts() is None
    assert "only the admin role may manage accounts" in window.wiring.accounts.last_notice.text()
    window.wiring.accounts.last_notice.close()
    assert study_state(study) == before


# ---------------------------------------------------------------------------- switch grader
def test_switch_grader_signs_in_another_account_in_a_new_window(qtbot, open_window, memory) -> None:
    window = open_window(GRADER)
    with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=SHOWN_TIMEOUT_MS):
        window.wiring.workspace.start()
    assert {row.status for row in window.worklist.model.rows()} == {"submitted"}
    window.wiring.accounts.switch_action.trigger()
    dialog = window.wiring.accounts.sign_in_dialog
    assert dialog is not None and dialog.isVisible() and dialog.selected().name != DEMO_ADJUDICATOR
    dialog.select(DEMO_ADJUDICATOR)
    qtbot.keyClicks(dialog.password, DEMO_PASSWORDS[DEMO_ADJUDICATOR])
    with qtbot.waitSignal(window.wiring.accounts.switched, timeout=SHOWN_TIMEOUT_MS) as switched:
        qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    new = switched.args[0]
    open_window.windows.append(new)
    assert new is not window and new.isVisible() and not window.isVisible()
    assert new.wiring.workspace.service.actor.name == DEMO_ADJUDICATOR
    assert DEMO_ADJUDICATOR in new.grader_label.text() and "Adjudicator" in new.grader_label.text()
    assert "&Reference" in menu_titles(new)
    qtbot.waitUntil(lambda: new.wiring.workspace.shown is not None, timeout=SHOWN_TIMEOUT_MS)
    assert {row.status for row in new.worklist.model.rows()} == {"todo"}  # the adjudicator's own worklist
    assert memory.last(new.wiring.study_menu.study) == DEMO_ADJUDICATOR

    # and back to a grader: the remembered adjudicator is not offered by default
    new.wiring.accounts.switch_action.trigger()
    again = new.wiring.accounts.sign_in_dialog
    assert again.selected() is not None and again.selected().role.value == "grader"
    again.select(DEMO_GRADER)
    with qtbot.waitSignal(new.wiring.accounts.switched, timeout=SHOWN_TIMEOUT_MS) as switched:
        qtbot.keyClick(again.accounts, Qt.Key.Key_Return)
    third = switched.args[0]
    open_window.windows.append(third)
    assert third.wiring.workspace.service.actor.name == DEMO_GRADER and "&Reference" not in menu_titles(third)


def test_switching_waits_for_edits_still_waiting_for_the_database(qtbot, open_window) -> None:
    window = open_window(GRADER)
    server = {"down": True}

    def save() -> None:  # an edit whose database is unreachable until the test says otherwise
        if server["down"]:
            raise OperationalError("UPDATE grades ...", {}, ConnectionError("server closed the connection"))

    edits = window.wiring.workspace.edits
    assert edits.run(save, "a draft grade") is False  # kept, waiting for the database
    window.wiring.accounts.switch_action.trigger()
    assert window.wiring.accounts.sign_in_dialog is None  # nobody is signed out with an edit unsaved
    assert "still wait for the database" in window.wiring.accounts.last_notice.text()
    window.wiring.accounts.last_notice.close()
    server["down"] = False  # the connection is back: the switch saves the edit first, then asks
    window.wiring.accounts.switch_action.trigger()
    assert edits.pending == [] and window.wiring.accounts.sign_in_dialog.isVisible()
    window.wiring.accounts.sign_in_dialog.reject()


def test_a_cancelled_switch_keeps_the_account(qtbot, open_window) -> None:
    window = open_window(GRADER)
    window.wiring.accounts.switch_action.trigger()
    window.wiring.accounts.sign_in_dialog.reject()
    qtbot.wait(10)
    assert window.isVisible() and window.wiring.workspace.service.actor.name == GRADER


# ---------------------------------------------------------------------------- own password
def test_change_my_password_goes_through_the_service(qtbot, open_window) -> None:
    window = open_window(DEMO_ADMIN)
    study = window.wiring.study_menu.study
    dialog = window.wiring.accounts.change_password()
    qtbot.keyClicks(dialog.current, "not my password")
    qtbot.keyClicks(dialog.new, "a new admin password")
    qtbot.keyClicks(dialog.again, "a new admin password")
    dialog.accept()
    assert dialog.isVisible() and dialog.error.text() == "The current password is wrong."
    dialog.current.setText(DEMO_PASSWORDS[DEMO_ADMIN])
    dialog.again.setText("a different one")
    dialog.accept()
    assert dialog.isVisible() and "differ" in dialog.error.text()
    dialog.again.setText("a new admin password")
    dialog.accept()
    assert not dialog.isVisible() and "password is changed" in window.statusBar().currentMessage()
    assert accounts.sign_in(study, DEMO_ADMIN, "a new admin password").name == DEMO_ADMIN
    with pytest.raises(accounts.AuthenticationError):
        accounts.sign_in(study, DEMO_ADMIN, DEMO_PASSWORDS[DEMO_ADMIN])


def test_an_account_deactivated_while_signed_in_is_refused_at_its_next_edit(qtbot, open_window,
                                                                            demo_actor) -> None:
    window = open_window(DEMO_GRADER)
    with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=SHOWN_TIMEOUT_MS):
        window.wiring.workspace.start()
    study, me = window.wiring.study_menu.study, window.wiring.workspace.service.actor
    image = window.wiring.workspace.shown
    accounts.set_active(study, demo_actor(study, DEMO_ADMIN), me.id, False)  # by the admin, elsewhere
    before = study_state(study)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, "n")  # a draft edit: refused by the service, the reason shown
    message = window.statusBar().currentMessage()
    assert f"The account of {DEMO_GRADER} is deactivated" in message
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)  # a submit: refused too
    assert "deactivated" in window.statusBar().currentMessage()
    with study.session() as session:
        assert repo.grade_for(session, image, me.id) is None
    assert study_state(study) == before
