"""``rop-desktop study create|copy``: make a study with its first admin, or copy a whole study.

``study create FOLDER --admin NAME`` makes the study and its first admin account in one go:
nobody else can make accounts later, so a study without an admin is not made. The admin's
password comes from ``$ROP_DESKTOP_PASSWORD`` or is typed twice on the terminal. Run on a study
made before roles existed (one without an active admin), the same command gives it its first
admin; a study that has one is refused (an admin adds accounts: ``rop-desktop graders add``).
On PostgreSQL the admin also gets their own database role (``docs/shared-study.md``), made
through the owner's connection that ``--db-url`` names.

``study copy SRC DST --as ADMIN`` copies every row (accounts and password hashes included),
image, model and cached file, between SQLite and PostgreSQL (``docs/shared-study.md``); only
an admin of the source study may.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rop_desktop.cli_auth import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    PASSWORD_ENV,
    CommandFailed,
    add_as_argument,
    exit_codes,
    run_command,
    secret,
    signed_in,
)
from rop_desktop.services import accounts, db_roles
from rop_desktop.services.policy import Actor
from rop_desktop.services.study_copy import copy_study
from rop_desktop.store import StoreError, Study, StudyOpenError, StudyTooNewError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rop-desktop study", description="Make or copy whole studies.")
    sub = p.add_subparsers(dest="action", required=True)
    create = sub.add_parser(
        "create",
        help="make a new study with its first admin (SQLite, or on a PostgreSQL server)",
        description="Make a new study in FOLDER with its first admin account NAME (password from "
        f"${PASSWORD_ENV}, else typed twice). With --db-url its database is an empty PostgreSQL "
        "database and FOLDER (on a share) remembers the URL, without password, in study.server. "
        "On an existing study without an active admin (made before roles existed) it adds the "
        "first admin; a study that has an admin is refused.",
        epilog=exit_codes(
            "the study could not be created (the folder or database already holds one, or "
            "cannot be written), or, on PostgreSQL, the admin's database role could not be made "
            "(the message says how to make it later)"
        ),
    )
    create.add_argument("folder", type=Path, help="the new study folder")
    create.add_argument("--admin", metavar="NAME", help="required: the name of the study's first admin account")
    create.add_argument("--db-url", help="an empty server database, e.g. postgresql+psycopg:///?service=rop")
    create.add_argument("--name", help="the study's display name (default: the folder name)")
    copy = sub.add_parser(
        "copy",
        help="copy a study to a new folder, between SQLite and PostgreSQL (admins)",
        description="Copy every row (accounts included), image, model and cached file of the study in SRC "
        "to a new study in DST (a new or empty folder). Give --db-url to put the copy's database "
        "on a PostgreSQL server (an empty database; the password comes from ~/.pgpass or a "
        "service file, never from the study). Only an admin of SRC may copy it.",
        epilog=exit_codes("the copy failed (nothing is left behind: run it again)"),
    )
    copy.add_argument("src", type=Path, help="the study folder to copy (SQLite, or shared with study.server)")
    copy.add_argument(
        "dst", type=Path, help="the new study folder (images, models, cache; study.sqlite or study.server)"
    )
    copy.add_argument(
        "--db-url",
        help="the copy's database, e.g. postgresql+psycopg://grader@host/rop?sslmode=prefer "
        "or postgresql+psycopg:///?service=rop (default: DST/study.sqlite)",
    )
    copy.add_argument("--src-db-url", help="read the source from this database instead of SRC's own")
    add_as_argument(copy, "an admin of the source study")
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.action == "create":
        return run_command("rop-desktop study create", lambda: _create(args))
    return run_command("rop-desktop study copy", lambda: _copy(args))


def _create(args: argparse.Namespace) -> int:
    name = (args.admin or "").strip()
    if not name:
        raise CommandFailed(
            "a study needs its first admin: add --admin NAME (the password comes from "
            f"${PASSWORD_ENV} or is typed twice). Nothing was created."
        )
    existing = _existing_study(args.folder, args.db_url)
    if existing is not None:
        with existing:
            return _first_admin_of_existing(existing, name)
    password = _admin_password(name)
    try:
        study = Study.create(args.folder, args.name, url=args.db_url)
    except StoreError as exc:
        raise CommandFailed(str(exc), EXIT_INCOMPLETE) from exc
    with study:
        try:
            admin = accounts.create_first_admin(study, name, password)
        except accounts.AccountError as exc:
            raise CommandFailed(
                f"{exc.reason} The study was created without an admin: run this command again to give it one."
            ) from exc
        print(f"study: {study.root}")
        print(f"admin: {admin.name}")
        return _admin_database_role(study, admin, password)


def _existing_study(folder: Path, db_url: str | None) -> Study | None:
    """The study already in ``folder`` (or at ``db_url``), or None where there is none to open."""
    try:
        return Study.open(folder, url=db_url)
    except StudyTooNewError as exc:
        raise CommandFailed(str(exc), EXIT_INCOMPLETE) from exc
    except StudyOpenError:
        return None


def _first_admin_of_existing(study: Study, name: str) -> int:
    if accounts.has_admin(study):
        raise CommandFailed(
            f"{study.root} already holds a study with an admin: only an admin adds accounts "
            "(rop-desktop graders add NAME --role admin --study ... --as ADMIN). Nothing was changed."
        )
    password = _admin_password(name)
    admin = accounts.create_first_admin(study, name, password)
    print(f"study: {study.root} (existing; it had no admin)")
    print(f"admin: {admin.name}")
    return _admin_database_role(study, admin, password)


def _admin_database_role(study: Study, admin: Actor, password: str) -> int:
    """On PostgreSQL, the first admin's own database role (exit 1, with the way out, if it cannot be made)."""
    if study.backend != "postgresql":
        return EXIT_OK
    try:
        role = db_roles.ensure_account_role(study, admin, admin.id, password=password)
    except db_roles.PgRoleError as exc:
        print(
            f"rop-desktop study create: the study and its admin {admin.name} were made, but not the admin's "
            f"database role: {exc} Make it later, connected as the study's owner: rop-desktop graders "
            f'set-password "{admin.name}" --study {study.root} --as "{admin.name}" --db-url OWNER_URL',
            file=sys.stderr,
        )
        return EXIT_INCOMPLETE
    print(f"database role: {role.role}")
    return EXIT_OK


def _admin_password(name: str) -> str:
    password = secret(
        PASSWORD_ENV, f"Password for the admin {name}: ", purpose=f"a password for the admin {name}", confirm=True
    )
    if len(password) < accounts.MIN_PASSWORD_LENGTH:
        raise CommandFailed(
            f"an admin's password needs at least {accounts.MIN_PASSWORD_LENGTH} characters. Nothing was created."
        )
    return password


def _copy(args: argparse.Namespace) -> int:
    with signed_in(args.src, args.as_name, "an admin of the source study", db_url=args.src_db_url) as (source, admin):
        try:
            summary = copy_study(
                source, admin, args.dst, dst_url=args.db_url, progress=lambda line: print(line, file=sys.stderr)
            )
        except StoreError as exc:
            raise CommandFailed(str(exc), EXIT_INCOMPLETE) from exc
    print("\n".join(summary.lines()))
    return EXIT_OK
