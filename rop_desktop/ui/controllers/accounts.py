"""Who is signed in: File → Switch grader… and Change my password…, and the Admin menu.

:func:`install_account_menus` adds the actions and returns the :class:`AccountsController`
behind them. Every change goes through :mod:`rop_desktop.services.accounts` with the signed-in
actor; the service decides and a refusal (``AccessDenied`` / ``AccountError``) is shown with its
reason. The Admin menu is only built for an account the policy lets manage accounts; calling
:meth:`AccountsController.open_accounts` anyway ends in the policy's refusal, shown.

Switching account signs the current one out only once its edits are in the database, then the
composition root's ``switch(actor)`` replaces the window with one built for the new actor (see
``rop_desktop.app.switch_account``); ``switched(new_window)`` follows.
"""

from __future__ import annotations

from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMessageBox

from rop_desktop.domain.labels import Role
from rop_desktop.services import accounts, policy
from rop_desktop.services.policy import AccessDenied, Action, Actor
from rop_desktop.services.studies import Study
from rop_desktop.ui.accounts_dialog import AccountsDialog, ChangePasswordDialog
from rop_desktop.ui.adjudication.notice import show_notice
from rop_desktop.ui.controllers.connection import PendingEdits
from rop_desktop.ui.controllers.study_menu import StudyMenu
from rop_desktop.ui.grader_dialog import SignInDialog
from rop_desktop.ui.main_window import MainWindow
from rop_desktop.ui.sign_in import AccountMemory, make_sign_in_dialog

#: The composition root's account switch: (new actor, its study connection, a connection note)
#: → the new main window.
Switch = Callable[[Actor, Study, str | None], MainWindow]


class AccountsController(QObject):
    """See the module docstring. ``switch(actor)`` returns the window built for ``actor``."""

    switched = Signal(object)  # the new main window

    def __init__(
        self,
        window: MainWindow,
        study: Study,
        actor: Actor,
        *,
        file_menu: QMenu,
        before: QAction | None,
        switch: Switch,
        edits: PendingEdits | None = None,
        memory: AccountMemory | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.study = study
        self.actor = actor
        self._edits = edits  # the workspace's edits waiting for the database: stored before a switch
        self._switch = switch
        self._memory = memory
        self.dialog: AccountsDialog | None = None
        self.sign_in_dialog: SignInDialog | None = None
        self.password_dialog: ChangePasswordDialog | None = None
        self.last_notice: QMessageBox | None = None

        self.switch_action = QAction("Switch grader…", window)
        self.switch_action.setStatusTip("Sign out and sign in as another account (your edits are already stored)")
        self.switch_action.triggered.connect(lambda _checked=False: self.switch_account())
        self.password_action = QAction("Change my password…", window)
        self.password_action.triggered.connect(lambda _checked=False: self.change_password())
        if before is None:
            file_menu.addActions([self.switch_action, self.password_action])
        else:
            file_menu.insertActions(before, [self.switch_action, self.password_action])
            file_menu.insertSeparator(before)

        self.admin_menu: QMenu | None = None
        self.accounts_action: QAction | None = None
        if policy.allowed(study, actor, Action.ACCOUNTS_MANAGE):
            self.admin_menu = window.menuBar().addMenu("&Admin")
            self.accounts_action = self.admin_menu.addAction("Graders…")
            self.accounts_action.setStatusTip("Add accounts, give roles, reset passwords, deactivate (admins)")
            self.accounts_action.triggered.connect(lambda _checked=False: self.open_accounts())
        window.on_shutdown(self.shutdown)

    def _notice(self, title: str, text: str, icon: QMessageBox.Icon = QMessageBox.Icon.Warning) -> None:
        self.window.statusBar().showMessage(text.splitlines()[0], 10_000)
        self.last_notice = show_notice(self.window, title, text, icon)

    # ================================================================= Admin → Graders…
    def open_accounts(self) -> AccountsDialog | None:
        """The accounts dialog (admins); None, with the policy's reason shown, for anyone else."""
        if self.dialog is not None and shiboken6.isValid(self.dialog):
            self.dialog.raise_()
            return self.dialog
        try:
            policy.check(self.study, self.actor, Action.ACCOUNTS_MANAGE)
            listed = accounts.list_accounts(self.study, self.actor)
        except AccessDenied as exc:
            self._notice("Not allowed", exc.reason)
            return None
        dialog = AccountsDialog(self.window)
        dialog.set_accounts(listed)
        dialog.addRequested.connect(self.add_account)
        dialog.roleRequested.connect(self.set_role)
        dialog.passwordRequested.connect(self.reset_password)
        dialog.activeRequested.connect(self.set_active)
        self.dialog = dialog
        dialog.show()
        return dialog

    def _do(self, call: Callable[[], object], done: str, *, select: int | None = None) -> bool:
        """Run one accounts-service call; show what it did or why it was refused; refresh the table."""
        assert self.dialog is not None
        try:
            result = call()
        except (AccessDenied, accounts.AccountError) as exc:
            self.dialog.show_message(exc.reason, error=True)
            return False
        self._refresh(select if select is not None else getattr(result, "id", None))
        self.dialog.show_message(done)
        return True

    def _refresh(self, select: int | None = None) -> None:
        if self.dialog is None:
            return
        try:
            self.dialog.set_accounts(accounts.list_accounts(self.study, self.actor))
        except AccessDenied as exc:
            self.dialog.show_message(exc.reason, error=True)
            return
        if select is not None:
            self.dialog.select(select)

    def add_account(self, name: str, role: Role, password: str, again: str) -> bool:
        if self.dialog is None:
            return False
        if password != again:
            self.dialog.show_message("The two passwords differ.", error=True)
            return False
        role = Role.parse(role)
        added = self._do(
            lambda: accounts.create_account(self.study, self.actor, name, role, password=password or None),
            f"{name.strip()} added as {role.label.lower()}.",
        )
        if added:
            self.dialog.clear_new_account()
        return added

    def set_role(self, account_id: int, role: Role) -> bool:
        role = Role.parse(role)
        return self._do(
            lambda: accounts.set_role(self.study, self.actor, account_id, role),
            f"Role changed to {role.label.lower()}.",
            select=account_id,
        )

    def reset_password(self, account_id: int, password: str, again: str) -> bool:
        if self.dialog is None:
            return False
        if password != again:
            self.dialog.show_message("The two passwords differ.", error=True)
            return False
        done = "Password set; a lock-out is lifted." if password else "Password removed."
        changed = self._do(
            lambda: accounts.set_password(self.study, self.actor, account_id, password or None), done, select=account_id
        )
        if changed:
            self.dialog.clear_reset()
        return changed

    def set_active(self, account_id: int, active: bool) -> bool:
        return self._do(
            lambda: accounts.set_active(self.study, self.actor, account_id, active),
            "Account reactivated."
            if active
            else "Account deactivated: it can no longer sign in; its work stays and still votes.",
            select=account_id,
        )

    # ================================================================= File → Change my password…
    def change_password(self) -> ChangePasswordDialog:
        dialog = ChangePasswordDialog(
            self.actor.name,
            lambda old, new: accounts.change_own_password(self.study, self.actor, old or None, new),
            self.window,
        )
        dialog.accepted.connect(lambda: self.window.statusBar().showMessage("Your password is changed.", 8000))
        self.password_dialog = dialog
        dialog.open()
        return dialog

    # ================================================================= File → Switch grader…
    def switch_account(self) -> SignInDialog | None:
        """Open the sign-in dialog over the window, once every edit of this account is stored."""
        edits = self._edits
        if edits is not None and edits.pending:
            edits.retry_now()
            if edits.pending:
                self._notice(
                    "Switch grader",
                    f"{len(edits.pending)} edit(s) of {self.actor.name} still wait for "
                    "the database: switch when the connection is back and they are saved.",
                )
                return None
        dialog = make_sign_in_dialog(self.study, memory=self._memory, parent=self.window)
        dialog.setWindowTitle(f"Sign in (now: {self.actor.name})")
        dialog.signedIn.connect(self._signed_in)
        self.sign_in_dialog = dialog
        dialog.open()
        return dialog

    def _signed_in(self, actor: Actor) -> None:
        if actor.id == self.actor.id:
            self.window.statusBar().showMessage(f"Still signed in as {actor.name}.", 5000)
            return
        dialog = self.sign_in_dialog
        connection = dialog.connection if dialog is not None and dialog.connection is not None else self.study
        note = dialog.connection_note if dialog is not None else None
        # after the dialog has closed: the switch closes this window, the dialog's parent
        QTimer.singleShot(0, lambda: self.switched.emit(self._switch(actor, connection, note)))

    def shutdown(self) -> None:
        for dialog in (self.dialog, self.sign_in_dialog, self.password_dialog):
            if dialog is not None and shiboken6.isValid(dialog) and dialog.isVisible():
                dialog.close()


def install_account_menus(
    window: MainWindow,
    study: Study,
    actor: Actor,
    *,
    study_menu: StudyMenu,
    switch: Switch,
    edits: PendingEdits | None = None,
    memory: AccountMemory | None = None,
) -> AccountsController:
    """Add Switch grader… / Change my password… to the File menu of ``study_menu`` (before Quit)
    and, for admins, the Admin menu. ``edits`` (the workspace's) must be stored before a switch."""
    return AccountsController(
        window,
        study,
        actor,
        file_menu=study_menu.menu,
        before=study_menu.quit_action,
        switch=switch,
        edits=edits,
        memory=memory,
    )
