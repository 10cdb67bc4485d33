"""The sign-in dialog: pick your account, type its password when it has one.

Everything it decides is the accounts service's: :func:`~rop_desktop.services.accounts.sign_in`
checks the password (and refuses, with the lock-out sentence, after repeated wrong ones),
:func:`~rop_desktop.services.accounts.needs_password` says whether to ask for one, and a new
*grader* profile is made only through :func:`~rop_desktop.services.accounts.register_grader`,
where the study allows self-registration (the form is not shown otherwise). Nobody picks a role
here: roles are given by an admin (Admin → Graders…).

Refusals are shown in the dialog itself, never in a second modal box: after
:data:`MAX_TRIES` failed attempts it gives up (Sign in is disabled; only Cancel is left). The
dialog is driven the same way by a user and by a test: select a row, type, press Enter or OK.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rop_desktop.services import accounts, db_roles
from rop_desktop.services.db_roles import PgRoleError
from rop_desktop.services.grading import GraderInfo
from rop_desktop.services.policy import AccessDenied, Actor
from rop_desktop.services.studies import Study

#: Failed sign-ins (wrong password, locked account, refused profile) before the dialog gives up.
MAX_TRIES = 3
ERROR_STYLE = "color: #ef9a9a;"


class SignInDialog(QDialog):
    """Lists ``choices`` (the study's active accounts); OK signs the selected one in.

    ``signedIn(Actor)`` is emitted, and :attr:`actor` set, when the service accepts; then the
    dialog closes (accepted). ``remember(actor)`` is called first (the workstation's memory of
    the last account). ``preselect`` names the row selected at start (None: no row).
    """

    signedIn = Signal(object)  # Actor

    def __init__(
        self,
        study: Study,
        choices: Sequence[GraderInfo],
        *,
        preselect: str | None = None,
        hint: str | None = None,
        notice: str | None = None,
        self_registration: bool = False,
        remember: Callable[[Actor], None] | None = None,
        first_admin: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("signInDialog")
        self.setWindowTitle("Sign in")
        self.setMinimumWidth(420)
        self.study = study
        self.actor: Actor | None = None
        #: the study as the signed-in account uses it (on PostgreSQL: connected as its own
        #: database role) and a warning for the status bar (see ``db_roles.connect_signed_in``)
        self.connection: Study | None = None
        self.connection_note: str | None = None
        self._typed: str | None = None  # the password typed, only between the check and the connection
        self.tries = 0
        self._remember = remember
        self._self_registration = self_registration or first_admin
        self._first_admin = first_admin

        self.accounts = QListWidget()
        self.accounts.setObjectName("signInAccounts")
        for info in choices:
            item = QListWidgetItem(f"{info.name}  ·  {info.role.label}")
            item.setData(Qt.ItemDataRole.UserRole, info)
            self.accounts.addItem(item)
        self.accounts.itemDoubleClicked.connect(lambda _item: self.accept())
        self.password = QLineEdit()
        self.password.setObjectName("signInPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.error = QLabel(notice or "")
        self.error.setObjectName("signInError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.hint = QLabel(hint or "")
        self.hint.setObjectName("signInHint")
        self.hint.setWordWrap(True)
        self.hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint.setVisible(bool(hint))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Sign in")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Sign in as:"))
        layout.addWidget(self.accounts, 1)
        form = QFormLayout()
        form.addRow("Password", self.password)
        layout.addLayout(form)
        self.new_name = QLineEdit()
        self.new_name.setObjectName("signInNewName")
        self.new_name.setPlaceholderText("Your name")
        self.new_password = QLineEdit()
        self.new_password.setObjectName("signInNewPassword")
        self.new_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.new_password.setPlaceholderText("optional where the study allows")
        self.new_password_again = QLineEdit()
        self.new_password_again.setObjectName("signInNewPasswordAgain")
        self.new_password_again.setEchoMode(QLineEdit.EchoMode.Password)
        self.registration = QGroupBox(
            "This new study has no account yet: make its first admin"
            if first_admin
            else "…or make a new grader profile"
        )
        new_form = QFormLayout(self.registration)
        new_form.addRow("Name", self.new_name)
        new_form.addRow("Password", self.new_password)
        if first_admin:
            self.new_password.setPlaceholderText(f"at least {accounts.MIN_PASSWORD_LENGTH} characters")
            new_form.addRow("Password again", self.new_password_again)
            self.ok_button.setText("Create admin and sign in")
        self.registration.setVisible(self._self_registration)
        layout.addWidget(self.registration)
        layout.addWidget(self.hint)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        if not choices and not self._self_registration:
            self.ok_button.setEnabled(False)

        self.accounts.itemSelectionChanged.connect(self._on_account)
        self.select(preselect)
        self._on_account()

    # ------------------------------------------------------------------ state
    def select(self, name: str | None) -> None:
        """Select the account called ``name`` (none when None or not listed)."""
        for row in range(self.accounts.count()):
            if self.account_at(row).name == name:
                self.accounts.setCurrentRow(row)
                return
        self.accounts.setCurrentRow(-1)

    def account_at(self, row: int) -> GraderInfo:
        return self.accounts.item(row).data(Qt.ItemDataRole.UserRole)

    def selected(self) -> GraderInfo | None:
        """The selected account (a list's "current" row without selection does not count: focusing
        the list must never pick an account for the user)."""
        items = self.accounts.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def names(self) -> list[str]:
        return [self.account_at(row).name for row in range(self.accounts.count())]

    def _on_account(self) -> None:
        """Ask for a password only where the service says the account signs in with one."""
        info = self.selected()
        asks = info is not None and accounts.needs_password(self.study, info.name)
        self.password.clear()
        self.password.setEnabled(asks)
        self.password.setPlaceholderText("" if asks or info is None else "no password for this account")
        (self.password if asks else self.accounts).setFocus()

    # ------------------------------------------------------------------ signing in
    def accept(self) -> None:
        """Sign in (or register) through the service; refusals are shown here and counted."""
        if self.gave_up():
            return
        try:
            actor = self._attempt()
        except (accounts.AccountError, AccessDenied) as exc:
            self._refused(exc.reason)
            return
        if actor is None:
            return
        try:
            self.connection, self.connection_note = db_roles.connect_signed_in(self.study, actor, self._typed)
        except (PgRoleError, AccessDenied) as exc:
            self._refused(exc.reason)
            return
        finally:
            self._typed = None
        self.actor = actor
        if self._remember is not None:
            self._remember(actor)
        self.signedIn.emit(actor)
        super().accept()

    def _attempt(self) -> Actor | None:
        new_name = self.new_name.text().strip() if self._self_registration else ""
        if new_name and self._first_admin:
            if self.new_password.text() != self.new_password_again.text():
                self.show_error("The two passwords differ: type the new admin's password twice.")
                return None
            self._typed = self.new_password.text()
            return accounts.create_first_admin(self.study, new_name, self._typed)
        if new_name:
            self._typed = self.new_password.text() or None
            return accounts.register_grader(self.study, new_name, self._typed)
        info = self.selected()
        if info is None:
            self.show_error(
                "Pick your account in the list."
                if self.accounts.count()
                else "This study has no account you can sign in with."
            )
            return None
        if self.password.isEnabled() and not self.password.text():
            self.show_error(f"Type the password of {info.name}.")
            self.password.setFocus()
            return None
        self._typed = self.password.text() or None
        return accounts.sign_in(self.study, info.name, self._typed)

    def gave_up(self) -> bool:
        """Whether :data:`MAX_TRIES` sign-ins failed in this dialog (only Cancel is left)."""
        return self.tries >= MAX_TRIES

    def _refused(self, reason: str) -> None:
        self._typed = None
        self.tries += 1
        self.password.clear()
        if self.gave_up():
            self.show_error(
                f"{reason}\n{MAX_TRIES} failed sign-ins: nobody is signed in. Close this window; "
                "an admin can reset a forgotten password."
            )
            for widget in (self.ok_button, self.password, self.accounts, self.registration):
                widget.setEnabled(False)
            return
        left = MAX_TRIES - self.tries
        self.show_error(f"{reason} ({left} more {'try' if left == 1 else 'tries'}.)")
        (self.password if self.password.isEnabled() else self.accounts).setFocus()

    def show_error(self, text: str) -> None:
        self.error.setText(text)
