"""Write a demo study to a folder: PNG images, a manifest CSV and ``demo_truth.json``.

Folder layout::

    <folder>/DEMO-001_OD_2026-03-01_1.png   one PNG per image (RGB): patient_eye_examdate_view
    <folder>/manifest.csv                    one row per image
    <folder>/demo_truth.json                 truth, hospital diagnosis and grades per image

``manifest.csv`` columns (UTF-8, comma-separated, header row): ``file`` (file name, beside the
manifest, e.g. ``DEMO-001_OD_2026-03-01_1.png``), ``patient`` (pseudonymous code),
``eye`` (``OD``/``OS``), ``exam_date`` (ISO date), ``gestational_age`` (weeks, one decimal),
``birth_weight`` (grams), ``hospital_diagnosis`` (text such as ``No ROP`` or
``ROP stage 2, zone II, pre-plus``), ``camera``, ``site``, ``pma`` (post-menstrual age at the
exam, weeks, one decimal).

``demo_truth.json`` schema (version 1)::

    {
      "format": "rop-desktop-demo-truth", "version": 1, "seed": 0, "size": [640, 480],
      "graders": [{"name": "Dr. Avery", "sensitivity": 0.95, "specificity": 0.92,
                   "stage_confusion_rate": 0.1, "plus_error_rate": 0.05, "ungradable_rate": 0.03}, ...],
      "images": {
        "DEMO-001_OD_2026-03-01_1.png": {
          "patient": "DEMO-001", "eye": "OD", "exam_date": "2026-03-01", "view": 1,
          "truth": {<grade fields>, "poor_quality": false, "mature": false,
                    "fov": [cx, cy, r], "disc": [cx, cy, r], "fovea": [x, y], "lesions": [<polygon>, ...]},
          "hospital_diagnosis": {<grade fields>},
          "grades": {"Dr. Avery": {"values": {<grade fields>}, "polygons": [<polygon>, ...],
                                   "landmarks": {"disc": [x, y], "disc_radius": r, "fovea": [x, y] | null}}, ...}
        }, ...
      }
    }

``<grade fields>`` are :meth:`GradeValues.as_dict` (``rop``, ``stage``, ``zone``, ``plus``,
``arop``, ``extent_clock_hours``, ``quality``, ``confidence``, ``comment``; enum values as their
stored strings, absent answers as null) and read back with :meth:`GradeValues.from_dict`.
``<polygon>`` is ``{"type": "demarcation_line" | "ridge", "stage": "1", "points": [[x, y], ...]}``:
one simple exterior ring in image pixel coordinates (x right, y down, origin at the top-left
pixel's centre), not repeated at the end. ``landmarks`` (absent on an image the grader called
ungradable) are where that grader placed the optic disc centre, its radius and the fovea, in the
same coordinates; the fovea is null where it lies outside the aperture.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2

from .spec import DemoError
from .study import DemoImage, DemoStudy, diagnosis_text

MANIFEST_COLUMNS: tuple[str, ...] = (
    "file",
    "patient",
    "eye",
    "exam_date",
    "gestational_age",
    "birth_weight",
    "hospital_diagnosis",
    "camera",
    "site",
    "pma",
)
TRUTH_FORMAT = "rop-desktop-demo-truth"
TRUTH_VERSION = 1


@dataclass(frozen=True)
class DemoFiles:
    """Where :func:`write_demo_files` put things."""

    folder: Path
    manifest: Path
    truth: Path
    images: tuple[Path, ...]


def write_demo_files(
    study: DemoStudy, folder: str | Path, progress: Callable[[int, int], None] | None = None
) -> DemoFiles:
    """Render every image of ``study`` into ``folder`` with its manifest and truth file.

    ``progress(done, total)`` is called after each image (about 50 ms each at 640x480).
    Existing files of the same names are overwritten.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoError(f"cannot create the demo folder {folder}: {exc.strerror or exc}") from exc
    paths = []
    for image in study.images:
        path = folder / image.file_name
        ok = cv2.imwrite(str(path), cv2.cvtColor(image.render(), cv2.COLOR_RGB2BGR))
        if not ok:
            raise DemoError(f"could not write {path}")
        paths.append(path)
        if progress is not None:
            progress(len(paths), len(study.images))
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(_manifest_row(image) for image in study.images)
    truth = folder / "demo_truth.json"
    truth.write_text(json.dumps(truth_document(study), indent=1), encoding="utf-8")
    return DemoFiles(folder, manifest, truth, tuple(paths))


def _manifest_row(image: DemoImage) -> dict[str, object]:
    return {
        "file": image.file_name,
        "patient": image.patient.code,
        "eye": image.eye.value,
        "exam_date": image.exam.date.isoformat(),
        "gestational_age": f"{image.patient.gestational_age_weeks:.1f}",
        "birth_weight": image.patient.birth_weight_g,
        "hospital_diagnosis": diagnosis_text(image.hospital_diagnosis),
        "camera": image.exam.camera,
        "site": image.exam.site,
        "pma": f"{image.exam.pma_weeks:.1f}",
    }


def truth_document(study: DemoStudy) -> dict[str, object]:
    """The content of ``demo_truth.json`` (schema in the module docstring)."""
    return {
        "format": TRUTH_FORMAT,
        "version": TRUTH_VERSION,
        "seed": study.seed,
        "size": list(study.size),
        "graders": [asdict(profile) for profile in study.graders],
        "images": {
            image.file_name: {
                "patient": image.patient.code,
                "eye": image.eye.value,
                "exam_date": image.exam.date.isoformat(),
                "view": image.view,
                "truth": image.truth.as_dict(),
                "hospital_diagnosis": image.hospital_diagnosis.as_dict(),
                "grades": {grade.grader: grade.as_dict() for grade in image.grades},
            }
            for image in study.images
        },
    }
