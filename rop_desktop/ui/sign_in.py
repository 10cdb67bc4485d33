"""Sign in at start and on File → Switch grader…: which account the dialog offers first, the demo
study's accounts, and the workstation's memory of the last account used.

The default account is a convenience, never a privilege: the dialog preselects the account last
signed in on this workstation for this study only when it is a *grader*; with none remembered, or
an adjudicator / admin remembered, it preselects the first grader (or nothing). An elevated
account is only ever chosen by the person at the keyboard (or named on the command line), and
signs in with its password.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QWidget

from rop_desktop.domain.labels import Role
from rop_desktop.services import accounts, db_roles
from rop_desktop.services.grading import GraderInfo
from rop_desktop.services.policy import AccessDenied, Actor
from rop_desktop.services.studies import Study
from rop_desktop.ui.grader_dialog import MAX_TRIES, SignInDialog

__all__ = [
    "MAX_TRIES",
    "AccountMemory",
    "SignInDialog",
    "default_account",
    "demo_hint",
    "make_sign_in_dialog",
    "sign_in",
]

DEMO_STUDY_NAME = "ROP Desktop demo study"


class AccountMemory:
    """The account last signed in on this workstation, per study, in ``settings`` (a QSettings).

    A study is known by its database URL without password (a SQLite study's URL holds its
    folder), hashed into the key so that paths and URLs never become settings groups.
    """

    GROUP = "lastAccount"

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    @staticmethod
    def study_key(study: Study) -> str:
        where = study.url.render_as_string(hide_password=True)
        return hashlib.sha256(where.encode("utf-8")).hexdigest()[:32]

    def last(self, study: Study) -> str | None:
        value = self.settings.value(f"{self.GROUP}/{self.study_key(study)}")
        return str(value) if value else None

    def remember(self, study: Study, actor: Actor) -> None:
        self.settings.setValue(f"{self.GROUP}/{self.study_key(study)}", actor.name)
        self.settings.sync()


def default_account(
    choices: Sequence[GraderInfo], remembered: str | None = None, fallback: str | None = None
) -> str | None:
    """The account the dialog selects at start: the remembered one if it is a grader, else
    ``fallback`` if it is a listed grader, else the first grader; never an elevated account."""
    graders = [c.name for c in choices if c.role is Role.GRADER]
    for name in (remembered, fallback):
        if name is not None and name in graders:
            return name
    return graders[0] if graders else None


def demo_hint(study: Study, choices: Sequence[GraderInfo]) -> str | None:
    """The demo study's accounts and passwords (synthetic images only), or None for any other study."""
    from rop_desktop.services.demo_study import DEMO_GRADER, DEMO_PASSWORDS

    names = {c.name for c in choices}
    if study.name != DEMO_STUDY_NAME or not set(DEMO_PASSWORDS) <= names:
        return None
    lines = [f"{name} — password: {password}" for name, password in DEMO_PASSWORDS.items()]
    return "\n".join(
        ["Demo study (synthetic images only):", *lines, f"{DEMO_GRADER} and the demo graders — no password"]
    )


def _no_account_notice(study: Study, choices: Sequence[GraderInfo]) -> str | None:
    if choices or accounts.self_registration_allowed(study) or accounts.has_no_accounts(study):
        return None
    return (
        "This study has no account yet. Its first admin is made on the command line: "
        f'rop-desktop study create "{study.root}" --admin NAME'
    )


def make_sign_in_dialog(
    study: Study,
    *,
    memory: AccountMemory | None = None,
    preselect: str | None = None,
    fallback: str | None = None,
    notice: str | None = None,
    parent: QWidget | None = None,
) -> SignInDialog:
    """The sign-in dialog for ``study`` with its default account chosen (see the module docstring).

    ``preselect`` (a name given on the command line) wins over the defaults."""
    choices = accounts.sign_in_choices(study)
    names = {c.name for c in choices}
    chosen = (
        preselect
        if preselect in names
        else default_account(choices, memory.last(study) if memory is not None else None, fallback)
    )
    return SignInDialog(
        study,
        choices,
        preselect=chosen,
        hint=demo_hint(study, choices),
        notice=notice or _no_account_notice(study, choices),
        self_registration=accounts.self_registration_allowed(study),
        first_admin=accounts.has_no_accounts(study),
        remember=(lambda actor: memory.remember(study, actor)) if memory is not None else None,
        parent=parent,
    )


@dataclass(frozen=True)
class SignedIn:
    """Who signed in, the study as they use it (on PostgreSQL: connected as their own database
    role; close it when it is not the study that was passed in) and a warning for the status bar."""

    actor: Actor
    study: Study
    note: str | None = None


def sign_in(
    study: Study,
    name: str | None = None,
    *,
    memory: AccountMemory | None = None,
    fallback: str | None = None,
    parent: QWidget | None = None,
) -> Actor | None:
    """The signed-in account, or None when the user gave up (see :func:`sign_in_connected`)."""
    signed = sign_in_connected(study, name, memory=memory, fallback=fallback, parent=parent)
    if signed is not None and signed.study is not study:
        signed.study.close()
    return signed.actor if signed is not None else None


def sign_in_connected(
    study: Study,
    name: str | None = None,
    *,
    memory: AccountMemory | None = None,
    fallback: str | None = None,
    parent: QWidget | None = None,
) -> SignedIn | None:
    """Sign in, or None when the user gave up.

    ``name`` (``--grader NAME``) signs that account in at once when it has no password;
    otherwise the dialog opens on it and asks for the password."""
    notice = None
    if name is not None:
        if not accounts.needs_password(study, name):
            try:
                actor = accounts.sign_in(study, name, None)
                connection, note = db_roles.connect_signed_in(study, actor, None)
            except (accounts.AccountError, AccessDenied, db_roles.PgRoleError) as exc:
                notice = exc.reason
            else:
                if memory is not None:
                    memory.remember(study, actor)
                return SignedIn(actor, connection, note)
        elif name not in {c.name for c in accounts.sign_in_choices(study)}:
            notice = f"There is no active account called “{name}” in this study: pick yours."
    dialog = make_sign_in_dialog(study, memory=memory, preselect=name, fallback=fallback, notice=notice, parent=parent)
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    dialog.deleteLater()
    if not accepted or dialog.actor is None:
        return None
    return SignedIn(dialog.actor, dialog.connection if dialog.connection is not None else study, dialog.connection_note)
