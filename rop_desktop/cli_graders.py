"""``rop-desktop graders list|add|set-role|set-password|deactivate|reactivate``: a study's accounts.

Any signed-in account may list the accounts (names and roles are not graders' work); everything
else is an admin's (the services refuse anyone else). A new or reset password comes from
``$ROP_DESKTOP_NEW_PASSWORD`` (set it to an empty string for "no password", which only a grader
of a study that allows it may have) or is typed twice on the terminal.

On a PostgreSQL study every change also brings the account's own database role in step
(:func:`rop_desktop.services.db_roles.ensure_account_role`; ``docs/shared-study.md``), which
needs ``--db-url`` to connect as the study's owner. When the account changed but its role could
not follow, the command says why and exits 1.
"""

from __future__ import annotations

import argparse
import sys

from rop_desktop.cli_auth import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    NEW_PASSWORD_ENV,
    CommandFailed,
    add_study_arguments,
    exit_codes,
    run_command,
    secret,
    signed_in,
)
from rop_desktop.domain.labels import Role
from rop_desktop.services import accounts, db_roles
from rop_desktop.services.accounts import Account
from rop_desktop.services.policy import Action, Actor, check
from rop_desktop.store import Study

PROG = "rop-desktop graders"
ROLES = tuple(r.value for r in Role)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="List and manage the accounts of a study (admins; any account may list)."
    )
    sub = p.add_subparsers(dest="action", required=True)
    epilog = exit_codes(
        "the account changed but its database role on the PostgreSQL server did not follow "
        "(the message says why; run the command again as the study's owner)"
    )

    def action(name: str, help_text: str, who: str = "an admin of the study") -> argparse.ArgumentParser:
        a = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog)
        add_study_arguments(a, who)
        return a

    action(
        "list", "list the accounts with their role, state and whether they have a password", "any account of the study"
    )
    add = action("add", f"add an account (its password from ${NEW_PASSWORD_ENV} or typed twice)")
    add.add_argument("name", help="the new account's name")
    add.add_argument("--role", choices=ROLES, default=Role.GRADER.value, help="the account's role (default: grader)")
    role = action("set-role", "change an account's role (an adjudicator or admin needs a password first)")
    role.add_argument("name")
    role.add_argument("--role", choices=ROLES, required=True, help="the new role")
    password = action(
        "set-password",
        f"set or reset an account's password (from ${NEW_PASSWORD_ENV} or typed "
        "twice; empty removes it where allowed); also lifts a lock-out",
    )
    password.add_argument("name")
    for name, text in (
        ("deactivate", "stop an account from signing in (its work stays and still votes)"),
        ("reactivate", "let a deactivated account sign in again"),
    ):
        action(name, text).add_argument("name")
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    return run_command(f"{PROG} {args.action}", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    who = "any account of the study" if args.action == "list" else "an admin of the study"
    with signed_in(args.study, args.as_name, who, db_url=args.db_url) as (study, actor):
        if args.action == "list":
            for a in accounts.list_accounts(study, actor):
                print(
                    f"{a.name}\t{a.role.value}\t{'active' if a.active else 'deactivated'}\t"
                    f"{'password' if a.has_password else 'no password'}"
                )
            return EXIT_OK
        check(study, actor, Action.ACCOUNTS_MANAGE)  # refuse before asking for a new password
        password: str | None = None
        if args.action == "add":
            password = _new_password(args.name.strip())
            done = accounts.create_account(study, actor, args.name, Role.parse(args.role), password=password)
            print(f"added: {done.name} ({done.role.value}, {'password' if done.has_password else 'no password'})")
        elif args.action == "set-role":
            done = accounts.set_role(study, actor, _named(study, actor, args.name).id, Role.parse(args.role))
            print(f"{done.name}: {done.role.value}")
        elif args.action == "set-password":
            done = _named(study, actor, args.name)
            password = _new_password(done.name)
            accounts.set_password(study, actor, done.id, password)
            print(f"{done.name}: password {'changed' if password else 'removed'}")
        else:
            done = accounts.set_active(study, actor, _named(study, actor, args.name).id, args.action == "reactivate")
            print(f"{done.name}: {'active' if done.active else 'deactivated'}")
        return _database_role_in_step(study, actor, done, password)


def _database_role_in_step(study: Study, actor: Actor, account: Account, password: str | None) -> int:
    """On PostgreSQL, the account's own database role follows its new state (exit 1 if it cannot)."""
    if study.backend != "postgresql":
        return EXIT_OK
    try:
        role = db_roles.ensure_account_role(study, actor, account.id, password=password)
    except db_roles.PgRoleError as exc:
        print(f"{PROG}: {account.name} changed in the study, but not their database role: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    print(f"database role: {role.role} ({'can log in' if role.can_log_in else 'cannot log in'})")
    return EXIT_OK


def _named(study: Study, actor: Actor, name: str) -> Account:
    for account in accounts.list_accounts(study, actor):
        if account.name == name.strip():
            return account
    raise CommandFailed(f"there is no account called {name.strip()!r} in this study; nothing was changed.")


def _new_password(name: str) -> str | None:
    typed = secret(
        NEW_PASSWORD_ENV,
        f"New password for {name} (empty for none): ",
        purpose=f"the new password of {name}",
        confirm=True,
    )
    return typed or None
