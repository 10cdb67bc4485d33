"""The ``rop-desktop`` command line: open the app, or run a headless sub-command.

``rop-desktop [--study PATH | --demo]`` opens the window. The sub-commands, each in its own
module and each with its exit statuses in its ``--help``:

* ``study create FOLDER --admin NAME`` / ``study copy SRC DST --as ADMIN`` (:mod:`.cli_study`);
* ``import --study S --as ADMIN SOURCE...`` (:mod:`.cli_import`);
* ``graders list|add|set-role|set-password|deactivate|reactivate --study S --as NAME``
  (:mod:`.cli_graders`);
* ``annotations import|export --study S --as NAME`` (:mod:`.cli_annotations`);
* ``export dicom|annotations|reference|snapshot|report --study S --as NAME --out DIR`` and
  ``identity export --study S --as ADMIN --out FILE`` (:mod:`.cli_export`);
* ``reference recompute --study S --as NAME`` (:mod:`.cli_reference`);
* ``manifest update --study S --as ADMIN MANIFEST.csv`` (:mod:`.cli_manifest`).

Every sub-command that touches graders' work, accounts or exports signs in with ``--as NAME``
(password from ``$ROP_DESKTOP_PASSWORD`` or the terminal, :mod:`.cli_auth`) and the services
decide what that account may do. Exit statuses: 0 done, 1 done in part (the summary says what
was not), 2 refused or bad usage (nothing done), 130 interrupted.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from rop_desktop import __version__

SUBCOMMANDS = ("study", "import", "graders", "annotations", "export", "identity", "reference", "manifest")


def _app_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rop-desktop",
        description="Annotate, grade and model Retinopathy of Prematurity images. "
        f"Sub-commands: {', '.join(SUBCOMMANDS)} (see 'rop-desktop study --help'); "
        "each signs in with --as NAME and prints its exit statuses in its --help.",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--study", type=Path, help="open (or create) the study in this folder")
    where.add_argument(
        "--demo", action="store_true", help="open the demo study (synthetic images; created on first use)"
    )
    where.add_argument(
        "--self-test",
        action="store_true",
        help="headless check of this installation (demo study, window, grading, training, "
        "prediction in a temp folder); exits 0 when it passes",
    )
    p.add_argument(
        "--db-url",
        metavar="URL",
        help="the study's database on a server, e.g. postgresql+psycopg://user@host/db?sslmode=prefer "
        "(no password: use ~/.pgpass or a service file); with --study FOLDER for its images",
    )
    p.add_argument("--grader", help="grade as this grader (skips the grader dialog)")
    p.add_argument("--screenshot", type=Path, help=argparse.SUPPRESS)  # docs: grab the window and exit
    p.add_argument("--version", action="version", version=f"ROP Desktop {__version__}")
    return p


def _subcommand(name: str) -> Callable[[list[str]], int]:
    """The ``run(argv)`` of a sub-command's module, imported only when it is used (no Qt, no torch)."""
    if name == "study":
        from rop_desktop import cli_study

        return cli_study.run
    if name == "import":
        from rop_desktop import cli_import

        return cli_import.run
    if name == "graders":
        from rop_desktop import cli_graders

        return cli_graders.run
    if name in ("export", "identity"):
        from rop_desktop import cli_export

        return cli_export.run if name == "export" else cli_export.run_identity
    if name == "manifest":
        from rop_desktop import cli_manifest

        return cli_manifest.run
    if name == "reference":
        from rop_desktop import cli_reference

        return cli_reference.run
    from rop_desktop import cli_annotations

    return cli_annotations.run


def run(argv: list[str]) -> int:
    if argv and argv[0] in SUBCOMMANDS:
        return _subcommand(argv[0])(argv[1:])
    args = _app_parser().parse_args(argv)
    if args.self_test:
        from rop_desktop.selftest import run_self_test

        return run_self_test()
    from rop_desktop.app import run_app  # Qt is imported only when a window is wanted

    return run_app(study=args.study, demo=args.demo, grader=args.grader, screenshot=args.screenshot, db_url=args.db_url)
