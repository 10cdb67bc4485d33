"""Accounts of a study: who signs in, with which role and password; study settings.

Roles (``domain.labels.Role``) and what each may do are the access policy's
(:mod:`rop_desktop.services.policy`); this module manages the accounts themselves:

* A new study gets its first admin, with a password, when it is created
  (:func:`create_first_admin`; ``rop-desktop study create FOLDER --admin NAME``). A study that
  has no active admin (made before roles were enforced) gets one the same way, from the command
  line only: nothing in the window creates an elevated account without an admin.
* Nobody gives themselves a role: accounts are created, promoted, demoted, deactivated and have
  their passwords reset by an admin only (:data:`Action.ACCOUNTS_MANAGE`). Elevated accounts
  (adjudicator, admin) must have a password; whether graders need one is the study setting
  ``accounts.grader_password_required`` (default: yes on a shared PostgreSQL study, no on a
  single-workstation SQLite study). Self-registration of *grader* profiles from the sign-in
  dialog is the study setting ``accounts.self_registration`` (default off).
* A deactivated account cannot sign in; its work stays and still votes. The last active admin
  can be neither deactivated nor demoted.
* :func:`sign_in` checks the password and rate-limits wrong ones per account, in the study
  (five wrong passwords lock the account for 30 s, doubling with each further one up to
  15 minutes), so a script on another workstation is held back as much as the window.

Passwords are stored as ``"scheme$params$salt$hash"`` (salt and hash in base64):
``scrypt$n=16384,r=8,p=5$…`` (hashlib.scrypt, one of OWASP's recommended parameter sets,
~0.2 s), with a random 16-byte salt; ``pbkdf2_sha256$i=600000$…`` is also verified. Comparison
is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError

from rop_desktop.domain.labels import Role
from rop_desktop.services.errors import ServiceError
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Grader

from .policy import AccessDenied, Action, Actor, guarded, open_operation

#: Parameters of new password hashes (OWASP: N=2^14, r=8, p=5 ≈ N=2^17, r=8, p=1 in cost).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 5
PBKDF2_MIN_ITERATIONS = 600_000
MIN_PASSWORD_LENGTH = 8
_SALT_BYTES = 16
_KEY_BYTES = 32
_MAXMEM = 256 * 1024 * 1024

#: Wrong passwords allowed before the account is locked, the first lock and the longest one.
FREE_FAILURES = 5
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(minutes=15)

GRADER_PASSWORD_SETTING = "accounts.grader_password_required"
SELF_REGISTRATION_SETTING = "accounts.self_registration"

_SIGN_IN_FAILED = "Unknown account name, deactivated account or wrong password."


class AccountError(ServiceError):
    """An account action that cannot be done; ``reason`` is a sentence for the user."""


#: Refusals by role are the policy's one error type.
PermissionDenied = AccessDenied


class AuthenticationError(AccountError):
    """Unknown name, inactive account or wrong password (one message for all three), or locked."""


@dataclass(frozen=True)
class GraderInfo:
    """An account as the sign-in list and the grading service name it: id, name, role."""

    id: int
    name: str
    role: Role


@dataclass(frozen=True)
class Account:
    """A grader's account as the account dialog shows it."""

    id: int
    name: str
    role: Role
    active: bool
    has_password: bool


# ---------------------------------------------------------------------------- study-level facts
@open_operation("whether the study has an admin yet: a fact the sign-in and create paths need")
def has_admin(study: Study) -> bool:
    """Whether the study has at least one active admin."""
    with study.session() as session:
        return _active_admins(session) > 0


def _active_admins(session: Any) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Grader).where(Grader.role == Role.ADMIN, Grader.active.is_(True))
        )
        or 0
    )


@open_operation("whether the study has no account at all yet: then its creator makes the first admin")
def has_no_accounts(study: Study) -> bool:
    """True for a new study without any account (active or not): the window then offers to make
    its first admin, as ``rop-desktop study create --admin`` does. A study with accounts but no
    admin (made before roles existed) gets one from the command line only."""
    with study.session() as session:
        return not session.scalar(select(func.count()).select_from(Grader))


@open_operation("a study setting the sign-in dialog needs before anyone is signed in")
def grader_password_required(study: Study) -> bool:
    """Whether grader accounts must have a password (default: yes on PostgreSQL, no on SQLite)."""
    with study.session() as session:
        value = repo.get_setting(session, GRADER_PASSWORD_SETTING)
    if value is None:
        return study.engine.dialect.name == "postgresql"
    return bool(value)


@open_operation("a study setting the sign-in dialog needs before anyone is signed in")
def self_registration_allowed(study: Study) -> bool:
    """Whether the sign-in dialog may create new *grader* profiles (default: no)."""
    with study.session() as session:
        return bool(repo.get_setting(session, SELF_REGISTRATION_SETTING, False))


# ---------------------------------------------------------------------------- accounts (admin)
@guarded(Action.STUDY_BROWSE)
def list_accounts(study: Study, actor: Actor, *, include_inactive: bool = True) -> list[Account]:
    """Every account, by name (any signed-in account: names and roles are not graders' work)."""
    with study.session() as session:
        return [_account(g) for g in repo.list_graders(session, active_only=not include_inactive)]


def _check_new_password(study: Study, role: Role, password: str | None) -> str | None:
    if role is not Role.GRADER and not password:
        raise AccountError(f"An {role.label.lower()} account must have a password.")
    if role is Role.GRADER and not password and grader_password_required(study):
        raise AccountError("This study requires a password for every grader account.")
    return hash_password(password) if password else None


def _insert(
    study: Study, session: Any, name: str, role: Role, hashed: str | None, *, actor_id: int | None, how: str
) -> Grader:
    name = name.strip()
    if not name:
        raise AccountError("An account needs a name.")
    if len(name) > 128:
        raise AccountError("An account name has at most 128 characters.")
    if session.scalar(select(Grader).where(Grader.name == name)) is not None:
        raise AccountError(f"There is already an account called {name!r}.")
    grader = repo.get_or_create_grader(session, name, role)
    grader.password_hash = hashed
    session.flush()
    repo.add_audit(
        session,
        "grader",
        grader.id,
        "create",
        grader=actor_id,
        after={"name": name, "role": role.value, "password": bool(hashed), "how": how},
    )
    return grader


@guarded(Action.ACCOUNTS_MANAGE)
def create_account(
    study: Study, actor: Actor, name: str, role: Role = Role.GRADER, *, password: str | None = None
) -> Account:
    """Create an account (admins only). Elevated roles need a password; a taken name is refused."""
    role = Role.parse(role)
    hashed = _check_new_password(study, role, password)
    with study.session() as session:
        return _account(_insert(study, session, name, role, hashed, actor_id=actor.id, how="admin"))


@open_operation("bootstrap: only while the study has no active admin (study create --admin)")
def create_first_admin(study: Study, name: str, password: str) -> Actor:
    """The study's first admin (its creator), only while the study has no active admin."""
    hashed = _check_new_password(study, Role.ADMIN, password)
    with study.session() as session:
        if _active_admins(session) > 0:
            raise AccessDenied("This study already has an admin: only an admin can create more accounts.")
        grader = _insert(study, session, name, Role.ADMIN, hashed, actor_id=None, how="first admin")
        return Actor(grader.id, grader.name, grader.role)


@open_operation("self-registration of a grader profile at sign-in, where the study allows it")
def register_grader(study: Study, name: str, password: str | None = None) -> Actor:
    """A new *grader* profile made from the sign-in dialog (nobody is signed in yet), only where
    the study's admin allows self-registration. Nobody registers an elevated role."""
    if not self_registration_allowed(study):
        raise AccessDenied(
            "This study does not allow new profiles at sign-in: ask an admin to add your account (Admin → Graders…)."
        )
    hashed = _check_new_password(study, Role.GRADER, password)
    with study.session() as session:
        grader = _insert(study, session, name, Role.GRADER, hashed, actor_id=None, how="self-registered")
        return Actor(grader.id, grader.name, grader.role)


@guarded(Action.ACCOUNTS_MANAGE)
def set_active(study: Study, actor: Actor, grader_id: int, active: bool) -> Account:
    """Deactivate (their work stays and still votes) or reactivate an account (admins only)."""
    with study.session() as session:
        grader = _grader(session, grader_id)
        if grader.active == active:
            return _account(grader)
        if not active and grader.role is Role.ADMIN and _active_admins(session) <= 1:
            raise AccountError(f"{grader.name} is the study's last active admin: make another admin first.")
        grader.active = active
        repo.add_audit(
            session,
            "grader",
            grader.id,
            "activate" if active else "deactivate",
            grader=actor.id,
            before={"active": not active},
            after={"active": active},
        )
        return _account(grader)


@guarded(Action.ACCOUNTS_MANAGE)
def set_role(study: Study, actor: Actor, grader_id: int, role: Role) -> Account:
    """Change an account's role (admins only); an elevated role needs a password first, and the
    last active admin keeps theirs."""
    role = Role.parse(role)
    with study.session() as session:
        grader = _grader(session, grader_id)
        before = grader.role
        if before is role:
            return _account(grader)
        if role is not Role.GRADER and not grader.password_hash:
            raise AccountError(
                f"{grader.name} has no password: set one before making the account {role.label.lower()}."
            )
        if before is Role.ADMIN and grader.active and _active_admins(session) <= 1:
            raise AccountError(f"{grader.name} is the study's last active admin: make another admin first.")
        grader.role = role
        repo.add_audit(
            session,
            "grader",
            grader.id,
            "role",
            grader=actor.id,
            before={"role": before.value},
            after={"role": role.value},
        )
        return _account(grader)


@guarded(Action.SETTINGS_WRITE)
def set_study_setting(study: Study, actor: Actor, key: str, value: Any) -> None:
    """Change a study-wide setting (admins only), with an audit event (entity "setting")."""
    with study.session() as session:
        before = repo.get_setting(session, key)
        if before == value:
            return
        repo.set_setting(session, key, value)
        repo.add_audit(
            session,
            "setting",
            0,
            "update",
            grader=actor.id,
            before={"key": key, "value": before},
            after={"key": key, "value": value},
        )


# ---------------------------------------------------------------------------- passwords and sign-in
@guarded(Action.OWN_PASSWORD)
def change_own_password(study: Study, actor: Actor, old_password: str | None, new_password: str) -> None:
    """The signed-in account changes its own password (the current one is asked again)."""
    with study.session() as session:
        grader = _grader(session, actor.id)
        stored = grader.password_hash
    if stored is not None and (not old_password or not verify_password(stored, old_password)):
        raise AuthenticationError("The current password is wrong.")
    _store_password(study, actor, actor.id, new_password)


@guarded(Action.ACCOUNTS_MANAGE)
def set_password(study: Study, actor: Actor, grader_id: int, password: str | None) -> None:
    """Set or reset an account's password (admins only); ``None``/"" removes it where the account's
    role and the study allow an account without one. Also lifts a lock-out."""
    _store_password(study, actor, grader_id, password)


def _store_password(study: Study, actor: Actor, grader_id: int, password: str | None) -> None:
    with study.session() as session:
        grader = _grader(session, grader_id)
        role = grader.role
    hashed = _check_new_password(study, role, password)
    with study.session() as session:
        grader = _grader(session, grader_id)
        had = grader.password_hash is not None
        grader.password_hash = hashed
        grader.failed_sign_ins = 0
        grader.locked_until = None
        repo.add_audit(
            session,
            "grader",
            grader.id,
            "password",
            grader=actor.id,
            before={"password": had},
            after={"password": hashed is not None},
        )


@open_operation("sign-in itself: checks the password and makes the Actor")
def sign_in(study: Study, name: str, password: str | None, *, now: datetime | None = None) -> Actor:
    """The :class:`Actor` of the active account ``name`` whose password matches.

    An account without a password (a grader, where the study allows it) signs in with an empty
    one. Wrong passwords are counted in the study: after :data:`FREE_FAILURES` the account is
    locked for :data:`FIRST_LOCK`, doubling per further failure up to :data:`LONGEST_LOCK`; a
    sign-in while locked is refused without looking at the password.
    """
    now = now or datetime.now(UTC)
    with study.session() as session:
        grader = session.scalar(select(Grader).where(Grader.name == (name or "").strip()))
        if grader is None or not grader.active:
            raise AuthenticationError(_SIGN_IN_FAILED)
        locked = grader.locked_until
        if locked is not None and locked.tzinfo is None:
            locked = locked.replace(tzinfo=UTC)
        if locked is not None and locked > now:
            seconds = int((locked - now).total_seconds()) + 1
            raise AuthenticationError(
                f"Too many wrong passwords for {grader.name}: try again in {seconds} s, "
                "or ask an admin to reset the password."
            )
        stored, actor = grader.password_hash, Actor(grader.id, grader.name, grader.role)
    if stored is None:
        ok = not password and actor.role is Role.GRADER and not grader_password_required(study)
    else:
        ok = bool(password) and verify_password(stored, password or "")
    # a shared study's workstation connected as another account's database role may not write
    # this account's counters (row-level security); the server's own login check of the account's
    # role (services.db_roles) still stands between a guess and the data
    with contextlib.suppress(StaleDataError, DBAPIError):
        _count(study, actor.id, ok, now)
    if not ok:
        raise AuthenticationError(_SIGN_IN_FAILED)
    return actor


def _count(study: Study, grader_id: int, ok: bool, now: datetime) -> None:
    """Reset the failed-sign-in count after a good password; count a wrong one and lock when due."""
    with study.session() as session:
        grader = _grader(session, grader_id)
        if ok:
            if grader.failed_sign_ins or grader.locked_until is not None:
                grader.failed_sign_ins, grader.locked_until = 0, None
            return
        grader.failed_sign_ins = (grader.failed_sign_ins or 0) + 1
        extra = grader.failed_sign_ins - FREE_FAILURES
        if extra >= 0:
            grader.locked_until = now + min(FIRST_LOCK * (2**extra), LONGEST_LOCK)
            repo.add_audit(
                session,
                "grader",
                grader.id,
                "locked",
                grader=None,
                after={"failed_sign_ins": grader.failed_sign_ins, "locked_until": grader.locked_until.isoformat()},
            )


#: The older name of :func:`sign_in`.
authenticate = sign_in


def hash_password(password: str) -> str:
    """``scrypt$n=…,r=…,p=…$salt$hash`` of ``password`` with a fresh random salt."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    salt = os.urandom(_SALT_BYTES)
    key = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=_MAXMEM, dklen=_KEY_BYTES
    )
    return f"scrypt$n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time compare).

    Raises :class:`AccountError` when ``stored`` is not a hash this app wrote.
    """
    try:
        scheme, params_text, salt_text, key_text = stored.split("$")
        params = dict(item.split("=", 1) for item in params_text.split(","))
        salt, expected = base64.b64decode(salt_text, validate=True), base64.b64decode(key_text, validate=True)
        if scheme == "scrypt":
            key = hashlib.scrypt(
                password.encode("utf-8"),
                salt=salt,
                n=int(params["n"]),
                r=int(params["r"]),
                p=int(params["p"]),
                maxmem=_MAXMEM,
                dklen=len(expected),
            )
        elif scheme == "pbkdf2_sha256" and int(params["i"]) >= PBKDF2_MIN_ITERATIONS:
            key = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, int(params["i"]), len(expected))
        else:
            raise ValueError(scheme)
    except (ValueError, KeyError, TypeError) as exc:
        raise AccountError(
            "The stored password hash is damaged or of an unknown kind; an admin must reset the password."
        ) from exc
    return hmac.compare_digest(key, expected)


# ---------------------------------------------------------------------------- helpers
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _grader(session: Any, grader_id: int) -> Grader:
    grader = session.get(Grader, grader_id)
    if grader is None:
        raise AccountError(f"There is no grader with id {grader_id} in this study.")
    return grader


def _account(grader: Grader) -> Account:
    return Account(grader.id, grader.name, grader.role, bool(grader.active), grader.password_hash is not None)


# ---------------------------------------------------------------------------- sign-in at start
@open_operation("what the sign-in dialog asks for, before anyone is signed in")
def needs_password(study: Study, name: str) -> bool:
    """Whether signing in as ``name`` asks for a password (unknown names too: no name probing)."""
    with study.session() as session:
        grader = session.scalar(select(Grader).where(Grader.name == name.strip()))
        if grader is None:
            return True
        return bool(grader.password_hash) or grader.role is not Role.GRADER or grader_password_required(study)


@open_operation("the names and roles the sign-in dialog lists, before anyone is signed in")
def sign_in_choices(study: Study) -> list[GraderInfo]:
    """The active accounts, graders first then by name (for the sign-in dialog)."""
    with study.session() as session:
        rows = repo.list_graders(session, active_only=True)
        order = {Role.GRADER: 0, Role.ADJUDICATOR: 1, Role.ADMIN: 2}
        return sorted((GraderInfo(g.id, g.name, g.role) for g in rows), key=lambda g: (order[g.role], g.name))
