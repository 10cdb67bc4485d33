"""``rop-desktop export {dicom,annotations,reference,snapshot,report}`` and ``rop-desktop identity export``.

The exports are the services' (:mod:`rop_desktop.services.dicom_export`,
:mod:`~rop_desktop.services.annotation_io`, :mod:`~rop_desktop.services.export`,
:mod:`~rop_desktop.services.reports`): pseudonymous codes and names only, and the signed-in
account may export only what the access policy allows (the whole study: an adjudicator or
admin). Each command prints what it wrote and what it removed or replaced, so that whoever sends
the folder on can say what is in it. Together they are everything the window's export menus do,
for scripts; a refusal writes nothing (exit status 2).

``identity export`` writes the code ↔ patient mapping, the one file that identifies the patients:
admins only, and never part of another export.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

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
from rop_desktop.domain.consensus import RULES
from rop_desktop.services.annotation_io import FORMATS, REFERENCE, AnnotationIOError, export_annotations
from rop_desktop.services.dicom_export import DATES, DicomExportError, export_dicom
from rop_desktop.services.export import ExportError, export_reference_csv, export_snapshot
from rop_desktop.services.identity import IdentityError, export_mapping
from rop_desktop.services.policy import Action, check
from training.snapshot import TASKS

if TYPE_CHECKING:
    from rop_desktop.services.models import ModelService

PROG = "rop-desktop export"
IDENTITY_PROG = "rop-desktop identity"
REVIEWER = "an adjudicator or admin of the study"
#: What every export leaves out or replaces (the DICOM export adds the profile's own list).
PSEUDONYMOUS = (
    "patients: the study's pseudonymous codes (P0001…) instead of hospital numbers and names",
    "images: pseudonymous names (P0001-OD-20260201-001) instead of the files' own names",
    "left out: original file names, source folders, the identity table",
)
REFERENCE_CSV = "reference.csv"
#: The formats whose exports always hold the images (the tools open annotations over them).
WITH_IMAGES = ("via", "labelme")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Export a study with pseudonymous codes only: de-identified "
        "DICOM, annotations, the reference standard, a training "
        "snapshot, a model's evaluation report.",
        epilog=exit_codes("some items could not be exported (listed)"),
    )
    sub = p.add_subparsers(dest="what", required=True)
    dicom = sub.add_parser(
        "dicom",
        help="every image as de-identified DICOM (PS3.15 basic profile)",
        description="Write every image as DICOM de-identified by the PS3.15 Annex E Basic Application Level "
        "Confidentiality Profile (DICOM originals), or as a Secondary Capture holding only the "
        "pseudonymous code (other images).",
        epilog=exit_codes("some images could not be exported (the summary lists why)"),
    )
    add_study_arguments(dicom, REVIEWER)
    dicom.add_argument(
        "--dates",
        choices=DATES,
        default="remove",
        help="remove: the basic profile's handling (default); shift: the Retain Longitudinal "
        "Temporal Information with Modified Dates option, each infant's dates moved by its "
        "own offset",
    )
    _out(dicom)
    ann = sub.add_parser(
        "annotations",
        help="outlines and grades in another tool's format",
        description="Write annotations (VIA, labelme, COCO, masks, grades CSV) with pseudonymous image names. "
        "A grader exports their own work; other accounts' work and the reference need an "
        "adjudicator or admin. Graders' comments are left out unless an admin asks for them. "
        "labelme and VIA exports always hold the images, so that the tools open them: labelme's "
        "NAME.json next to NAME.png, VIA's via_project.json (Project > Load), via_regions.json "
        "and via_regions.csv (Annotation > Import annotations) next to images/. Layouts: "
        "docs/formats.md.",
        epilog=exit_codes(None),
    )
    add_study_arguments(ann, "any account; others' work needs an adjudicator or admin")
    add_annotation_export_arguments(ann, FORMATS)
    _out(ann)
    ref = sub.add_parser(
        "reference",
        help="the reference standard as CSV",
        description=f"Write the reference standard as {REFERENCE_CSV} in the folder.",
        epilog=exit_codes(None),
    )
    add_study_arguments(ref, REVIEWER)
    _out(ref)
    snap = sub.add_parser(
        "snapshot",
        help="a training dataset snapshot of the reference standard",
        description="Write the reference standard as a training snapshot (training/README.md).",
        epilog=exit_codes(None),
    )
    add_study_arguments(snap, REVIEWER)
    snap.add_argument("--task", choices=TASKS, help="only the records usable for this training task")
    snap.add_argument("--mask-rule", choices=RULES, default="majority", help="consensus of the graders' outlines")
    _out(snap)
    report = sub.add_parser(
        "report",
        help="a model version's evaluation report (HTML, optionally PDF)",
        description="Evaluate a model version of the study on its reference standard and write the report the "
        "Models tab's 'Report...' writes: report.html (self-contained), and report.pdf with --pdf.",
        epilog=exit_codes(None),
    )
    add_study_arguments(report, REVIEWER)
    report.add_argument(
        "--version",
        type=int,
        metavar="N",
        help="the model version's number (default: the newest active version, else the newest)",
    )
    report.add_argument("--pdf", action="store_true", help="also an A4 PDF of the report")
    report.add_argument("--device", default="auto", help="torch device for the evaluation (default: auto)")
    _out(report)
    return p


def identity_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=IDENTITY_PROG, description="The study's identity table: who the patients are.")
    sub = p.add_subparsers(dest="action", required=True)
    exp = sub.add_parser(
        "export",
        help="the code ↔ patient mapping as CSV (admins)",
        description="Write the mapping between the study's pseudonymous codes and image names and what identifies "
        "each patient and file (hospital numbers, names, birth dates, file names, folders), one row "
        "per value. Admins only. This file identifies the patients: it is never part of another "
        "export; keep it where the study's identity is kept.",
        epilog=exit_codes(None),
    )
    add_study_arguments(exp, "an admin of the study")
    exp.add_argument("--out", type=Path, required=True, metavar="FILE", help="the CSV file to write")
    return p


def _out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder to write into")


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    body = {
        "dicom": _dicom,
        "annotations": _annotations,
        "reference": _reference,
        "snapshot": _snapshot,
        "report": _model_report,
    }[args.what]
    return run_command(f"{PROG} {args.what}", lambda: body(args))


def run_identity(argv: list[str]) -> int:
    args = identity_parser().parse_args(argv)
    return run_command(f"{IDENTITY_PROG} {args.action}", lambda: _identity(args))


def _dicom(args: argparse.Namespace) -> int:
    with signed_in(args.study, args.as_name, REVIEWER, db_url=args.db_url) as (study, actor):
        try:
            summary = export_dicom(study, actor, args.out, dates=args.dates)
        except DicomExportError as exc:
            raise CommandFailed(f"{exc.reason}; nothing was exported.") from exc
    print("\n".join(summary.lines()))
    return EXIT_INCOMPLETE if summary.failed else EXIT_OK


def _annotations(args: argparse.Namespace) -> int:
    with signed_in(args.study, args.as_name, "any account", db_url=args.db_url) as (study, actor):
        try:
            written = export_annotations(
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
    comments = (
        "graders' comments: written, every identity value of the study replaced by [removed]"
        if args.include_comments
        else "left out: graders' comments (free text)"
    )
    images = (
        ["images: copied without their metadata (PNG text, EXIF, comments) or DICOM header"]
        if args.copy_images or args.format in WITH_IMAGES
        else []
    )
    _report(written, [*PSEUDONYMOUS, comments, *images])
    return EXIT_OK


def _reference(args: argparse.Namespace) -> int:
    with signed_in(args.study, args.as_name, REVIEWER, db_url=args.db_url) as (study, actor):
        try:
            written = export_reference_csv(study, actor, args.out / REFERENCE_CSV)
        except ExportError as exc:
            raise CommandFailed(exc.reason) from exc
    _report(written, [*PSEUDONYMOUS, "left out: comments on the reference (free text)"])
    return EXIT_OK


def _snapshot(args: argparse.Namespace) -> int:
    with signed_in(args.study, args.as_name, REVIEWER, db_url=args.db_url) as (study, actor):
        try:
            snapshot = export_snapshot(study, actor, args.out, task_filter=args.task, mask_rule=args.mask_rule)
        except ExportError as exc:
            raise CommandFailed(exc.reason) from exc
    _report(
        args.out,
        [
            f"records: {len(snapshot)}",
            f"hash: {snapshot.stored_hash}",
            *PSEUDONYMOUS,
            "left out: graders' comments (free text)",
            "images: without their metadata (PNG text, EXIF, comments) or DICOM header",
        ],
    )
    return EXIT_OK


def _model_report(args: argparse.Namespace) -> int:
    from rop_desktop.services.models import ModelService  # torch: only for this command
    from rop_desktop.services.reports import ReportService, ReportServiceError

    with signed_in(args.study, args.as_name, REVIEWER, db_url=args.db_url) as (study, actor):
        check(study, actor, Action.MODELS_MANAGE)  # a grader is refused before anything is evaluated
        version = _version_to_report(ModelService(study, actor), args.version)
        try:
            written = ReportService(study, actor, device=args.device).write(version)
        except ReportServiceError as exc:
            raise CommandFailed(f"{exc}; nothing was written.") from exc
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        html = args.out / "report.html"
        shutil.copyfile(written.html, html)
        pdf = _write_pdf(html) if args.pdf else None
    except OSError as exc:
        raise CommandFailed(f"cannot write in {args.out}: {exc.strerror or exc}") from exc
    pdf_line = [f"wrote: {pdf}"] if pdf else []
    _report(
        html,
        [*pdf_line, f"model version: #{version}", "images: pseudonymous example images only; no names, no comments"],
    )
    return EXIT_OK


def _version_to_report(models: ModelService, wanted: int | None) -> int:
    """``wanted`` when the study has it; else the newest active version, else the newest."""
    versions = models.versions()
    if not versions:
        raise CommandFailed(
            "the study has no model version to report on (train or register one first); nothing was written."
        )
    if wanted is None:
        return max(versions, key=lambda v: (v.active, v.created_at, v.id)).id
    if wanted not in {v.id for v in versions}:
        listed = ", ".join(f"#{v.id} {v.name}" for v in versions)
        raise CommandFailed(
            f"there is no model version #{wanted} in this study (it has {listed}); nothing was written."
        )
    return wanted


def _write_pdf(html: Path) -> Path:
    """The report printed to A4 PDF next to ``html``, as the window's Report... does (Qt, off screen)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from rop_desktop.ui.prediction.report_export import write_pdf

    app = QApplication.instance() or QApplication([PROG])  # Qt's printing needs one, alive while it prints
    written = write_pdf(html.read_text(encoding="utf-8"), html.with_suffix(".pdf"))
    del app
    return written


def _identity(args: argparse.Namespace) -> int:
    with signed_in(args.study, args.as_name, "an admin of the study", db_url=args.db_url) as (study, admin):
        try:
            result = export_mapping(study, admin, args.out)
        except IdentityError as exc:
            raise CommandFailed(exc.reason) from exc
    print("\n".join(result.lines()))
    return EXIT_OK


def _report(written: Path, lines: list[str]) -> None:
    print("\n".join([f"wrote: {written}", *lines]))
