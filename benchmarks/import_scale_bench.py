"""Does import slow down as the study grows? The first 1,000 images vs 1,000 more into a big study.

    .venv/bin/python benchmarks/import_scale_bench.py --big /tmp/rop-scale-100k [--images 1000]

``--big`` is a study built by ``benchmarks/scale_bench.py --images 100000 --keep DIR`` (it is
copied first, so the original stays as it was). The same ``--images`` distinct PNG files (320x240,
each its own colour, so no duplicates) are imported through the real import service by the
study's admin, once into a new empty study and once into the copy of the big one, with a
manifest giving each file its own patient (new patients, so the lookups by hospital number and
the pseudonymous codes run as in a real screening import). Prints images/s for both and their
ratio (issue 15 target: within 20 %).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_accounts import bench_admin

from rop_desktop.services.importer import run_import
from rop_desktop.store import Study


def write_images(folder: Path, n: int, offset: int) -> Path:
    """``n`` distinct small fundus-like PNGs and a manifest giving each a new patient."""
    folder.mkdir(parents=True)
    rows = []
    for i in range(n):
        k = offset + i
        img = np.zeros((240, 320, 3), np.uint8)
        cv2.circle(img, (160, 120), 100, (40 + k % 200, 60 + (k // 200) % 190, 30 + (k // 38000) % 200), -1)
        cv2.putText(img, str(k), (120, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
        name = f"img{k:06d}_OD.png"
        cv2.imwrite(str(folder / name), img)
        rows.append({"file": name, "patient": f"MRN-{k:08d}", "eye": "OD", "exam_date": "2026-11-02"})
    manifest = folder.parent / f"{folder.name}.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def timed_import(study_folder: Path, images: Path, manifest: Path) -> tuple[int, float]:
    with Study.open_or_create(study_folder) as study:
        admin = bench_admin(study)
        t0 = time.perf_counter()
        summary = run_import(study, admin, [images], manifest)
        seconds = time.perf_counter() - t0
    if summary.failed:
        raise SystemExit(f"import failed: {summary.failed[:3]}")
    return len(summary.imported), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big", type=Path, required=True, help="a big study (scale_bench.py --keep)")
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rop-import-scale-") as tmp:
        work = Path(tmp)
        first_files = write_images(work / "first", args.images, 0)
        later_files = write_images(work / "later", args.images, 3_000_000)
        n1, s1 = timed_import(work / "empty-study", work / "first", first_files)
        big = work / "big-study"
        shutil.copytree(args.big, big)
        with Study.open(big) as study, study.session() as session:
            from sqlalchemy import func, select

            from rop_desktop.store.schema import Image

            before = session.scalar(select(func.count()).select_from(Image))
        n2, s2 = timed_import(big, work / "later", later_files)
    first, later = n1 / s1, n2 / s2
    print(f"first {n1} images into an empty study: {first:.1f} images/s ({s1:.1f} s)")
    print(f"{n2} more into a study of {before:,} images: {later:.1f} images/s ({s2:.1f} s)")
    print(f"later / first: {later / first:.2f} (target: within 20 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
