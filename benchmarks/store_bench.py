"""Import throughput and study-open time (issue: foundation). Prints a Markdown table.

    .venv/bin/python benchmarks/store_bench.py [--real ../shared/data/hvdropdb-ridge-neo/images]

- import throughput (images/s) of the demo study's 640x480 PNGs and of the real 2040x2040 PNGs,
  through the same path as the app (decode, SHA-256, content-addressed copy, thumbnail, field of
  view, one transaction per image);
- time to open a study of 5,000 images and list its rows (no pixels): Study.open + the worklist query.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_accounts import bench_admin, bench_grader  # noqa: E402

from rop_desktop.demo import generate_demo, write_demo_files  # noqa: E402
from rop_desktop.services.grading import GradingService  # noqa: E402
from rop_desktop.services.importer import run_import  # noqa: E402
from rop_desktop.store import Study, repo  # noqa: E402
from rop_desktop.store.types import utcnow  # noqa: E402


def bench_import(folder: Path, manifest: Path | None, work: Path, label: str) -> tuple[str, str]:
    files = [p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg")]
    target = work / f"import-{label}"
    t0 = time.perf_counter()
    with Study.create(target) as study:
        summary = run_import(study, bench_admin(study), [folder], manifest)
    seconds = time.perf_counter() - t0
    assert not summary.failed, summary.failed
    n = len(summary.imported)
    return label, f"{n} images in {seconds:.1f} s = **{n / seconds:.1f} images/s** ({len(files)} files)"


def bench_open(work: Path, n: int = 5000) -> list[tuple[str, str]]:
    target = work / "big"
    with Study.create(target) as study, study.session() as session:
        now = utcnow()
        patients = [repo.get_or_create_patient(session, f"P{i:05d}") for i in range(n // 4)]
        exams = [repo.get_or_create_exam(session, p) for p in patients]
        session.add_all([])
        from rop_desktop.store.schema import Image

        session.bulk_save_objects([
            Image(exam_id=exams[i // 4].id, file=f"00/{i:064x}.png", original_name=f"{i}.png", sha256=f"{i:064x}",
                  width=640, height=480, format="png", bytes=1, imported_at=now) for i in range(n)])
    opens, lists, worklists = [], [], []
    for _ in range(5):
        t0 = time.perf_counter()
        study = Study.open(target)
        t1 = time.perf_counter()
        with study.session() as session:
            rows = repo.list_images(session)
        t2 = time.perf_counter()
        grader = bench_grader(study, "Bench")
        t3 = time.perf_counter()
        wl = GradingService(study, grader).worklist()
        t4 = time.perf_counter()
        study.close()
        assert len(rows) == n and len(wl) == n
        opens.append(t1 - t0)
        lists.append(t2 - t1)
        worklists.append(t4 - t3)
    med = statistics.median
    return [(f"open a study of {n} images", f"{med(opens) * 1000:.0f} ms (median of 5)"),
            (f"list its {n} image rows", f"{med(lists) * 1000:.0f} ms"),
            (f"build a grader's worklist of {n} rows", f"{med(worklists) * 1000:.0f} ms")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=Path, default=REPO.parent / "shared/data/hvdropdb-ridge-neo/images")
    parser.add_argument("--demo-patients", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rop-bench-"))
    rows: list[tuple[str, str]] = []
    try:
        demo = write_demo_files(generate_demo(n_patients=args.demo_patients), work / "demo-src")
        rows.append(bench_import(demo.folder, demo.manifest, work, "demo 640x480 PNG"))
        if args.real.is_dir():
            rows.append(bench_import(args.real, None, work, "real 2040x2040 PNG (HVDROPDB)"))
        else:
            rows.append(("real 2040x2040 PNG", f"skipped: {args.real} not found"))
        rows.extend(bench_open(work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| measurement | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
