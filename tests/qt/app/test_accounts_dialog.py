"""Admin → Graders… in the real window, driven through the dialog's widgets: the admin adds a
grader with a password, gives a role, resets a password, deactivates and reactivates; the
accounts service's refusals (a taken name, an elevated account without a password, the last
admin) are shown in the dialog and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt

from rop_desktop.app import build_window
from rop_desktop.domain.labels import Role
from rop_desktop.services import accounts
from rop_desktop.services.demo_study import DEMO_ADMIN, DEMO_GRADER
from rop_desktop.store import Study
from rop_desktop.ui.accounts_dialog import AccountsDialog
from rop_desktop.ui.sign_in import AccountMemory

NEW = "Dr. Newcomer"
PASSWORD = "newcomer's password"


@pytest.fixture
def admin_window(qtbot, demo_study_dir: Path, demo_actor, tmp_path: Path) -> Iterator:
    study = Study.open(demo_study_dir)
    memory = AccountMemory(QSettings(str(tmp_path / "workstation.ini"), QSettings.Format.IniFormat))
    window = build_window(study, demo_actor(study, DEMO_ADMIN), memory=memory)
    with qtbot.waitExposed(window):
        window.show()
    yield window
    window.close()
    window.deleteLater()
    study.close()


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def row(dialog: AccountsDialog, name: str) -> list[str]:
    """The dialog's table row of ``name``: name, role, active, password."""
    for r in range(dialog.table.rowCount()):
        if dialog.table.item(r, 0).text() == name:
            return [dialog.table.item(r, c).text() for c in range(dialog.table.columnCount())]
    raise AssertionError(f"{name} is not listed")


def open_accounts(window) -> AccountsDialog:
    window.wiring.accounts.accounts_action.trigger()  # Admin → Graders…
    dialog = window.wiring.accounts.dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_the_admin_adds_a_grader_gives_a_role_and_deactivates(qtbot, admin_window) -> None:
    study = admin_window.wiring.study_menu.study
    dialog = open_accounts(admin_window)
    assert row(dialog, DEMO_ADMIN) == [DEMO_ADMIN, "Admin", "yes", "yes"]
    assert row(dialog, DEMO_GRADER) == [DEMO_GRADER, "Grader", "yes", "no"]

    qtbot.keyClicks(dialog.new_name, NEW)
    qtbot.keyClicks(dialog.new_password, PASSWORD)
    qtbot.keyClicks(dialog.new_again, "a typo in it")
    click(qtbot, dialog.add_button)
    assert "differ" in dialog.message.text() and NEW not in [a.name for a in dialog.accounts()]
    dialog.new_again.clear()
    qtbot.keyClicks(dialog.new_again, PASSWORD)
    click(qtbot, dialog.add_button)
    assert f"{NEW} added as grader" in dialog.message.text()
    assert row(dialog, NEW) == [NEW, "Grader", "yes", "yes"] and dialog.new_name.text() == ""
    assert accounts.sign_in(study, NEW, PASSWORD).role is Role.GRADER

    dialog.select_name(NEW)
    dialog.role.setCurrentIndex(dialog.role.findData(Role.ADJUDICATOR.value))
    click(qtbot, dialog.set_role_button)
    assert row(dialog, NEW)[1] == "Adjudicator" and "Role changed to adjudicator" in dialog.message.text()
    assert accounts.sign_in(study, NEW, PASSWORD).role is Role.ADJUDICATOR

    qtbot.keyClicks(dialog.reset_password, "a fresh password")
    qtbot.keyClicks(dialog.reset_again, "a fresh password")
    click(qtbot, dialog.reset_button)
    assert "Password set" in dialog.message.text()
    assert accounts.sign_in(study, NEW, "a fresh password").name == NEW

    assert dialog.active_button.text() == "Deactivate"
    click(qtbot, dialog.active_button)
    assert row(dialog, NEW)[2] == "no" and dialog.active_button.text() == "Reactivate"
    assert NEW not in [c.name for c in accounts.sign_in_choices(study)]
    with pytest.raises(accounts.AuthenticationError):
        accounts.sign_in(study, NEW, "a fresh password")
    click(qtbot, dialog.active_button)
    assert row(dialog, NEW)[2] == "yes"


def test_refusals_are_shown_in_the_dialog_and_change_nothing(qtbot, admin_window) -> None:
    study = admin_window.wiring.study_menu.study
    dialog = open_accounts(admin_window)
    before = dialog.accounts()

    qtbot.keyClicks(dialog.new_name, DEMO_ADMIN)  # a taken name
    qtbot.keyClicks(dialog.new_password, PASSWORD)
    qtbot.keyClicks(dialog.new_again, PASSWORD)
    click(qtbot, dialog.add_button)
    assert f"There is already an account called '{DEMO_ADMIN}'" in dialog.message.text()

    dialog.clear_new_account()
    qtbot.keyClicks(dialog.new_name, "Dr. No Password")
    dialog.new_role.setCurrentIndex(dialog.new_role.findData(Role.ADMIN.value))
    click(qtbot, dialog.add_button)  # an elevated account without a password
    assert "must have a password" in dialog.message.text()

    dialog.select_name(DEMO_GRADER)  # a grader without a password cannot be made adjudicator
    dialog.role.setCurrentIndex(dialog.role.findData(Role.ADJUDICATOR.value))
    click(qtbot, dialog.set_role_button)
    assert f"{DEMO_GRADER} has no password" in dialog.message.text()

    dialog.select_name(DEMO_ADMIN)  # the study's last admin keeps the role and stays active
    click(qtbot, dialog.active_button)
    assert "last active admin" in dialog.message.text()
    dialog.role.setCurrentIndex(dialog.role.findData(Role.GRADER.value))
    click(qtbot, dialog.set_role_button)
    assert "last active admin" in dialog.message.text()

    assert dialog.accounts() == before
    assert [a for a in accounts.list_accounts(study, admin_window.wiring.accounts.actor)] == before
