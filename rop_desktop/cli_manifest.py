"""``rop-desktop manifest update``: patient, eye, exam and hospital-diagnosis data for images
already in the study, from a CSV manifest (admins only; :mod:`rop_desktop.services.manifest_update`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rop_desktop.cli_auth import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    CommandFailed,
    add_study_arguments,
    exit_codes,
    run_command,
    signed_in,
)
from rop_desktop.interop.manifest import ALIASES, ManifestError
from rop_desktop.services.manifest_update import update_from_manifest

PROG = "rop-desktop manifest"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Study metadata from a CSV manifest.")
    sub = p.add_subparsers(dest="action", required=True)
    columns = "; ".join(
        f"{name} ({', '.join(aliases[:4])}...)" if len(aliases) > 4 else f"{name} ({', '.join(aliases)})"
        for name, aliases in ALIASES.items()
    )
    update = sub.add_parser(
        "update",
        help="add or correct patient / eye / exam / hospital-diagnosis data of imported images (admins)",
        description="Apply a CSV manifest to images already in the study, as one of its admins: each row's image "
        "(found by the file name it was imported under, its pseudonymous name or its SHA-256) gets "
        "the row's patient (hospital number: images of one number become one patient), eye, exam "
        "date / camera / site, gestational age, birth weight and hospital diagnosis. Empty cells "
        "change nothing; images whose patient, eye or date change are renamed. Every change is "
        f"audited. Columns (headers match loosely): {columns}. See docs/formats.md.",
        epilog=exit_codes(
            "some rows or cells were not applied (an image not in the study or matching several, "
            "a bad cell: each is listed)"
        ),
    )
    add_study_arguments(update, "an admin of the study")
    update.add_argument("manifest", type=Path, help="the CSV manifest (a grades CSV with such columns works too)")
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    return run_command(f"{PROG} {args.action}", lambda: _update(args))


def _update(args: argparse.Namespace) -> int:
    if not args.manifest.is_file():
        raise CommandFailed(f"{args.manifest} is not a file; nothing was changed.")
    with signed_in(args.study, args.as_name, "an admin of the study", db_url=args.db_url) as (study, admin):
        try:
            summary = update_from_manifest(study, admin, args.manifest)
        except ManifestError as exc:
            raise CommandFailed(f"manifest {args.manifest}: {exc.reason}; nothing was changed.") from exc
    print("\n".join(summary.lines()))
    return EXIT_INCOMPLETE if summary.incomplete else EXIT_OK
