"""Several graders, one study, at once: lost writes, lock errors and submit latency per backend.

    .venv/bin/python benchmarks/concurrency_bench.py [--images 500] [--graders 4] [--grades 500]
        [--pg-url postgresql+psycopg://rop_test@127.0.0.1:54329/postgres] [--no-sqlite]

A study of ``--images`` tiny PNGs is imported once per backend (through ``run_import``, as the
app does). Then ``--graders`` grader *processes* (multiprocessing, spawn: separate interpreters
and connections, as separate workstations would have) start together and each grades
``--grades`` images: ``save_shape`` (a new polygon), ``save_draft``, ``save_shape`` (the polygon
edited), ``submit`` — every call its own short transaction through ``GradingService``.

Backends: SQLite (the study folder, one machine) always, unless ``--no-sqlite``; PostgreSQL when
``--pg-url`` or ``ROP_TEST_PG_URL`` names a server whose user may create databases (a fresh
database ``rop_bench_<hex>`` is made and dropped afterwards; the study is
``Study.create(folder, url=...)``).

Afterwards the store is checked: per grader exactly ``--grades`` grades, all submitted, no
duplicate (image, grader) row, one live polygon per graded image, and every call that raised is
counted by kind ("database is locked", stale version, other). Errors are *not* retried, so the
figures show what the service layer does on its own (SQLite's busy timeout, PostgreSQL's row
locks). Prints a Markdown table; exits 1 when a
write was lost or duplicated or a call failed.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from bench_accounts import GRADER_PASSWORD, bench_admin, bench_grader  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import URL, make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from rop_desktop.domain.grades import GradeValues  # noqa: E402
from rop_desktop.domain.labels import LesionType, Quality, RopPresence, Stage  # noqa: E402
from rop_desktop.domain.shapes import Shape  # noqa: E402
from rop_desktop.services.accounts import sign_in  # noqa: E402
from rop_desktop.services.grading import GradingService, image_ids, list_graders  # noqa: E402
from rop_desktop.services.importer import run_import  # noqa: E402
from rop_desktop.store import Study  # noqa: E402
from rop_desktop.store.schema import Annotation, Grade  # noqa: E402

DRAFT = GradeValues(rop=RopPresence.YES, stage=Stage.S1, quality=Quality.GRADABLE)
FINAL = GradeValues(rop=RopPresence.YES, stage=Stage.S2, quality=Quality.GRADABLE)


@dataclass
class WorkerResult:
    """What one grader process did: submit latencies (s) and the calls that raised, by kind."""

    grader_id: int
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    first_error: str | None = None
    seconds: float = 0.0


def make_images(folder: Path, n: int) -> None:
    """``n`` distinct 24x24 PNGs (a pixel pattern from the index, so every SHA-256 differs)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 255, size=(24, 24, 3), dtype=np.uint8)
        pixels[0, 0] = (i % 256, i // 256 % 256, 7)
        cv2.imwrite(str(folder / f"img_{i:05d}_OD.png"), pixels)


def error_kind(exc: BaseException) -> str:
    """A short label for a failed call: ``locked``, ``stale``, ``connection`` or the type name."""
    message = str(exc).lower()
    if "database is locked" in message or "database table is locked" in message:
        return "locked"
    if type(exc).__name__ == "StaleDataError":
        return "stale"
    if type(exc).__name__ in ("OperationalError", "DBAPIError", "InterfaceError"):
        return "connection"
    return type(exc).__name__


def grader_name(grader_id: int, study: Study) -> str:
    return next(g.name for g in list_graders(study) if g.id == grader_id)


def grade_stream(folder: str, grader_id: int, images: list[int], start: Any, results: Any) -> None:
    """One grader process: wait for the others, then grade ``images`` as fast as it can."""
    result = WorkerResult(grader_id)
    try:
        study = Study.open(folder)
        me = sign_in(study, grader_name(grader_id, study), GRADER_PASSWORD)
        service = GradingService(study, me)
        start.wait()
        t_start = time.perf_counter()
        for image in images:
            shape_id = str(uuid.uuid4())
            steps = [
                ("save_shape", (image, Shape(id=shape_id, points=((1, 1), (10, 1), (5, 9)), stage=Stage.S2,
                                             lesion_type=LesionType.RIDGE))),
                ("save_draft", (image, DRAFT)),
                ("save_shape", (image, Shape(id=shape_id, points=((2, 2), (12, 2), (6, 11)), stage=Stage.S2,
                                             lesion_type=LesionType.RIDGE))),
                ("submit", (image, FINAL)),
            ]
            for name, args in steps:
                t0 = time.perf_counter()
                try:
                    getattr(service, name)(*args)
                except Exception as exc:  # noqa: BLE001 - counted and reported: the point of the benchmark
                    kind = error_kind(exc)
                    result.errors[f"{name}:{kind}"] = result.errors.get(f"{name}:{kind}", 0) + 1
                    result.first_error = result.first_error or "".join(
                        traceback.format_exception_only(type(exc), exc)).strip()
                    continue
                if name == "submit":
                    result.latencies.append(time.perf_counter() - t0)
        result.seconds = time.perf_counter() - t_start
        study.close()
    except Exception:  # noqa: BLE001 - any failure of a worker is counted, never hidden
        result.errors["worker"] = 1
        result.first_error = traceback.format_exc()
    results.put(result)


@dataclass
class Verdict:
    lost: int
    not_submitted: int
    duplicates: int
    polygons_wrong: int


def verify(study: Study, graders: list[int], grades: int) -> Verdict:
    """Count lost, unsubmitted and duplicated grades and graders whose live polygons are off."""
    with study.session() as session:
        per_grader = dict(session.execute(select(Grade.grader_id, func.count()).group_by(Grade.grader_id)).all())
        submitted = dict(session.execute(select(Grade.grader_id, func.count()).where(Grade.submitted.is_(True))
                                         .group_by(Grade.grader_id)).all())
        duplicates = session.execute(select(func.count()).select_from(
            select(Grade.image_id, Grade.grader_id).group_by(Grade.image_id, Grade.grader_id)
            .having(func.count() > 1).subquery())).scalar_one()
        polygons = dict(session.execute(select(Annotation.grader_id, func.count())
                                        .where(Annotation.deleted.is_(False)).group_by(Annotation.grader_id)).all())
    lost = sum(max(0, grades - per_grader.get(g, 0)) for g in graders)
    not_submitted = sum(grades - submitted.get(g, 0) for g in graders)
    wrong = sum(1 for g in graders if polygons.get(g, 0) != grades)
    return Verdict(lost, not_submitted, int(duplicates), wrong)


def run_backend(label: str, folder: Path, sources: Path, url: URL | None, args: argparse.Namespace) -> dict[str, Any]:
    """Import, grade concurrently, verify; one row of the result table."""
    t0 = time.perf_counter()
    with Study.create(folder, url=url) as study:
        admin = bench_admin(study)
        summary = run_import(study, admin, [sources])
        assert not summary.failed, summary.failed
        ids = image_ids(study, admin)
        graders = [bench_grader(study, f"bench grader {k}").id for k in range(args.graders)]
    import_s = time.perf_counter() - t0
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(args.graders)
    results = ctx.Queue()
    procs = []
    for k, grader in enumerate(graders):
        mine = random.Random(k).sample(ids, args.grades)  # graders meet on the same images
        procs.append(ctx.Process(target=grade_stream, args=(str(folder), grader, mine, start, results)))
    t1 = time.perf_counter()
    for proc in procs:
        proc.start()
    collected: list[WorkerResult] = [results.get(timeout=args.timeout) for _ in procs]
    for proc in procs:
        proc.join()
    wall = max(r.seconds for r in collected) or (time.perf_counter() - t1)  # from the start barrier
    with Study.open(folder) as study:
        verdict = verify(study, graders, args.grades)
    latencies = sorted(x for r in collected for x in r.latencies)
    errors: dict[str, int] = {}
    for r in collected:
        for kind, count in r.errors.items():
            errors[kind] = errors.get(kind, 0) + count
    first_error = next((r.first_error for r in collected if r.first_error), None)
    return {"label": label, "import_s": import_s, "wall": wall, "latencies": latencies, "errors": errors,
            "verdict": verdict, "first_error": first_error, "submits": len(latencies)}


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def pg_scratch(admin: URL) -> tuple[URL, Any]:
    """A fresh database on the server and a function that drops it."""
    name = f"rop_bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, poolclass=NullPool, isolation_level="AUTOCOMMIT")

    def run(sql: str) -> None:
        with engine.connect() as conn:
            conn.execute(text(sql))

    run(f'CREATE DATABASE "{name}"')
    return admin.set(database=name), lambda: (run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'), engine.dispose())


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [f"{args.graders} grader processes x {args.grades} images each (save_shape, save_draft, save_shape, "
             f"submit), {args.images}-image study", "",
             "| backend | grading s | submits/s | submit p50 ms | p99 ms | max ms | lost | unsubmitted | duplicates "
             "| polygon mismatches | failed calls |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lat, v = r["latencies"], r["verdict"]
        errs = ", ".join(f"{k} {n}" for k, n in sorted(r["errors"].items())) or "0"
        stats = (f"{percentile(lat, 50) * 1e3:.1f} | {percentile(lat, 99) * 1e3:.1f} | {lat[-1] * 1e3:.1f}"
                 if lat else "- | - | -")
        lines.append(f"| {r['label']} | {r['wall']:.1f} | {r['submits'] / r['wall']:.0f} | {stats} | {v.lost} | "
                     f"{v.not_submitted} | {v.duplicates} | {v.polygons_wrong} | {errs} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=500, help="images in the study (default 500)")
    parser.add_argument("--graders", type=int, default=4, help="grader processes (default 4)")
    parser.add_argument("--grades", type=int, default=500, help="images each grader grades (default 500)")
    parser.add_argument("--pg-url", default=os.environ.get("ROP_TEST_PG_URL"),
                        help="PostgreSQL server whose user may create databases (default $ROP_TEST_PG_URL)")
    parser.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the graders")
    args = parser.parse_args(argv)
    if args.grades > args.images:
        parser.error("--grades cannot exceed --images (each grader grades distinct images)")
    work = Path(tempfile.mkdtemp(prefix="rop-concurrency-"))
    rows: list[dict[str, Any]] = []
    try:
        sources = work / "sources"
        make_images(sources, args.images)
        if not args.no_sqlite:
            rows.append(run_backend("SQLite (WAL, one machine)", work / "sqlite", sources, None, args))
        if args.pg_url:
            url, drop = pg_scratch(make_url(args.pg_url))
            try:
                rows.append(run_backend("PostgreSQL", work / "pg", sources, url, args))
            finally:
                drop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table(rows, args))
    bad = False
    for r in rows:
        if r["first_error"]:
            print(f"\n{r['label']}: first failed call: {r['first_error']}")
        v = r["verdict"]
        bad = bad or bool(r["errors"] or v.lost or v.not_submitted or v.duplicates or v.polygons_wrong)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
