"""PostgreSQL roles of a shared study: one login role per account, three group roles per study.

Why: the access policy (``rop_desktop.services.policy``) runs on each workstation. On a shared
study a grader with ``psql`` and the credentials the workstation uses could otherwise read
another grader's draft, or write over it. So each account connects as **its own database role**,
and the row-level security policies of migration ``0004_row_level_security`` decide, in the
server, which rows that role may read and write.

The roles (role names are cluster-wide, so they carry a key of the study's database name and
several studies can share one server):

* ``rop_<db>_graders``, ``rop_<db>_reviewers``, ``rop_<db>_admins`` — NOLOGIN groups holding
  the table privileges of the grader, adjudicator and admin roles (:data:`GRANTS`). A group
  never owns a table: the tables belong to the role that ran the migrations (the study's
  owner), which — with superusers — is the only role the row-level security policies do not
  bind.
* one LOGIN role per account, ``rop_<db>_<name>_<hash>`` (:func:`account_role_name`), whose
  password is the account's password — sent to the server as a SCRAM-SHA-256 verifier made on
  this machine, so the clear password is never in a statement or a server log — member of
  exactly the group of the account's role. ``graders.db_role`` ties the role to the account;
  the policies find the account of a connection by ``session_user`` in that column, so a
  ``SET ROLE`` cannot make a connection someone else. A deactivated account's role is NOLOGIN,
  and the policies treat it as nobody even on a connection opened before.

Creating roles needs a connection of a role with CREATEROLE that owns the study's tables (the
study's owner, ``rop-desktop graders add … --db-url``). Everything here takes an open
SQLAlchemy ``Connection`` and runs in its transaction: role DDL is transactional in
PostgreSQL, so a failure leaves no half-made role behind.

A table added by a later migration belongs in :data:`GRANTS` (every :func:`ensure_groups` grants
exactly that list again) and, where it holds graders' work, needs policies like those of
``0004``; until the groups are granted it, only the owner can use it, which fails safe.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from rop_desktop.domain.labels import Role

from .db import database_url
from .errors import StoreError

MAX_ROLE_NAME = 63
"""PostgreSQL's identifier limit (NAMEDATALEN - 1 bytes); longer names would be cut silently."""

_PLAIN_DB = re.compile(r"[a-z0-9_]{1,28}")
_SLUG = re.compile(r"[^a-z0-9]+")

#: Tables whose rows the row-level security policies of migrations 0004 and 0006-0011 filter.
RLS_TABLES = (
    "grades",
    "annotations",
    "reference_standard",
    "predictions",
    "audit_events",
    "study_settings",
    "graders",
    "identities",
    "landmarks",
    "exam_grades",
    "exam_references",
    "images",
    "queue_tallies",
    "eye_attention",
    "eye_attention_pending",
)

#: The columns of ``audit_events`` a grader may read: enough for the change feed (what changed,
#: when, by whom), never the values before and after (another grader's draft).
AUDIT_META_COLUMNS = ("id", "at", "grader_id", "entity", "entity_id", "action")

#: The columns of their own ``graders`` row an account may change (display settings, own
#: password, the sign-in counters); never ``name``, ``role``, ``active`` or ``db_role``.
OWN_ACCOUNT_COLUMNS = ("display_settings", "password_hash", "failed_sign_ins", "locked_until")

_READ_ALL = (
    "patients",
    "exams",
    "images",
    "graders",
    "grades",
    "annotations",
    "reference_standard",
    "model_versions",
    "training_runs",
    "predictions",
    "study_settings",
    "alembic_version",
    "landmarks",
    "exam_grades",
    "exam_references",
    "queue_tallies",
)
_GRADER_GRANTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    *(("SELECT", table, ()) for table in _READ_ALL),
    ("SELECT", "audit_events", AUDIT_META_COLUMNS),
    ("INSERT", "audit_events", ()),
    ("INSERT, UPDATE", "grades", ()),
    ("INSERT, UPDATE", "annotations", ()),
    ("INSERT, UPDATE", "landmarks", ()),  # own landmarks and zone decisions (0007)
    ("INSERT, UPDATE", "exam_grades", ()),  # own eye-level grades (0007)
    ("INSERT, UPDATE", "predictions", ()),  # the assist mode caches a model's output of an image
    ("INSERT, UPDATE", "study_settings", ()),  # the policies allow only the account's own keys
    ("INSERT, UPDATE, DELETE", "reference_standard", ()),  # the votes settle after a submit
    ("UPDATE", "images", ("queue_status",)),  # …and move the image in the adjudication queue (0008)
    ("INSERT, UPDATE, DELETE", "exam_references", ()),  # the eye-level votes settle after a confirm (0009)
    ("INSERT, UPDATE, DELETE", "queue_tallies", ()),  # …and the queue row's tally is kept with it (0010)
    ("SELECT, INSERT, UPDATE, DELETE", "eye_attention", ()),  # own eyes that need attention (0011)
    ("SELECT, INSERT, UPDATE, DELETE", "eye_attention_pending", ()),  # …and the patients to work out again
    ("UPDATE", "graders", OWN_ACCOUNT_COLUMNS),
)
_REVIEWER_GRANTS = (
    *_GRADER_GRANTS,
    ("SELECT", "audit_events", ()),  # an image's history, with before and after
    ("INSERT, UPDATE, DELETE", "model_versions", ()),
    ("INSERT, UPDATE, DELETE", "training_runs", ()),
    ("DELETE", "predictions", ()),
)
_ADMIN_WRITES = (
    "patients",
    "exams",
    "images",
    "graders",
    "grades",
    "annotations",
    "reference_standard",
    "model_versions",
    "training_runs",
    "predictions",
    "study_settings",
    "landmarks",
    "exam_grades",
    "exam_references",
    "queue_tallies",
)
_ADMIN_GRANTS = (
    *_REVIEWER_GRANTS,
    *(("INSERT, UPDATE, DELETE", table, ()) for table in _ADMIN_WRITES),
    ("SELECT, INSERT, UPDATE, DELETE", "identities", ()),  # who the patients are: admins only (0006)
)

GRANTS: dict[Role, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    Role.GRADER: _GRADER_GRANTS,
    Role.ADJUDICATOR: _REVIEWER_GRANTS,
    Role.ADMIN: _ADMIN_GRANTS,
}
"""Table privileges of each group: (privileges, table, columns — empty for the whole row).
Nobody may UPDATE or DELETE the audit trail; the policies narrow the rows further."""

_GROUP_SUFFIX = {Role.GRADER: "graders", Role.ADJUDICATOR: "reviewers", Role.ADMIN: "admins"}


class PgRoleError(StoreError):
    """A database role cannot be made, changed or used; ``reason`` is a sentence for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------- names
def study_key(database: str) -> str:
    """The part of a role name that names the study's database: the name itself when it is short
    and plain (``rop_2026``), else a plain prefix and a hash of the exact name, so that every
    database gets its own roles and every role name stays a plain, short identifier."""
    if _PLAIN_DB.fullmatch(database):
        return database
    return f"{_slug(database, 19) or 'db'}_{_hash8(database)}"


def group_names(database: str) -> dict[Role, str]:
    """The three group roles of the study in ``database``, by the app role they serve."""
    key = study_key(database)
    return {role: f"rop_{key}_{suffix}" for role, suffix in _GROUP_SUFFIX.items()}


def account_role_name(database: str, account_name: str) -> str:
    """The login role of an account: ``rop_<db>_<name>_<hash of the exact name>``.

    Deterministic (a workstation can tell the role from the account's name alone), always a plain
    lower-case identifier of at most 63 characters whatever the name holds (quotes, spaces,
    letters outside ASCII), distinct for distinct names (the hash), and never equal to a group's
    name (which has no hash part).
    """
    name = f"rop_{study_key(database)}_{_slug(account_name, 20) or 'account'}_{_hash8(account_name)}"
    assert len(name) <= MAX_ROLE_NAME, name
    return name


def _slug(text_: str, limit: int) -> str:
    ascii_ = unicodedata.normalize("NFKD", text_).encode("ascii", "ignore").decode("ascii").lower()
    return _SLUG.sub("_", ascii_).strip("_")[:limit].strip("_")


def _hash8(text_: str) -> str:
    return hashlib.sha256(text_.encode("utf-8")).hexdigest()[:8]


# ---------------------------------------------------------------------------- connecting
def account_url(server_url: str | URL, role: str, password: str | None) -> URL:
    """The study's server URL, connecting as ``role`` with ``password`` instead of whoever the
    URL (or a ``user=`` / ``password=`` query parameter) named. Host, port, database, TLS and
    service options stay; libpq lets the explicit user override a service file's."""
    url = database_url(server_url)
    if url.get_backend_name() != "postgresql":
        raise PgRoleError("Database roles exist only on a PostgreSQL study.")
    query = {k: v for k, v in url.query.items() if k.lower() not in ("user", "password")}
    return url.set(username=role, password=password or None, query=query)


# ---------------------------------------------------------------------------- setting up
@dataclass(frozen=True)
class AccountRole:
    """An account's login role as set up: its name, its group and whether it may log in."""

    grader_id: int
    role: str
    group: str
    can_log_in: bool


def ensure_groups(conn: Connection) -> dict[Role, str]:
    """Create the study's three groups if missing and (re)grant exactly :data:`GRANTS` to them.

    Idempotent: privileges granted by hand or by an older app are revoked first, so the groups
    hold what this app says. Refused (:class:`PgRoleError`) unless the connection's role may
    create roles and owns the tables, and unless the study's tables have row-level security
    (migration 0004), without which a login role would see every row.
    """
    _check_can_manage(conn)
    schema = conn.scalar(text("SELECT current_schema()"))
    groups = group_names(_database(conn))
    tables = set(conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")))
    for app_role, group in groups.items():
        if not _role_exists(conn, group):
            _run(conn, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(group)))
        else:
            _check_harmless(conn, group)
        ident = sql.Identifier(group)
        _run(conn, sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), ident))
        _run(conn, sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(sql.Identifier(schema), ident))
        _run(conn, sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(sql.Identifier(schema), ident))
        for privileges, table, columns in GRANTS[app_role]:
            if table not in tables:
                continue
            target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            if columns:
                cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
                stmt = sql.SQL(privileges + " ({}) ON {} TO {}").format(cols, target, ident)
            else:
                stmt = sql.SQL(privileges + " ON {} TO {}").format(target, ident)
            _run(conn, sql.SQL("GRANT ") + stmt)
        # ids of new rows: harmless on tables the group cannot insert into
        _run(conn, sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(sql.Identifier(schema), ident))
    return groups


def ensure_account_role(conn: Connection, grader_id: int, *, password: str | None = None) -> AccountRole:
    """Create or bring up to date the login role of account ``grader_id`` and record it in
    ``graders.db_role``.

    The role joins the group of the account's role (and leaves the others), may log in only while
    the account is active, and gets ``password`` when one is given (``None`` keeps the one it has;
    a new role needs one). A role of that name made elsewhere is taken over only when it is
    harmless (no superuser, CREATEROLE, CREATEDB, replication or BYPASSRLS, owns no table here).
    Login roles INHERIT their one group's privileges: the policies know the account by
    ``session_user``, so neither inheritance nor ``SET ROLE`` to the group changes who it is.
    """
    _check_can_manage(conn)
    row = conn.execute(
        text("SELECT name, role, active, db_role FROM graders WHERE id = :id"), {"id": grader_id}
    ).one_or_none()
    if row is None:
        raise PgRoleError(f"There is no account with id {grader_id} in this study.")
    groups = ensure_groups(conn)
    name, app_role, active, recorded = row
    role = recorded or account_role_name(_database(conn), name)
    taken = conn.scalar(
        text("SELECT name FROM graders WHERE db_role = :role AND id <> :id"), {"role": role, "id": grader_id}
    )
    if taken is not None:
        raise PgRoleError(f"The database role {role} already belongs to the account {taken!r}.")
    ident = sql.Identifier(role)
    if not _role_exists(conn, role):
        if not password:
            raise PgRoleError(
                f"The account {name!r} needs a password to connect as its own database role: "
                "give one (the account's password)."
            )
        _run(
            conn,
            sql.SQL(
                "CREATE ROLE {} NOLOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
            ).format(ident),
        )
    else:
        _check_harmless(conn, role)
    if password:
        verifier = _scram_verifier(conn, role, password)
        _run(conn, sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident, sql.Literal(verifier)))
    can_log_in = bool(active)
    _run(conn, sql.SQL("ALTER ROLE {} " + ("LOGIN" if can_log_in else "NOLOGIN")).format(ident))
    mine = groups[Role.parse(app_role)]
    for group in groups.values():
        if group == mine:
            _run(conn, sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), ident))
        elif _is_member(conn, role, group):
            _run(conn, sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), ident))
    conn.execute(text("UPDATE graders SET db_role = :role WHERE id = :id"), {"role": role, "id": grader_id})
    return AccountRole(grader_id, role, mine, can_log_in)


def drop_study_roles(conn: Connection) -> list[str]:
    """Drop every role of this study — the accounts' login roles, then the three groups — and clear
    ``graders.db_role``; the names dropped. Only roles whose names carry this study's key are
    touched, so a ``db_role`` pointing at some other role never drops that one."""
    _check_can_manage(conn, need_rls=False)
    database = _database(conn)
    prefix = f"rop_{study_key(database)}_"
    groups = list(group_names(database).values())
    members = set(
        conn.scalars(
            text(
                "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid "
                "JOIN pg_roles m ON m.oid = a.member WHERE g.rolname = ANY(:groups)"
            ),
            {"groups": groups},
        )
    )
    members |= set(conn.scalars(text("SELECT db_role FROM graders WHERE db_role IS NOT NULL")))
    doomed = [r for r in sorted(members) if r.startswith(prefix) and r not in groups] + groups
    schema = sql.Identifier(str(conn.scalar(text("SELECT current_schema()"))))
    dropped = []
    for role in doomed:
        if not _role_exists(conn, role):
            continue
        ident = sql.Identifier(role)
        # what ensure_groups granted (the owner may revoke it; DROP OWNED BY would need the role's rights)
        _run(conn, sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(schema, ident))
        _run(conn, sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(schema, ident))
        _run(conn, sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(schema, ident))
        _run(conn, sql.SQL("DROP ROLE {}").format(ident))
        dropped.append(role)
    conn.execute(text("UPDATE graders SET db_role = NULL WHERE db_role IS NOT NULL"))
    return dropped


def set_own_password(conn: Connection, password: str) -> str:
    """Change the password of the role the connection is logged in as (any role may change its
    own); the role's name. Sent as a SCRAM verifier, as everywhere here."""
    role = str(conn.scalar(text("SELECT session_user")))
    _run(
        conn,
        sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(_scram_verifier(conn, role, password))
        ),
    )
    return role


def session_role(conn: Connection) -> str:
    """The role the connection logged in as (what the policies identify the account by)."""
    return str(conn.scalar(text("SELECT session_user")))


# ---------------------------------------------------------------------------- helpers
def _run(conn: Connection, statement: sql.Composable) -> None:
    """Execute composed SQL (identifiers and literals quoted by psycopg) in the connection's transaction."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def _scram_verifier(conn: Connection, role: str, password: str) -> str:
    """``SCRAM-SHA-256$…``: what the server stores, made by libpq here (``PQencryptPasswordConn``)."""
    pgconn: Any = conn.connection.dbapi_connection.pgconn  # type: ignore[union-attr]
    return bytes(pgconn.encrypt_password(password.encode("utf-8"), role.encode("utf-8"), b"scram-sha-256")).decode(
        "ascii"
    )


def _database(conn: Connection) -> str:
    return str(conn.scalar(text("SELECT current_database()")))


def _role_exists(conn: Connection, role: str) -> bool:
    return conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}) is not None


def _is_member(conn: Connection, role: str, group: str) -> bool:
    return (
        conn.scalar(
            text(
                "SELECT 1 FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member "
                "WHERE g.rolname = :g AND m.rolname = :m"
            ),
            {"g": group, "m": role},
        )
        is not None
    )


def _check_harmless(conn: Connection, role: str) -> None:
    row = conn.execute(
        text(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = :r"
        ),
        {"r": role},
    ).one()
    labels = ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")
    powers = [label for label, on in zip(labels, row, strict=True) if on]
    if powers:
        raise PgRoleError(
            f"A database role {role} already exists with {', '.join(powers)}; it would escape "
            "row-level security, so it is not used for an account. Drop or rename it first."
        )
    owns = conn.scalar(
        text(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE r.rolname = :r AND c.relnamespace = current_schema()::regnamespace"
        ),
        {"r": role},
    )
    if owns:
        raise PgRoleError(
            f"The database role {role} owns tables of this study; an owner is not bound by "
            "row-level security, so it is not used for an account."
        )


def _check_can_manage(conn: Connection, *, need_rls: bool = True) -> None:
    if conn.dialect.name != "postgresql":
        raise PgRoleError(
            "Database roles exist only on a PostgreSQL study; a study on one workstation "
            "(SQLite) is protected by the app's own checks."
        )
    me, can_create = conn.execute(
        text("SELECT current_user, rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
    ).one()
    if not can_create:
        raise PgRoleError(
            f"The database role {me} may not create roles: connect as the study's owner "
            "(a role with CREATEROLE that owns the study's tables)."
        )
    owner = conn.scalar(
        text("SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'graders'")
    )
    if owner is None:
        raise PgRoleError("The database holds no ROP Desktop study (no graders table).")
    if not conn.scalar(text("SELECT pg_has_role(current_user, :o, 'USAGE')"), {"o": owner}):
        raise PgRoleError(
            f"The database role {me} does not own the study's tables (their owner is {owner}): "
            "connect as the owner to manage roles."
        )
    if need_rls:
        missing = _tables_without_rls(conn, RLS_TABLES)
        if missing:
            raise PgRoleError(
                "The study's tables have no row-level security yet (" + ", ".join(missing) + "): "
                "open the study once with this version of the app to upgrade it, then try again."
            )


def _tables_without_rls(conn: Connection, tables: Iterable[str]) -> list[str]:
    wanted = list(tables)
    have = set(
        conn.scalars(
            text(
                "SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
                "AND c.relrowsecurity AND c.relname = ANY(:t)"
            ),
            {"t": wanted},
        )
    )
    return [t for t in wanted if t not in have]
