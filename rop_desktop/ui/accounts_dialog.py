"""Views of the accounts: Admin → Graders… and File → Change my password….

Views only: :class:`AccountsDialog` shows the accounts and emits what the admin asks for;
:class:`~rop_desktop.ui.controllers.accounts.AccountsController` calls the accounts service with
the signed-in actor and shows its answer (or its refusal) in :meth:`AccountsDialog.show_message`.
Every form is inline (no second modal dialog), so the dialog is driven the same way by a user and
by a test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rop_desktop.domain.labels import Role
from rop_desktop.services.accounts import Account, AccountError
from rop_desktop.services.policy import AccessDenied
from rop_desktop.ui.tables import row_picker_table

COLUMNS = ("Name", "Role", "Active", "Password")
ID_ROLE = Qt.ItemDataRole.UserRole + 1
ERROR_STYLE = "color: #ef9a9a;"


def _password_edit(placeholder: str = "") -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setPlaceholderText(placeholder)
    return edit


def _role_combo() -> QComboBox:
    """Roles by label; the item data is the role's value (Qt would turn the enum into a plain str)."""
    combo = QComboBox()
    for role in Role:
        combo.addItem(role.label, role.value)
    return combo


def _role(combo: QComboBox) -> Role:
    return Role(combo.currentData())


class AccountsDialog(QDialog):
    """The study's accounts (name, role, active, has a password) and the admin's actions on them.

    Signals: ``addRequested(name, role, password, again)``, ``roleRequested(id, role)``,
    ``passwordRequested(id, password, again)`` (both empty: remove the password),
    ``activeRequested(id, active)``.
    """

    addRequested = Signal(str, object, str, str)
    roleRequested = Signal(int, object)
    passwordRequested = Signal(int, str, str)
    activeRequested = Signal(int, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("accountsDialog")
        self.setWindowTitle("Graders")
        self.setMinimumWidth(560)
        self._accounts: list[Account] = []

        self.table = row_picker_table(COLUMNS)

        # the selected account
        self.role = _role_combo()
        self.set_role_button = QPushButton("Set role")
        self.active_button = QPushButton("Deactivate")
        self.reset_password = _password_edit("new password")
        self.reset_again = _password_edit("again")
        self.reset_button = QPushButton("Reset password")
        self.reset_button.setToolTip(
            "Set a new password (also lifts a lock-out); both fields empty removes the "
            "password where the account's role and the study allow"
        )
        selected = QGroupBox("Selected account")
        selected_form = QFormLayout(selected)
        selected_form.addRow("Role", self._row(self.role, self.set_role_button, self.active_button))
        selected_form.addRow("Password", self._row(self.reset_password, self.reset_again, self.reset_button))

        # a new account
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("name")
        self.new_role = _role_combo()
        self.new_password = _password_edit("password")
        self.new_again = _password_edit("again")
        self.add_button = QPushButton("Add")
        add = QGroupBox("Add an account")
        add_form = QFormLayout(add)
        add_form.addRow("Name", self._row(self.new_name, self.new_role))
        add_form.addRow("Password", self._row(self.new_password, self.new_again, self.add_button))

        self.message = QLabel()
        self.message.setObjectName("accountsMessage")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(selected)
        layout.addWidget(add)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

        self.table.itemSelectionChanged.connect(self._on_selection)
        self.add_button.clicked.connect(self._add)
        self.set_role_button.clicked.connect(self._set_role)
        self.reset_button.clicked.connect(self._reset)
        self.active_button.clicked.connect(self._toggle_active)
        self._on_selection()

    @staticmethod
    def _row(*widgets: QWidget) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in widgets:
            layout.addWidget(widget)
        return row

    # ------------------------------------------------------------------ data in
    def set_accounts(self, accounts: Sequence[Account]) -> None:
        """Show the accounts; the selection stays on the account it was on."""
        selected = self.selected_id()
        self._accounts = list(accounts)
        self.table.setRowCount(len(self._accounts))
        for row, account in enumerate(self._accounts):
            cells = (
                account.name,
                account.role.label,
                "yes" if account.active else "no",
                "yes" if account.has_password else "no",
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(ID_ROLE, account.id)
                if not account.active:
                    item.setForeground(QColor("#8a8a8a"))
                self.table.setItem(row, col, item)
        self.select(selected)

    def accounts(self) -> list[Account]:
        return list(self._accounts)

    def select(self, account_id: int | None) -> None:
        for row, account in enumerate(self._accounts):
            if account.id == account_id:
                self.table.selectRow(row)
                self._on_selection()
                return
        self.table.clearSelection()
        self._on_selection()

    def select_name(self, name: str) -> None:
        self.select(next((a.id for a in self._accounts if a.name == name), None))

    def selected(self) -> Account | None:
        rows = self.table.selectionModel().selectedRows()
        return self._accounts[rows[0].row()] if rows and rows[0].row() < len(self._accounts) else None

    def selected_id(self) -> int | None:
        account = self.selected()
        return account.id if account is not None else None

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet(ERROR_STYLE if error else "")
        self.message.setText(text)

    def clear_new_account(self) -> None:
        for edit in (self.new_name, self.new_password, self.new_again):
            edit.clear()

    def clear_reset(self) -> None:
        self.reset_password.clear()
        self.reset_again.clear()

    # ------------------------------------------------------------------ requests out
    def _on_selection(self) -> None:
        account = self.selected()
        for widget in (
            self.role,
            self.set_role_button,
            self.active_button,
            self.reset_password,
            self.reset_again,
            self.reset_button,
        ):
            widget.setEnabled(account is not None)
        if account is not None:
            self.role.setCurrentIndex(self.role.findData(account.role.value))
        self.active_button.setText("Reactivate" if account is not None and not account.active else "Deactivate")

    def _add(self) -> None:
        self.addRequested.emit(
            self.new_name.text(), _role(self.new_role), self.new_password.text(), self.new_again.text()
        )

    def _set_role(self) -> None:
        account = self.selected()
        if account is not None:
            self.roleRequested.emit(account.id, _role(self.role))

    def _reset(self) -> None:
        account = self.selected()
        if account is not None:
            self.passwordRequested.emit(account.id, self.reset_password.text(), self.reset_again.text())

    def _toggle_active(self) -> None:
        account = self.selected()
        if account is not None:
            self.activeRequested.emit(account.id, not account.active)


class ChangePasswordDialog(QDialog):
    """The signed-in account's own password: the current one, the new one twice.

    ``change(current, new)`` is the service call; a refusal (wrong current password, too short)
    is shown in the dialog, which stays open; on success it closes (accepted).
    """

    def __init__(self, name: str, change: Callable[[str, str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("changePasswordDialog")
        self.setWindowTitle("Change my password")
        self._change = change
        self.current = _password_edit("empty if you have none")
        self.new = _password_edit()
        self.again = _password_edit()
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        form = QFormLayout()
        form.addRow("Current password", self.current)
        form.addRow("New password", self.new)
        form.addRow("New password again", self.again)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"The password of {name}:"))
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def accept(self) -> None:
        if self.new.text() != self.again.text():
            self.error.setText("The two new passwords differ.")
            return
        try:
            self._change(self.current.text(), self.new.text())
        except (AccountError, AccessDenied) as exc:  # a wrong current password included
            self.error.setText(exc.reason)
            return
        super().accept()
