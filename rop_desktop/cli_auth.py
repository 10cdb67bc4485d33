"""Who runs a command: ``--as NAME``, its password, and how a refusal ends the command.

Every sub-command that reads or writes graders' work, accounts or exports signs in first, with
the same :func:`rop_desktop.services.accounts.sign_in` as the window (wrong passwords count
towards the same lock-out). The password comes from the environment variable
:data:`PASSWORD_ENV`, else it is asked on the terminal (without echo). Without either — a
script that did not set the variable — the command stops with exit status 2 instead of waiting
for input nobody will type. An account without a password (a grader, where the study allows
it) signs in with an empty one and is not asked.

The services decide what the account may do; a refusal (:class:`AccessDenied`) is printed with
its reason and ends the command with exit status 2, having changed nothing.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rop_desktop.services import accounts
from rop_desktop.services.accounts import AccountError, AuthenticationError
from rop_desktop.services.policy import AccessDenied, Actor
from rop_desktop.store import StoreError, Study, StudyTooNewError

PASSWORD_ENV = "ROP_DESKTOP_PASSWORD"
NEW_PASSWORD_ENV = "ROP_DESKTOP_NEW_PASSWORD"

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_REFUSED = 2
EXIT_INTERRUPTED = 130


class CommandFailed(Exception):
    """Ends a command: ``message`` goes to stderr, ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def exit_codes(incomplete: str | None) -> str:
    """The ``--help`` epilog every sub-command shares; ``incomplete`` says what exit status 1 means
    (None: the command has no status 1)."""
    partly = f"1 {incomplete}; " if incomplete else ""
    return (
        f"exit status: 0 done; {partly}2 refused, nothing done (bad usage, no or wrong --as, "
        f"a role that may not do this, a study or file that cannot be read); {EXIT_INTERRUPTED} interrupted."
    )


def add_study_arguments(parser: argparse.ArgumentParser, who: str) -> None:
    """``--study``, ``--db-url`` and ``--as`` (``who``: the role the command needs, for the help)."""
    parser.add_argument("--study", type=Path, required=True, help="the study folder")
    parser.add_argument(
        "--db-url",
        metavar="URL",
        help="the study's database on a server (default: the folder's study.sqlite or study.server)",
    )
    add_as_argument(parser, who)


def add_annotation_export_arguments(parser: argparse.ArgumentParser, formats: tuple[str, ...]) -> None:
    """The choices of an annotation export (``annotations export`` and ``export annotations``)."""
    parser.add_argument("--format", choices=formats, required=True)
    who = parser.add_mutually_exclusive_group()
    who.add_argument(
        "--graders",
        nargs="+",
        metavar="NAME",
        help="only these accounts' work (default: everyone's for an adjudicator or admin, a grader's own)",
    )
    who.add_argument("--reference", action="store_true", help="the reference standard")
    parser.add_argument(
        "--include-drafts",
        action="store_true",
        help="also unsubmitted grades and the outlines of images whose grade is not submitted",
    )
    parser.add_argument(
        "--include-comments",
        action="store_true",
        help="admins: also the graders' comments, with the study's identity values scrubbed out",
    )
    parser.add_argument("--per-grader", action="store_true", help="masks: one folder per grader")
    parser.add_argument(
        "--copy-images",
        action="store_true",
        help="also the images (no metadata, no DICOM header) in images/; labelme and VIA exports always hold them",
    )


def add_as_argument(parser: argparse.ArgumentParser, who: str) -> None:
    parser.add_argument(
        "--as",
        dest="as_name",
        metavar="NAME",
        help=f"required: sign in as this account ({who}); password from ${PASSWORD_ENV} or asked",
    )


def run_command(prog: str, body: Callable[[], int]) -> int:
    """Run ``body`` and turn the ways a command stops into a message on stderr and an exit status."""
    try:
        return body()
    except CommandFailed as exc:
        print(f"{prog}: {exc.message}", file=sys.stderr)
        return exc.code
    except AccessDenied as exc:
        print(f"{prog}: refused: {exc.reason}", file=sys.stderr)
        return EXIT_REFUSED
    except AccountError as exc:
        print(f"{prog}: {exc.reason}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def secret(env: str, prompt: str, *, purpose: str, confirm: bool = False) -> str:
    """The value of ``env`` when set (even empty), else typed on the terminal (twice with ``confirm``).

    :class:`CommandFailed` when neither is possible or the two entries differ.
    """
    value = os.environ.get(env)
    if value is not None:
        return value
    if not _interactive():
        raise CommandFailed(f"{purpose} is needed: set {env}, or run the command in a terminal to type it.")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Type it again: ") != first:
        raise CommandFailed("the two passwords differ; nothing was changed.")
    return first


def _interactive() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdin
        return False


def open_study(folder: Path, db_url: str | None = None) -> Study:
    """The existing study in ``folder`` (or at ``db_url``); :class:`CommandFailed` with the reason."""
    try:
        return Study.open(folder, url=db_url)
    except StudyTooNewError as exc:
        raise CommandFailed(str(exc)) from exc
    except StoreError as exc:
        raise CommandFailed(
            f"{exc} (to make a new study there: rop-desktop study create {folder} --admin NAME)"
        ) from exc


def require_name(name: str | None, who: str) -> str:
    if not name or not name.strip():
        raise CommandFailed(f"say who runs this command with --as NAME ({who}); nothing was done.")
    return name.strip()


def sign_in(study: Study, name: str) -> Actor:
    """The signed-in account ``name`` (password from the environment or the terminal)."""
    password = ""
    if accounts.needs_password(study, name):
        password = secret(PASSWORD_ENV, f"Password for {name}: ", purpose=f"the password of {name}")
    try:
        return accounts.sign_in(study, name, password)
    except AuthenticationError as exc:
        raise CommandFailed(f"cannot sign in as {name}: {exc.reason} Nothing was done.") from exc


@contextmanager
def signed_in(folder: Path, name: str | None, who: str, *, db_url: str | None = None) -> Iterator[tuple[Study, Actor]]:
    """Open the study, sign in as ``name`` and close the study afterwards."""
    name = require_name(name, who)
    study = open_study(folder, db_url)
    try:
        yield study, sign_in(study, name)
    finally:
        study.close()
