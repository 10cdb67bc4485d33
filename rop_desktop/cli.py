"""The ``rop-desktop`` command line: open the app, or run a headless sub-command.

``rop-desktop [--study PATH | --demo]`` opens the window;
``rop-desktop import --study PATH [--manifest CSV] SOURCE...`` imports headless and exits
0 when nothing failed, 1 when some files failed, 2 on bad usage (argparse's own code).
``rop-desktop study create FOLDER [--db-url URL] [--name NAME]`` makes an empty study;
``rop-desktop study copy SRC DST [--db-url URL]`` copies a study between SQLite and PostgreSQL
(see ``docs/shared-study.md``); exit 0 when copied, 1 when the copy failed (nothing left behind).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rop_desktop import __version__

SUBCOMMANDS = ("import", "study create", "study copy", "annotations import", "annotations export")


def _app_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rop-desktop",
        description="Annotate, grade and model Retinopathy of Prematurity images. "
                    f"Sub-commands: {', '.join(SUBCOMMANDS)} (see 'rop-desktop import --help').")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--study", type=Path, help="open (or create) the study in this folder")
    where.add_argument("--demo", action="store_true",
                       help="open the demo study (synthetic images; created on first use)")
    where.add_argument("--self-test", action="store_true",
                       help="headless check of this installation (demo study, window, grading, training, "
                            "prediction in a temp folder); exits 0 when it passes")
    p.add_argument("--db-url", metavar="URL",
                   help="the study's database on a server, e.g. postgresql+psycopg://user@host/db?sslmode=prefer "
                        "(no password: use ~/.pgpass or a service file); with --study FOLDER for its images")
    p.add_argument("--grader", help="grade as this grader (skips the grader dialog)")
    p.add_argument("--screenshot", type=Path, help=argparse.SUPPRESS)  # docs: grab the window and exit
    p.add_argument("--version", action="version", version=f"ROP Desktop {__version__}")
    return p


def _import_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rop-desktop import",
                                description="Import image files and folders (JPEG, PNG, BMP, TIFF, DICOM) "
                                            "into a study, creating the study if needed.")
    p.add_argument("--study", type=Path, required=True, help="study folder")
    p.add_argument("--manifest", type=Path, help="CSV of patient / eye data (file, patient, eye, exam_date, "
                                                 "gestational_age, birth_weight, hospital_diagnosis)")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.add_argument("sources", nargs="+", type=Path, help="image files and folders")
    return p


def _study_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rop-desktop study", description="Manage whole studies.")
    sub = p.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="make a new, empty study (SQLite, or on a PostgreSQL server)",
                            description="Make a new study in FOLDER. With --db-url its database is an empty "
                                        "PostgreSQL database and FOLDER (on a share) remembers the URL, without "
                                        "password, in study.server.")
    create.add_argument("folder", type=Path, help="the new study folder")
    create.add_argument("--db-url", help="an empty server database, e.g. postgresql+psycopg:///?service=rop")
    create.add_argument("--name", help="the study's display name (default: the folder name)")
    copy = sub.add_parser("copy", help="copy a study to a new folder, between SQLite and PostgreSQL",
                          description="Copy every row, image, model and cached file of the study in SRC to a "
                                      "new study in DST (a new or empty folder). Give --db-url to put the "
                                      "copy's database on a PostgreSQL server (an empty database; the password "
                                      "comes from ~/.pgpass or a service file, never from the study).")
    copy.add_argument("src", type=Path, help="the study folder to copy (SQLite, or shared with study.server)")
    copy.add_argument("dst", type=Path, help="the new study folder (images, models, cache; study.sqlite or study.server)")
    copy.add_argument("--db-url", help="the copy's database, e.g. postgresql+psycopg://grader@host/rop?sslmode=prefer "
                                       "or postgresql+psycopg:///?service=rop (default: DST/study.sqlite)")
    copy.add_argument("--src-db-url", help="read the source from this database instead of SRC's own")
    return p


def run(argv: list[str]) -> int:
    if argv and argv[0] == "import":
        return _cmd_import(_import_parser().parse_args(argv[1:]))
    if argv and argv[0] == "study":
        return _cmd_study(_study_parser().parse_args(argv[1:]))
    if argv and argv[0] == "annotations":
        from rop_desktop import cli_annotations

        return cli_annotations.run(argv[1:])
    args = _app_parser().parse_args(argv)
    if args.self_test:
        from rop_desktop.selftest import run_self_test

        return run_self_test()
    from rop_desktop.app import run_app  # Qt is imported only when a window is wanted

    return run_app(study=args.study, demo=args.demo, grader=args.grader, screenshot=args.screenshot,
                   db_url=args.db_url)


def _cmd_import(args: argparse.Namespace) -> int:
    from rop_desktop.interop.manifest import ManifestError
    from rop_desktop.services.importer import import_images
    from rop_desktop.store import StoreError, Study

    try:
        study = Study.open_or_create(args.study)
    except StoreError as exc:
        print(f"rop-desktop import: {exc}", file=sys.stderr)
        return 2
    try:
        gen = import_images(study, args.sources, args.manifest)
        while True:
            try:
                progress = next(gen)
            except StopIteration as stop:
                summary = stop.value
                break
            if not args.quiet:
                status = f" ({progress.problem.reason})" if progress.problem else ""
                print(f"[{progress.done}/{progress.total}] {progress.current}{status}", file=sys.stderr)
    except ManifestError as exc:
        print(f"rop-desktop import: manifest {args.manifest}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rop-desktop import: interrupted; the images imported so far are complete", file=sys.stderr)
        return 130
    finally:
        study.close()
    print(f"study: {study.root}")
    print("\n".join(summary.lines()))
    return 1 if summary.failed else 0


def _cmd_study(args: argparse.Namespace) -> int:
    from rop_desktop.services.study_copy import copy_study
    from rop_desktop.store import StoreError, Study

    if args.action == "create":
        try:
            Study.create(args.folder, args.name, url=args.db_url).close()
        except StoreError as exc:
            print(f"rop-desktop study create: {exc}", file=sys.stderr)
            return 1
        print(f"study: {args.folder.expanduser().resolve()}")
        return 0
    try:
        summary = copy_study(args.src, args.dst, dst_url=args.db_url, src_url=args.src_db_url,
                             progress=lambda line: print(line, file=sys.stderr))
    except StoreError as exc:
        print(f"rop-desktop study copy: {exc}", file=sys.stderr)
        return 1
    print("\n".join(summary.lines()))
    return 0
