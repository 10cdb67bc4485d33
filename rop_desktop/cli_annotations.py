"""``rop-desktop annotations import|export``: move annotations between a study and other tools."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMATS = ("via", "labelme", "coco", "masks", "grades_csv")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rop-desktop annotations",
                                description="Import or export polygons and grades (VIA 2, labelme, COCO, "
                                            "mask PNGs, grades CSV).")
    sub = p.add_subparsers(dest="action", required=True)
    imp = sub.add_parser("import", help="read annotations into a study (under a grader 'imported: <source>')")
    imp.add_argument("--study", type=Path, required=True)
    imp.add_argument("--format", choices=FORMATS, required=True)
    imp.add_argument("--images", type=Path, nargs="*", help="image files/folders to import first")
    imp.add_argument("--grader", help="the grader the annotations are stored under")
    imp.add_argument("--map", action="append", default=[], metavar="KEY=TARGET",
                     help="attribute mapping, e.g. 'ROP stage=stage' or 'DL=lesion_type=demarcation_line'")
    imp.add_argument("path", type=Path, help="the annotation file or folder")
    exp = sub.add_parser("export", help="write a study's annotations in another tool's format")
    exp.add_argument("--study", type=Path, required=True)
    exp.add_argument("--format", choices=FORMATS, required=True)
    who = exp.add_mutually_exclusive_group()
    who.add_argument("--graders", nargs="+", help="only these graders' work")
    who.add_argument("--reference", action="store_true", help="the reference standard")
    exp.add_argument("--per-grader", action="store_true", help="masks: one folder per grader")
    exp.add_argument("--copy-images", action="store_true")
    exp.add_argument("out", type=Path)
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from rop_desktop.services.annotation_io import REFERENCE, AnnotationIOError, export_annotations, import_annotations
    from rop_desktop.store import StoreError, Study

    try:
        study = Study.open(args.study)
    except StoreError as exc:
        print(f"rop-desktop annotations: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "import":
            mapping = {}
            for item in args.map:
                key, sep, target = item.partition("=")
                if not sep:
                    print(f"rop-desktop annotations: --map needs KEY=TARGET, got {item!r}", file=sys.stderr)
                    return 2
                mapping[key] = target
            summary = import_annotations(study, args.format, args.path, images=args.images or None,
                                         grader_name=args.grader, mapping=mapping or None)
            print("\n".join(summary.lines()))
            return 1 if summary.errors else 0
        graders = REFERENCE if args.reference else args.graders
        out = export_annotations(study, args.format, args.out, graders=graders, per_grader=args.per_grader,
                                 copy_images=args.copy_images)
        print(out)
        return 0
    except AnnotationIOError as exc:
        print(f"rop-desktop annotations: {exc}", file=sys.stderr)
        return 2
    finally:
        study.close()
