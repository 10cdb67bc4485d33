"""``rop-desktop annotations import|export``: move annotations between a study and other tools.

Import is an admin's: the items land under a new account ``imported: <file name>``, or under
an existing account named with ``--into-grader`` whose submitted work is kept (every image
where it differs is listed and skipped, exit status 1). Export writes what the signed-in account
may export: a grader their own submitted work; an adjudicator or admin anyone's, or the
reference standard.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rop_desktop.cli_auth import (EXIT_INCOMPLETE, EXIT_OK, CommandFailed, add_annotation_export_arguments,
                                  add_study_arguments, exit_codes,
                                  run_command, signed_in)
from rop_desktop.services.annotation_io import FORMATS, REFERENCE, AnnotationIOError, export_annotations, \
    import_annotations

PROG = "rop-desktop annotations"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Import or export polygons and grades (VIA 2, labelme, "
                                                       "COCO, mask PNGs, grades CSV).")
    sub = p.add_subparsers(dest="action", required=True)
    imp = sub.add_parser(
        "import", help="read annotations into a study (admins)",
        description="Read annotations into a study, as one of its admins. By default they are stored under a "
                    "new account 'imported: <file name>' (nobody signs in as it; its grades vote). "
                    "--into-grader stores them under an existing account instead, but never over work that "
                    "account submitted: each such image is listed as a conflict and skipped.",
        epilog=exit_codes("some items were not imported (conflicts with submitted work, or bad items: the "
                          "summary lists each)"))
    add_study_arguments(imp, "an admin of the study")
    imp.add_argument("--format", choices=FORMATS, required=True)
    imp.add_argument("--images", type=Path, nargs="*", help="image files/folders to import first")
    imp.add_argument("--into-grader", metavar="NAME",
                     help="an existing account that receives the annotations (its submitted work is kept)")
    imp.add_argument("--grader", help=argparse.SUPPRESS)  # deprecated: the same as --into-grader
    imp.add_argument("--map", action="append", default=[], metavar="KEY=TARGET",
                     help="attribute mapping, e.g. 'ROP stage=stage' or 'DL=lesion_type=demarcation_line'")
    imp.add_argument("path", type=Path, help="the annotation file or folder")
    exp = sub.add_parser(
        "export", help="write a study's annotations in another tool's format",
        description="Write annotations in another tool's format, with pseudonymous image names. A grader "
                    "exports their own work; other accounts' work and the reference standard need an "
                    "adjudicator or admin. Only submitted work is written unless --include-drafts.",
        epilog=exit_codes(None))
    add_study_arguments(exp, "any account; others' work needs an adjudicator or admin")
    add_annotation_export_arguments(exp, FORMATS)
    exp.add_argument("out", type=Path)
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    return run_command(f"{PROG} {args.action}", lambda: _import(args) if args.action == "import" else _export(args))


def _mapping(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        key, sep, target = item.partition("=")
        if not sep:
            raise CommandFailed(f"--map needs KEY=TARGET, got {item!r}")
        mapping[key] = target
    return mapping


def _import(args: argparse.Namespace) -> int:
    mapping = _mapping(args.map)
    into = args.into_grader
    if args.grader:
        print(f"{PROG} import: --grader is deprecated; it means --into-grader", file=sys.stderr)
        if into and into != args.grader:
            raise CommandFailed("--grader and --into-grader name different accounts")
        into = args.grader
    with signed_in(args.study, args.as_name, "an admin of the study", db_url=args.db_url) as (study, admin):
        try:
            summary = import_annotations(study, admin, args.format, args.path, images=args.images or None,
                                         into_grader=into, mapping=mapping or None)
        except AnnotationIOError as exc:
            raise CommandFailed(f"{exc.reason} No annotation was imported.") from exc
    print("\n".join(summary.lines()))
    return EXIT_INCOMPLETE if summary.incomplete else EXIT_OK


def _export(args: argparse.Namespace) -> int:
    who = "any account; others' work needs an adjudicator or admin"
    with signed_in(args.study, args.as_name, who, db_url=args.db_url) as (study, actor):
        try:
            out = export_annotations(study, actor, args.format, args.out,
                                     graders=REFERENCE if args.reference else args.graders,
                                     include_drafts=args.include_drafts, per_grader=args.per_grader,
                                     copy_images=args.copy_images, include_comments=args.include_comments)
        except AnnotationIOError as exc:
            raise CommandFailed(exc.reason) from exc
    print(out)
    return EXIT_OK
