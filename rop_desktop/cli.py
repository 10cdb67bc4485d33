"""The ``rop-desktop`` command line: open the app, or run a headless sub-command.

``rop-desktop [--study PATH | --demo]`` opens the window;
``rop-desktop import --study PATH [--manifest CSV] SOURCE...`` imports headless and exits
0 when nothing failed, 1 when some files failed, 2 on bad usage (argparse's own code).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rop_desktop import __version__

SUBCOMMANDS = ("import",)


def _app_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rop-desktop",
        description="Annotate, grade and model Retinopathy of Prematurity images. "
                    f"Sub-commands: {', '.join(SUBCOMMANDS)} (see 'rop-desktop import --help').")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--study", type=Path, help="open (or create) the study in this folder")
    where.add_argument("--demo", action="store_true",
                       help="open the demo study (synthetic images; created on first use)")
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


def run(argv: list[str]) -> int:
    if argv and argv[0] == "import":
        return _cmd_import(_import_parser().parse_args(argv[1:]))
    args = _app_parser().parse_args(argv)
    from rop_desktop.app import run_app  # Qt is imported only when a window is wanted

    return run_app(study=args.study, demo=args.demo, grader=args.grader, screenshot=args.screenshot)


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
