"""An image's history (the adjudication view's, read each time a case opens) at N images.

    .venv/bin/python benchmarks/history_bench.py --images 1000
    .venv/bin/python benchmarks/history_bench.py --images 100000

The study is ``scale_bench.build_study``'s (four graders' grades, the votes settled through the
app, so every image has its reference events), and each submitted grade gets the audit event its
submit would have written (``entity "grade"``, ``image_id`` set), in bulk. Then, for 20 images
with four votes, median and p95 (ms, warm) of:

- ``ReferenceService.history(image)`` as the view calls it — one statement on the image's index
  (``audit_events.image_id``, migration 0012);
- for comparison, the way it read before that revision: every grade and reference event of the
  study (``repo.audit_trail``), kept in Python by the image's grade ids and reference payloads.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from scale_bench import ADJUDICATOR, CHUNK, actor, build_study  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from rop_desktop.services.reference import ReferenceService  # noqa: E402
from rop_desktop.store import Study, repo  # noqa: E402
from rop_desktop.store.schema import AuditEvent, Grade  # noqa: E402
from rop_desktop.store.types import utcnow  # noqa: E402


def add_grade_events(study: Study) -> int:
    """The submit event of every submitted grade, as ``GradingService.submit`` writes it."""
    now = utcnow()
    written = 0
    with study.engine.begin() as conn:
        rows = conn.execute(select(Grade.id, Grade.image_id, Grade.grader_id, Grade.stage, Grade.rop)).all()
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            conn.execute(insert(AuditEvent), [
                {"at": now, "grader_id": g, "entity": "grade", "entity_id": gid, "action": "submit",
                 "image_id": image, "before": None, "after": {"stage": stage, "rop": rop}}
                for gid, image, g, stage, rop in chunk])
            written += len(chunk)
    return written


def history_before_0012(study: Study, image_id: int) -> int:
    """The history as it was read before migration 0012 (the rows kept, counted)."""
    with study.session() as session:
        grade_ids = set(session.scalars(select(Grade.id).where(Grade.image_id == image_id)))
        ref = repo.reference_for(session, image_id)
        kept = 0
        for event in repo.audit_trail(session, "grade") + repo.audit_trail(session, "reference"):
            if event.entity == "grade":
                mine = event.entity_id in grade_ids
            else:
                tagged = [p["image_id"] for p in (event.before, event.after) if p and "image_id" in p]
                mine = image_id in tagged if tagged else (ref is not None and event.entity_id == ref.id)
            kept += mine
        return kept


def timed_ms(call: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    call()
    return (time.perf_counter() - t0) * 1000


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(values):.1f} / {p95:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--before-repeats", type=int, default=5, help="repeats of the old reading (slow at scale)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rop-history-bench-")) / "study"
    build_study(folder, args.images)
    study = Study.open(folder)
    events = add_grade_events(study)
    desk = ReferenceService(study, actor(study, ADJUDICATOR))
    with study.session() as session:
        four = list(session.scalars(select(Grade.image_id).group_by(Grade.image_id).having(func.count() == 4)))
        total = session.scalar(select(func.count()).select_from(AuditEvent))
    images = random.Random(7).sample(four, min(args.repeats, len(four)))
    desk.history(images[0])  # warm
    now = [timed_ms(lambda i=i: desk.history(i)) for i in images]
    rows = len(desk.history(images[0]))
    history_before_0012(study, images[0])  # warm
    before = [timed_ms(lambda i=i: history_before_0012(study, i)) for i in images[: args.before_repeats]]
    assert history_before_0012(study, images[0]) == rows, "the two readings differ"
    study.close()
    print(f"{args.images:,} images, {total:,} audit events ({events:,} grade submits), {rows} events in an "
          f"image's history; median / p95 ms")
    print(f"| history (audit_events.image_id) | {summary(now)} |")
    print(f"| before migration 0012 (whole trail, filtered in Python) | {summary(before)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
