"""``rop-desktop import``: import image files and folders into an existing study (admins only)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rop_desktop.cli_auth import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CommandFailed,
    add_study_arguments,
    exit_codes,
    run_command,
    signed_in,
)
from rop_desktop.interop.manifest import ManifestError
from rop_desktop.services.importer import import_images

PROG = "rop-desktop import"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Import image files and folders (JPEG, PNG, BMP, TIFF, DICOM) into a study, as one of its "
        "admins. The study must exist: make it with 'rop-desktop study create FOLDER --admin NAME'.",
        epilog=exit_codes("some files failed (the others were imported; the summary lists why)"),
    )
    add_study_arguments(p, "an admin of the study")
    p.add_argument(
        "--manifest",
        type=Path,
        help="CSV of patient / eye data (file, patient, eye, exam_date, "
        "gestational_age, birth_weight, hospital_diagnosis)",
    )
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.add_argument("sources", nargs="+", type=Path, help="image files and folders")
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    return run_command(PROG, lambda: _import(args))


def _import(args: argparse.Namespace) -> int:
    with signed_in(args.study, args.as_name, "an admin of the study", db_url=args.db_url) as (study, admin):
        gen = import_images(study, admin, args.sources, args.manifest)
        try:
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
            raise CommandFailed(f"manifest {args.manifest}: {exc}") from exc
        except KeyboardInterrupt:
            gen.close()
            print(f"{PROG}: interrupted; the images imported so far are complete", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(f"study: {study.root}")
    print("\n".join(summary.lines()))
    return EXIT_INCOMPLETE if summary.failed else EXIT_OK
