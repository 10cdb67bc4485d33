"""Accounts of a study: roles enforced in the services, optional passwords, study settings.

Roles (``domain.labels.Role``): a *grader* grades, an *adjudicator* also settles disagreements,
an *admin* also manages accounts and study settings. Services call :func:`require_role` before
an action; the window only hides what a role cannot do.

Bootstrapping: a study that has no active admin yet (a new study, the demo study, a study made
before roles were enforced) lets any signed-in grader create the first admin; from then on only
admins create, deactivate or re-role graders and change settings, and the last active admin can
be neither deactivated nor demoted.

Passwords are optional per grader. They are stored as ``"scheme$params$salt$hash"`` (salt and
hash in base64): ``scrypt$n=16384,r=8,p=5$…`` (hashlib.scrypt, one of OWASP's recommended
parameter sets, ~0.2 s), with a random 16-byte salt; ``pbkdf2_sha256$i=600000$…`` is also
verified. Comparison is constant-time (``hmac.compare_digest``). A grader without a password
signs in with an empty one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from rop_desktop.domain.labels import Role
from rop_desktop.store import Study, repo
from rop_desktop.store.models import Grader

from .grading import GraderInfo

#: Parameters of new password hashes (OWASP: N=2^14, r=8, p=5 ≈ N=2^17, r=8, p=1 in cost).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 5
PBKDF2_MIN_ITERATIONS = 600_000
MIN_PASSWORD_LENGTH = 8
_SALT_BYTES = 16
_KEY_BYTES = 32
_MAXMEM = 256 * 1024 * 1024


class AccountError(ValueError):
    """An account action that cannot be done; ``reason`` is a sentence for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermissionDenied(AccountError):
    """The acting grader's role does not allow the action."""


class AuthenticationError(AccountError):
    """Unknown name, inactive account or wrong password (one message for all three)."""


@dataclass(frozen=True)
class Account:
    """A grader's account as the account dialog shows it."""

    id: int
    name: str
    role: Role
    active: bool
    has_password: bool


# ---------------------------------------------------------------------------- roles
def require_role(study: Study, grader_id: int | None, *roles: Role, action: str = "do this") -> GraderInfo:
    """The active grader ``grader_id`` if their role is one of ``roles``; else :class:`PermissionDenied`."""
    if not roles:
        raise ValueError("require_role needs at least one role")
    with study.session() as session:
        grader = session.get(Grader, grader_id) if grader_id is not None else None
        if grader is None:
            raise PermissionDenied(f"Sign in to {action}.")
        if not grader.active:
            raise PermissionDenied(f"The account of {grader.name} is deactivated: it cannot {action}.")
        if grader.role not in roles:
            needed = " or ".join(r.label.lower() for r in roles)
            raise PermissionDenied(f"{grader.name} is signed in as {grader.role.label.lower()}; "
                                   f"only the {needed} role may {action}.")
        return GraderInfo(grader.id, grader.name, grader.role)


def has_admin(study: Study) -> bool:
    """Whether the study has at least one active admin (see the bootstrapping rule above)."""
    with study.session() as session:
        return _active_admins(session) > 0


def require_admin(study: Study, actor_id: int | None, action: str) -> GraderInfo | None:
    """Admins only, except in a study without any active admin (then any active grader, or None)."""
    if not has_admin(study):
        if actor_id is None:
            return None
        return require_role(study, actor_id, Role.GRADER, Role.ADJUDICATOR, Role.ADMIN, action=action)
    return require_role(study, actor_id, Role.ADMIN, action=action)


def _active_admins(session: Any) -> int:
    return session.scalar(select(func.count()).select_from(Grader)
                          .where(Grader.role == Role.ADMIN, Grader.active.is_(True))) or 0


# ---------------------------------------------------------------------------- accounts (admin)
def list_accounts(study: Study, *, include_inactive: bool = True) -> list[Account]:
    """Every grader's account, by name."""
    with study.session() as session:
        return [_account(g) for g in repo.list_graders(session, active_only=not include_inactive)]


def create_grader(study: Study, actor_id: int | None, name: str, role: Role = Role.GRADER, *,
                  password: str | None = None) -> Account:
    """Create a grader (admins only; see bootstrapping). A taken name is refused."""
    actor = require_admin(study, actor_id, "create graders")
    name = name.strip()
    if not name:
        raise AccountError("A grader needs a name.")
    role = Role.parse(role)
    hashed = hash_password(password) if password else None
    with study.session() as session:
        if session.scalar(select(Grader).where(Grader.name == name)) is not None:
            raise AccountError(f"There is already a grader called {name!r}.")
        grader = repo.get_or_create_grader(session, name, role)
        grader.password_hash = hashed
        repo.add_audit(session, "grader", grader.id, "create", grader=actor.id if actor else None,
                       after={"name": name, "role": role.value, "password": bool(hashed)})
        return _account(grader)


def set_active(study: Study, actor_id: int | None, grader_id: int, active: bool) -> Account:
    """Deactivate (their work stays) or reactivate a grader (admins only)."""
    actor = require_admin(study, actor_id, "deactivate or reactivate graders")
    with study.session() as session:
        grader = _grader(session, grader_id)
        if grader.active == active:
            return _account(grader)
        if not active and grader.role is Role.ADMIN and _active_admins(session) <= 1:
            raise AccountError(f"{grader.name} is the study's last active admin: make another admin first.")
        grader.active = active
        repo.add_audit(session, "grader", grader.id, "activate" if active else "deactivate",
                       grader=actor.id if actor else None, before={"active": not active}, after={"active": active})
        return _account(grader)


def set_role(study: Study, actor_id: int | None, grader_id: int, role: Role) -> Account:
    """Change a grader's role (admins only); the last active admin keeps theirs."""
    actor = require_admin(study, actor_id, "change roles")
    role = Role.parse(role)
    with study.session() as session:
        grader = _grader(session, grader_id)
        before = grader.role
        if before is role:
            return _account(grader)
        if before is Role.ADMIN and grader.active and _active_admins(session) <= 1:
            raise AccountError(f"{grader.name} is the study's last active admin: make another admin first.")
        grader.role = role
        repo.add_audit(session, "grader", grader.id, "role", grader=actor.id if actor else None,
                       before={"role": before.value}, after={"role": role.value})
        return _account(grader)


def set_study_setting(study: Study, actor_id: int | None, key: str, value: Any) -> None:
    """Change a study-wide setting (admins only), with an audit event (entity "setting")."""
    actor = require_admin(study, actor_id, "change study settings")
    with study.session() as session:
        before = repo.get_setting(session, key)
        if before == value:
            return
        repo.set_setting(session, key, value)
        repo.add_audit(session, "setting", 0, "update", grader=actor.id if actor else None,
                       before={"key": key, "value": before}, after={"key": key, "value": value})


# ---------------------------------------------------------------------------- passwords
def set_password(study: Study, actor_id: int | None, grader_id: int, password: str | None) -> None:
    """Set (or with ``None``/"" remove) a grader's password: the grader themself, or an admin."""
    if actor_id != grader_id:
        require_admin(study, actor_id, "set another grader's password")
    else:
        require_role(study, actor_id, Role.GRADER, Role.ADJUDICATOR, Role.ADMIN, action="set a password")
    hashed = hash_password(password) if password else None
    with study.session() as session:
        grader = _grader(session, grader_id)
        had = grader.password_hash is not None
        grader.password_hash = hashed
        repo.add_audit(session, "grader", grader.id, "password", grader=actor_id,
                       before={"password": had}, after={"password": hashed is not None})


def authenticate(study: Study, name: str, password: str | None) -> GraderInfo:
    """Sign in: the active grader called ``name`` whose password matches (none set: empty password)."""
    with study.session() as session:
        grader = session.scalar(select(Grader).where(Grader.name == name.strip()))
        stored = grader.password_hash if grader is not None else None
        info = GraderInfo(grader.id, grader.name, grader.role) if grader is not None else None
        active = grader is not None and grader.active
    if info is None or not active:
        raise AuthenticationError("Unknown grader name, deactivated account or wrong password.")
    if stored is None:
        if password:
            raise AuthenticationError("Unknown grader name, deactivated account or wrong password.")
        return info
    if not password or not verify_password(stored, password):
        raise AuthenticationError("Unknown grader name, deactivated account or wrong password.")
    return info


def hash_password(password: str) -> str:
    """``scrypt$n=…,r=…,p=…$salt$hash`` of ``password`` with a fresh random salt."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    salt = os.urandom(_SALT_BYTES)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                         maxmem=_MAXMEM, dklen=_KEY_BYTES)
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
            key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=int(params["n"]), r=int(params["r"]),
                                 p=int(params["p"]), maxmem=_MAXMEM, dklen=len(expected))
        elif scheme == "pbkdf2_sha256" and int(params["i"]) >= PBKDF2_MIN_ITERATIONS:
            key = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, int(params["i"]), len(expected))
        else:
            raise ValueError(scheme)
    except (ValueError, KeyError, TypeError) as exc:
        raise AccountError("The stored password hash is damaged or of an unknown kind; an admin must reset "
                           "the password.") from exc
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
def new_profile(study: Study, name: str, role: Role = Role.GRADER) -> GraderInfo:
    """A new profile made from the start-up dialog, where nobody is signed in yet.

    Anyone may add themselves as a *grader* (their work is blinded and only theirs). Adjudicator
    and admin profiles follow the admin rule of :func:`create_grader`: allowed only while the
    study has no admin (bootstrapping), otherwise an admin must create them.
    """
    role = Role.parse(role)
    if role is Role.GRADER:
        name = name.strip()
        if not name:
            raise AccountError("A grader needs a name.")
        with study.session() as session:
            if session.scalar(select(Grader).where(Grader.name == name)) is not None:
                raise AccountError(f"There is already a grader called {name!r}: pick it from the list.")
            grader = repo.get_or_create_grader(session, name, Role.GRADER)
            repo.add_audit(session, "grader", grader.id, "create", after={"name": name, "role": role.value,
                                                                          "self_registered": True})
            return GraderInfo(grader.id, grader.name, grader.role)
    account = create_grader(study, None, name, role)
    return GraderInfo(account.id, account.name, account.role)


def needs_password(study: Study, name: str) -> bool:
    """Whether signing in as ``name`` asks for a password."""
    with study.session() as session:
        grader = session.scalar(select(Grader).where(Grader.name == name.strip()))
        return bool(grader is not None and grader.password_hash)
