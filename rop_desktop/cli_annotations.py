"""``rop-desktop annotations import|export``: move annotations between a study and other tools.

Import is an admin's: the items land under a new account ``imported: <file name>`` (a grades
CSV: ``imported: <grader>`` per grader), or under existing accounts named with ``--into-grader``
/ ``--grader-map`` whose submitted work is kept; an import adds to what an account holds, and
every image where it would change something already there is listed and skipped (exit status 1). Export writes what the signed-in account
may export: a grader their own submitted work; an adjudicator or admin anyone's, or the
reference standard.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from rop_desktop.cli_auth import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    CommandFailed,
    add_annotation_export_arguments,
    add_study_arguments,
    exit_codes,
    run_command,
    signed_in,
)
from rop_desktop.services.annotation_io import (
    FORMATS,
    REFERENCE,
    AnnotationIOError,
    export_annotations,
    import_annotations,
)
from rop_desktop.services.annotation_io.common import GRADE_VALUES
from rop_desktop.services.annotation_io.grades_csv import GRADER_COLUMNS, IMAGE_COLUMNS

PROG = "rop-desktop annotations"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Import or export polygons and grades (VIA 2, labelme, COCO, mask PNGs, grades CSV)."
    )
    sub = p.add_subparsers(dest="action", required=True)
    imp = sub.add_parser(
        "import",
        help="read annotations into a study (admins)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_wrap(
            "Read annotations into a study, as one of its admins. By default they are stored under a "
            "new account 'imported: <file name>' (a grades CSV: 'imported: <grader>' per grader; nobody "
            "signs in as these, their grades vote). --into-grader stores everything under one existing "
            "account, --grader-map a CSV grader's under an existing account; a person's submitted work "
            "is never changed. An import adds what the file carries (a grades CSV: grade values; an "
            "outline file: outlines and the grade they imply) to what the account holds; a value or "
            "outline that differs from one already there is a conflict: listed, that image skipped. "
            "Every format, column and value: docs/formats.md."
        ),
        epilog=import_help()
        + "\n\n"
        + _wrap(
            exit_codes(
                "some items were not imported (bad values, conflicts with work already there, images not in the "
                "study: the summary lists each)"
            )
        ),
    )
    add_study_arguments(imp, "an admin of the study")
    imp.add_argument("--format", choices=FORMATS, required=True)
    imp.add_argument(
        "--images",
        type=Path,
        nargs="+",
        action="extend",
        metavar="PATH",
        help="image files/folders to import first (repeatable; the annotation file comes last, or before --images)",
    )
    imp.add_argument(
        "--manifest",
        type=Path,
        metavar="CSV",
        help="with --images: their patient / eye / exam data (as 'rop-desktop import --manifest'); "
        "for images already in the study: rop-desktop manifest update",
    )
    imp.add_argument(
        "--into-grader",
        metavar="NAME",
        help="an existing account that receives the annotations (its submitted work is kept)",
    )
    imp.add_argument("--grader", help=argparse.SUPPRESS)  # deprecated: the same as --into-grader
    imp.add_argument(
        "--grader-map",
        action="append",
        default=[],
        metavar="LABEL=NAME",
        help="grades CSV: the grader LABEL of the file (G1, or a grader column's value) is the "
        "existing account NAME (repeatable; other graders get import accounts)",
    )
    imp.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="KEY=TARGET",
        help="attribute mapping, e.g. 'ROP stage=stage', 'DL=lesion_type=demarcation_line', 'Thick ridge=stage=2'",
    )
    imp.add_argument(
        "--empty-means-negative",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="an image the file lists without any region is 'no ROP' (default: on for via, labelme "
        "and coco, whose files list every image)",
    )
    imp.add_argument(
        "--replace",
        action="store_true",
        help="let the file replace what an earlier import stored under its import account(s) "
        "instead of listing the differences as conflicts (never a person's work)",
    )
    imp.add_argument("path", type=Path, nargs="?", help="the annotation file or folder")
    exp = sub.add_parser(
        "export",
        help="write a study's annotations in another tool's format",
        description="Write annotations in another tool's format, with pseudonymous image names. A grader "
        "exports their own work; other accounts' work and the reference standard need an "
        "adjudicator or admin. Only submitted work is written unless --include-drafts.",
        epilog=exit_codes(None),
    )
    add_study_arguments(exp, "any account; others' work needs an adjudicator or admin")
    add_annotation_export_arguments(exp, FORMATS)
    exp.add_argument("out", type=Path)
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    return run_command(f"{PROG} {args.action}", lambda: _import(args) if args.action == "import" else _export(args))


def _mapping(items: list[str], *, option: str = "--map", what: str = "KEY=TARGET") -> dict[str, str]:
    mapping = {}
    for item in items:
        key, sep, target = item.partition("=")
        if not sep or not key.strip():
            raise CommandFailed(f"{option} needs {what}, got {item!r}")
        mapping[key] = target
    return mapping


def _wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=indent + ("  " if indent else ""))


def import_help() -> str:
    """The grades CSV layouts and every accepted value (``annotations import --help``)."""
    lines = [
        "grades CSV (--format grades_csv), told apart by the header:",
        _wrap(
            "long: one row per image and grader: image, grader, rop, stage, ... (without a grader "
            "column the file is one grader's)",
            "  ",
        ),
        _wrap(
            "wide: one row per image: filename, G1_rop, G1_stage, ..., G4_stage (the grader is the "
            "column name's prefix)",
            "  ",
        ),
        _wrap(f"image column: {', '.join(IMAGE_COLUMNS)}", "  "),
        _wrap(f"grader column: {', '.join(GRADER_COLUMNS)}", "  "),
        "fields (also by their usual aliases: rop_stage, plus_disease, image_quality, ...) and values:",
    ]
    lines += [_wrap(f"{name}: {accepted}", "  ") for name, accepted in GRADE_VALUES.items()]
    lines += [
        _wrap(
            "A row with any other value is an error: nothing of that row is imported. Columns that are "
            "no grade field (hospital_diagnosis, patient, ...) are reported, and left to 'rop-desktop "
            "manifest update', which reads them from the same file."
        ),
        "",
        _wrap(
            "via / labelme / coco: a region labelled with a stage (attribute 'stage', a label such as "
            "'stage_2', or --map 'LABEL=stage=2') gives the image that stage (the highest of its "
            "regions) and ROP yes; with --empty-means-negative (their default) an image the file lists "
            "without regions is 'no ROP', stage 0. via reads a project, a region JSON export or VIA's "
            "region CSV export."
        ),
    ]
    return "\n".join(lines)


def _import(args: argparse.Namespace) -> int:
    mapping = _mapping(args.map)
    grader_map = _mapping(args.grader_map, option="--grader-map", what="LABEL=NAME")
    images = list(args.images or [])
    path = args.path
    if path is None and len(images) >= 2:  # '--images DIR FILE': the last one is the annotation file
        path = images.pop()
    if path is None:
        raise CommandFailed(
            "name the annotation file or folder (after the images, or before --images); nothing was imported."
        )
    into = args.into_grader
    if args.grader:
        print(f"{PROG} import: --grader is deprecated; it means --into-grader", file=sys.stderr)
        if into and into != args.grader:
            raise CommandFailed("--grader and --into-grader name different accounts")
        into = args.grader
    with signed_in(args.study, args.as_name, "an admin of the study", db_url=args.db_url) as (study, admin):
        try:
            summary = import_annotations(
                study,
                admin,
                args.format,
                path,
                images=images or None,
                into_grader=into,
                mapping=mapping or None,
                grader_map=grader_map or None,
                manifest=args.manifest,
                empty_means_negative=args.empty_means_negative,
                replace=args.replace,
            )
        except AnnotationIOError as exc:
            raise CommandFailed(f"{exc.reason} No annotation was imported.") from exc
    print("\n".join(summary.lines()))
    return EXIT_INCOMPLETE if summary.incomplete else EXIT_OK


def _export(args: argparse.Namespace) -> int:
    who = "any account; others' work needs an adjudicator or admin"
    with signed_in(args.study, args.as_name, who, db_url=args.db_url) as (study, actor):
        try:
            out = export_annotations(
                study,
                actor,
                args.format,
                args.out,
                graders=REFERENCE if args.reference else args.graders,
                include_drafts=args.include_drafts,
                per_grader=args.per_grader,
                copy_images=args.copy_images,
                include_comments=args.include_comments,
            )
        except AnnotationIOError as exc:
            raise CommandFailed(exc.reason) from exc
    print(out)
    return EXIT_OK
