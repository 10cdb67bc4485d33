"""Each account's own database role on a shared (PostgreSQL) study.

On a shared study the workstation of a signed-in account should connect as that account's own
PostgreSQL role, so that the server's row-level security (migration ``0004``) holds even for
someone who takes the workstation's credentials to ``psql``: a grader's role cannot read another
grader's draft or outlines, nor write anyone else's rows. The mechanics are in
:mod:`rop_desktop.store.pg_roles`; this module is the service side:

* :func:`ensure_account_role` (admins; ``rop-desktop graders add … --db-url`` on PostgreSQL)
  creates the account's role with the account's password, or brings it in step after the
  account's role, state or password changed. Call it with the study opened by its *owner*
  (a role with CREATEROLE that owns the tables).
* :func:`open_as_account` gives the signed-in account the study connected as its own role.
* :func:`set_own_role_password` changes that role's password with the account's.
* :func:`drop_study_roles` removes every role of the study (before dropping its database).

On SQLite each of them refuses with :class:`~rop_desktop.store.pg_roles.PgRoleError`: a study
on one workstation has no database roles, and the app's policy alone protects it.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from rop_desktop.store import Study, StudyOpenError, pg_roles
from rop_desktop.store.pg_roles import AccountRole, PgRoleError
from rop_desktop.store.schema import Grader

from .policy import Action, Actor, guarded

__all__ = [
    "AccountRole",
    "PgRoleError",
    "connect_signed_in",
    "drop_study_roles",
    "ensure_account_role",
    "open_as_account",
    "set_own_role_password",
]


def _require_postgresql(study: Study) -> None:
    if study.backend != "postgresql":
        raise PgRoleError(
            "Database roles exist only on a shared (PostgreSQL) study; this study is a file on "
            "one workstation, protected by the app's own checks."
        )


def _reason(exc: DBAPIError) -> str:
    return " ".join(str(exc.orig).split()) if exc.orig is not None else str(exc)


@guarded(Action.ACCOUNTS_MANAGE)
def ensure_account_role(study: Study, actor: Actor, grader_id: int, password: str | None = None) -> AccountRole:
    """Create or update the database role of account ``grader_id`` (admins only).

    ``password`` is the account's password (required for a new role; ``None`` keeps the role's
    password). The role can log in while the account is active, and holds the privileges of the
    account's role (grader, adjudicator, admin). Call again after changing any of those.
    """
    _require_postgresql(study)
    try:
        with study.engine.begin() as conn:
            return pg_roles.ensure_account_role(conn, grader_id, password=password)
    except DBAPIError as exc:
        raise PgRoleError(
            f"The server refused to set up the database role ({_reason(exc)}); nothing was changed."
        ) from exc


@guarded(Action.ACCOUNTS_MANAGE)
def drop_study_roles(study: Study, actor: Actor) -> list[str]:
    """Drop the database roles of every account and the study's groups (admins only); their names.
    Accounts keep their work; :func:`ensure_account_role` makes a role again."""
    _require_postgresql(study)
    try:
        with study.engine.begin() as conn:
            return pg_roles.drop_study_roles(conn)
    except DBAPIError as exc:
        raise PgRoleError(
            f"The server refused to drop the study's roles ({_reason(exc)}); nothing was changed."
        ) from exc


@guarded(Action.STUDY_BROWSE)
def open_as_account(study: Study, actor: Actor, password: str | None) -> Study:
    """The same study connected as the signed-in account's own database role (close it when done).

    ``study`` is the study as the workstation opened it (to find the account's role);
    ``password`` is the account's password, which the server checks. Refused with a
    :class:`PgRoleError` when the account has no role yet or the server turns the login down.
    """
    _require_postgresql(study)
    with study.session() as session:
        grader = session.get(Grader, actor.id)
        role = grader.db_role if grader is not None else None
    if not role:
        raise PgRoleError(
            f"The account {actor.name!r} has no database role on this server yet: an admin "
            "makes one with 'rop-desktop graders add' (see docs/shared-study.md)."
        )
    try:
        return Study.open(study.root, url=pg_roles.account_url(study.url, role, password))
    except StudyOpenError as exc:
        raise PgRoleError(f"Cannot connect to the study as {actor.name} (database role {role}): {exc.reason}") from exc


@guarded(Action.STUDY_BROWSE)
def connect_signed_in(study: Study, actor: Actor, password: str | None) -> tuple[Study, str | None]:
    """The study as the signed-in ``actor`` should use it, and a warning for the status bar.

    SQLite: ``study`` itself (one file on one workstation; the app's policy protects it).
    PostgreSQL: the study connected as the account's own database role (:func:`open_as_account`),
    so the server's row-level security holds too; a refused login raises :class:`PgRoleError`.
    An account that has no database role yet keeps the workstation's connection, with a warning
    that the server does not enforce blinding for it until an admin gives it one.
    """
    if study.backend != "postgresql":
        return study, None
    with study.session() as session:
        grader = session.get(Grader, actor.id)
        has_role = bool(grader is not None and grader.db_role)
    if not has_role:
        return study, (
            f"{actor.name} has no database role of their own: this workstation's database "
            "credentials are used, and the server does not enforce blinding for this account. An "
            "admin gives it one with 'rop-desktop graders add' (docs/shared-study.md)."
        )
    return open_as_account(study, actor, password), None


@guarded(Action.OWN_PASSWORD)
def set_own_role_password(study: Study, actor: Actor, password: str) -> None:
    """Give the account's own database role a new password (after ``accounts.change_own_password``).

    ``study`` must be connected as that role (:func:`open_as_account`): any role may change its own
    password, and nobody else's this way.
    """
    _require_postgresql(study)
    with study.session() as session:
        grader = session.get(Grader, actor.id)
        role = grader.db_role if grader is not None else None
    try:
        with study.engine.begin() as conn:
            if not role or pg_roles.session_role(conn) != role:
                raise PgRoleError(
                    f"This connection is not {actor.name}'s own database role: open the study as the account first."
                )
            pg_roles.set_own_password(conn, password)
    except DBAPIError as exc:
        raise PgRoleError(f"The server refused the new password ({_reason(exc)}).") from exc
