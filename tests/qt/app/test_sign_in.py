"""Sign-in at start, through the real dialog's widgets: no role to pick, no new profile unless the
study allows it, an elevated account never offered by default (not even when this workstation
remembers it), passwords asked whenever the accounts service says so and checked by it, refusals
and the lock-out shown in the dialog, three failed tries and it gives up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QComboBox, QDialog

from rop_desktop.domain.labels import Role
from rop_desktop.services import accounts
from rop_desktop.services.demo_study import DEMO_ADMIN, DEMO_GRADER, DEMO_PASSWORDS
from rop_desktop.services.policy import AccessDenied, Actor
from rop_desktop.store import Study
from rop_desktop.ui.grader_dialog import MAX_TRIES, SignInDialog
from rop_desktop.ui.sign_in import AccountMemory, make_sign_in_dialog, sign_in

PASSWORD = "a long enough secret"
WRONG = "not the password"


@pytest.fixture
def study(tmp_path: Path, account) -> Iterator[Study]:
    """A study with an admin, an adjudicator, two graders (no password) and a deactivated grader."""
    with Study.create(tmp_path / "s", name="Clinic study") as created:
        account(created, "Boss", "admin", password=PASSWORD)
        account(created, "Dr. Judge", "adjudicator", password=PASSWORD)
        for name in ("Dr. Bell", "Dr. Abel", "Dr. Gone"):
            account(created, name)
        gone = next(c for c in accounts.sign_in_choices(created) if c.name == "Dr. Gone")
        boss = accounts.sign_in(created, "Boss", PASSWORD)
        accounts.set_active(created, boss, gone.id, False)
        yield created


@pytest.fixture
def memory(tmp_path: Path) -> AccountMemory:
    return AccountMemory(QSettings(str(tmp_path / "workstation.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def open_dialog(qtbot) -> Callable[..., SignInDialog]:
    """``open_dialog(study, **options)``: the sign-in dialog as the app builds it, shown (not exec'd)."""

    def make(study: Study, **options: object) -> SignInDialog:
        dialog = make_sign_in_dialog(study, **options)
        qtbot.addWidget(dialog)
        with qtbot.waitExposed(dialog):
            dialog.show()
        return dialog

    return make


def type_password(qtbot, dialog: SignInDialog, text: str) -> None:
    """Type the password and press Enter, as a user would."""
    assert dialog.password.isEnabled()
    dialog.password.clear()
    qtbot.keyClicks(dialog.password, text)
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)


def select(dialog: SignInDialog, name: str) -> None:
    dialog.select(name)
    assert dialog.selected() is not None and dialog.selected().name == name


def test_lists_the_active_accounts_graders_first_with_no_role_to_pick(open_dialog, study: Study) -> None:
    dialog = open_dialog(study)
    assert dialog.names() == ["Dr. Abel", "Dr. Bell", "Dr. Judge", "Boss"]  # the deactivated one is not offered
    assert dialog.findChildren(QComboBox) == []  # nobody picks a role here
    assert dialog.registration.isHidden()  # the study does not allow new profiles
    assert dialog.hint.isHidden()  # not the demo study: no passwords printed


def test_an_elevated_account_is_never_preselected(open_dialog, study: Study, memory: AccountMemory) -> None:
    assert open_dialog(study, memory=memory).selected().name == "Dr. Abel"  # nothing remembered: first grader
    memory.remember(study, Actor(0, "Boss", Role.ADMIN))  # the admin signed in here last
    assert open_dialog(study, memory=memory).selected().name == "Dr. Abel"
    memory.remember(study, Actor(0, "Dr. Judge", Role.ADJUDICATOR))
    assert open_dialog(study, memory=memory, fallback="Dr. Judge").selected().name == "Dr. Abel"
    memory.remember(study, Actor(0, "Dr. Bell", Role.GRADER))  # a remembered grader is offered again
    assert open_dialog(study, memory=memory).selected().name == "Dr. Bell"


def test_no_grader_no_preselection(open_dialog, tmp_path: Path, account) -> None:
    with Study.create(tmp_path / "admins-only") as only_admins:
        account(only_admins, "Boss", "admin", password=PASSWORD)
        dialog = open_dialog(only_admins)
        assert dialog.names() == ["Boss"] and dialog.selected() is None
        dialog.ok_button.click()
        assert dialog.actor is None and "Pick your account" in dialog.error.text()


def test_a_grader_without_password_signs_in_with_enter_and_is_remembered(qtbot, open_dialog, study: Study,
                                                                          memory: AccountMemory) -> None:
    dialog = open_dialog(study, memory=memory)
    select(dialog, "Dr. Bell")
    assert not dialog.password.isEnabled()  # the service says this account has no password to ask
    with qtbot.waitSignal(dialog.signedIn, timeout=5000) as signed:
        qtbot.keyClick(dialog.accounts, Qt.Key.Key_Return)
    actor = signed.args[0]
    assert (actor.name, actor.role) == ("Dr. Bell", Role.GRADER) and dialog.actor == actor
    assert dialog.result() == SignInDialog.DialogCode.Accepted
    assert memory.last(study) == "Dr. Bell"


def test_wrong_password_is_refused_and_the_right_one_signs_in(qtbot, open_dialog, study: Study) -> None:
    dialog = open_dialog(study)
    select(dialog, "Dr. Judge")
    assert dialog.password.isEnabled()
    dialog.ok_button.click()  # no password typed: asked for, not counted
    assert "Type the password of Dr. Judge" in dialog.error.text() and dialog.tries == 0
    type_password(qtbot, dialog, WRONG)
    assert dialog.actor is None and dialog.isVisible() and dialog.tries == 1
    assert "wrong password" in dialog.error.text() and dialog.password.text() == ""
    with qtbot.waitSignal(dialog.signedIn, timeout=5000) as signed:
        type_password(qtbot, dialog, PASSWORD)
    assert (signed.args[0].name, signed.args[0].role) == ("Dr. Judge", Role.ADJUDICATOR)


def test_three_failed_tries_give_up_and_repeated_wrong_passwords_lock_the_account(qtbot, open_dialog,
                                                                                  study: Study) -> None:
    dialog = open_dialog(study)
    select(dialog, "Boss")
    for _ in range(MAX_TRIES):
        type_password(qtbot, dialog, WRONG)
    assert dialog.gave_up() and not dialog.ok_button.isEnabled() and not dialog.password.isEnabled()
    assert f"{MAX_TRIES} failed sign-ins: nobody is signed in" in dialog.error.text()
    dialog.accept()  # Enter or a script: nothing more is tried
    assert dialog.tries == MAX_TRIES and dialog.actor is None

    again = open_dialog(study)  # the account counts the failures, not the dialog
    select(again, "Boss")
    failures_left = accounts.FREE_FAILURES - MAX_TRIES
    for _ in range(failures_left):
        type_password(qtbot, again, WRONG)
    type_password(qtbot, again, PASSWORD)  # the right password, too late: locked
    assert again.actor is None
    assert "Too many wrong passwords for Boss: try again in" in again.error.text()
    assert "ask an admin to reset the password" in again.error.text()


def test_new_profiles_only_where_the_study_allows_and_only_graders(qtbot, open_dialog, study: Study) -> None:
    boss = accounts.sign_in(study, "Boss", PASSWORD)
    accounts.set_study_setting(study, boss, accounts.SELF_REGISTRATION_SETTING, True)
    dialog = open_dialog(study)
    assert not dialog.registration.isHidden()
    qtbot.keyClicks(dialog.new_name, "Dr. New")
    with qtbot.waitSignal(dialog.signedIn, timeout=5000) as signed:
        dialog.ok_button.click()
    assert (signed.args[0].name, signed.args[0].role) == ("Dr. New", Role.GRADER)

    taken = open_dialog(study)
    qtbot.keyClicks(taken.new_name, "Boss")  # an existing name is refused, not taken over
    taken.ok_button.click()
    assert taken.actor is None and "already an account called 'Boss'" in taken.error.text()


def test_the_demo_study_prints_its_accounts_and_enter_signs_in_the_demo_user(qtbot, open_dialog,
                                                                              demo_study_dir: Path) -> None:
    with Study.open(demo_study_dir) as demo:
        dialog = open_dialog(demo, fallback=DEMO_GRADER)  # what `rop-desktop --demo` does
        assert not dialog.hint.isHidden()
        for name, password in DEMO_PASSWORDS.items():
            assert name in dialog.hint.text() and password in dialog.hint.text()
        assert dialog.selected().name == DEMO_GRADER and DEMO_ADMIN in dialog.names()
        with qtbot.waitSignal(dialog.signedIn, timeout=5000) as signed:
            qtbot.keyClick(dialog.accounts, Qt.Key.Key_Return)
        assert signed.args[0].name == DEMO_GRADER


# ---------------------------------------------------------------------------- sign_in() at start
class ModalWatch:
    """Watches, while ``sign_in()`` runs its modal ``exec()``, for the sign-in dialog.

    ``expect(check)``: when the dialog opens, run ``check`` on it (which answers or cancels it).
    ``forbid()``: any modal dialog that opens is closed at once (not after the conftest guard's
    interval) and recorded, so a password prompt where none belongs fails the test in milliseconds
    instead of waiting. ``problems`` collects what went wrong inside the event loop; the poll
    timer stops when the test ends, so it never answers a later test's dialog.
    """

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.opened = 0
        self._check: Callable[[SignInDialog], None] | None = None
        self._timer = QTimer()
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._look)

    def expect(self, check: Callable[[SignInDialog], None]) -> ModalWatch:
        self._check = check
        self._timer.start()
        return self

    def forbid(self) -> ModalWatch:
        self._check = None
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.stop()

    def _look(self) -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            return
        self.opened += 1
        if self._check is None or not isinstance(dialog, SignInDialog):
            self.problems.append(f"an unexpected modal dialog opened: {type(dialog).__name__} “{dialog.windowTitle()}”")
            if isinstance(dialog, QDialog):
                dialog.reject()
            else:
                dialog.close()
            return
        self._timer.stop()  # one dialog per expect()
        try:
            self._check(dialog)
        except AssertionError as exc:  # raised in the event loop: report it to the test
            self.problems.append(str(exc) or repr(exc))
            dialog.reject()


@pytest.fixture
def modal() -> Iterator[ModalWatch]:
    watch = ModalWatch()
    yield watch
    watch.stop()


def test_a_named_grader_without_password_signs_in_without_a_dialog(study: Study, modal: ModalWatch) -> None:
    modal.forbid()
    actor = sign_in(study, "Dr. Bell")
    assert modal.problems == [] and modal.opened == 0
    assert actor is not None and actor.name == "Dr. Bell"


def test_a_named_account_with_a_password_gets_the_dialog_on_its_row(qtbot, study: Study,
                                                                     modal: ModalWatch) -> None:
    def answer(dialog: SignInDialog) -> None:
        assert dialog.selected().name == "Boss"  # named on the command line: chosen by the user
        type_password(qtbot, dialog, PASSWORD)

    modal.expect(answer)
    actor = sign_in(study, "Boss")
    assert modal.problems == [] and modal.opened == 1
    assert actor is not None and actor.role is Role.ADMIN


@pytest.mark.parametrize("name, notice", [("Nobody", "There is no active account called “Nobody”"),
                                          ("Dr. Gone", "deactivated account")])
def test_an_unknown_or_deactivated_name_is_refused(study: Study, name: str, notice: str,
                                                    modal: ModalWatch) -> None:
    def answer(dialog: SignInDialog) -> None:
        assert notice in dialog.error.text()
        assert name not in dialog.names()
        dialog.reject()

    modal.expect(answer)
    assert sign_in(study, name) is None
    assert modal.problems == [] and modal.opened == 1


# ---------------------------------------------------------------------------- a new study's first admin
def test_a_new_study_without_accounts_makes_its_first_admin_in_the_dialog(tmp_path: Path, open_dialog,
                                                                        qtbot) -> None:
    with Study.create(tmp_path / "new", name="New study") as new:
        dialog = open_dialog(new)
        assert dialog.registration.isVisible() and "first admin" in dialog.registration.title()
        qtbot.keyClicks(dialog.new_name, "Dr. Founder")
        qtbot.keyClicks(dialog.new_password, PASSWORD)
        qtbot.keyClicks(dialog.new_password_again, PASSWORD + "x")
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        assert "differ" in dialog.error.text() and not accounts.has_admin(new)
        dialog.new_password_again.clear()
        qtbot.keyClicks(dialog.new_password_again, PASSWORD)
        with qtbot.waitSignal(dialog.signedIn) as signed:
            qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        assert signed.args[0].role is Role.ADMIN and accounts.has_admin(new)
        assert accounts.sign_in(new, "Dr. Founder", PASSWORD).role is Role.ADMIN


def test_a_study_with_accounts_but_no_admin_never_offers_an_admin_in_the_dialog(tmp_path: Path, open_dialog,
                                                                               account) -> None:
    """An old study (graders, no admin): whoever sits down must not become its admin from the window."""
    with Study.create(tmp_path / "old", name="Old study") as old:
        account(old, "Dr. Bell")
        dialog = open_dialog(old)
        assert not dialog.registration.isVisible()
        assert "first admin" not in dialog.registration.title()
        with pytest.raises(AccessDenied):
            accounts.register_grader(old, "Sock puppet")  # nor a new profile: the study does not allow it
