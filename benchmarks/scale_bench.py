"""Screening-programme scale (issue 15): what each click costs in the real window at N images.

    .venv/bin/python benchmarks/scale_bench.py --images 1000
    .venv/bin/python benchmarks/scale_bench.py --images 100000 --keep /tmp/rop-scale-100k --json 100k.json
    .venv/bin/python benchmarks/scale_bench.py --study /tmp/rop-scale-100k --json 100k.json   # reuse a built study
    .venv/bin/python benchmarks/scale_bench.py --table 1k.json 20k.json 100k.json         # the README table
    .venv/bin/python benchmarks/scale_bench.py --predict 200                              # batch prediction only

**The study** is built in bulk (set-up, not the app's import): N images of N/4 patients (two
exams each, both eyes), 32 distinct 640x480 demo fundus PNGs stored once and shared by the rows,
a thumbnail per row (hard links to the 32 real ones), and four graders' grades — Dr. A (the
benchmark grader) has graded the first half in order, Dr. B everything, Dr. C 90 %, Dr. D 85 %
(stage agreement ~75 %, so ~15 % of the images with four votes go to the adjudicator). The votes
are then settled through the app (``ReferenceService.recompute_steps``: its time is reported).

**The window** is ``app.build_window`` offscreen at 1400x900, the change watcher running. Each
figure is the median and p95 of ``--repeats`` (20) runs, warm (after one unmeasured run):

- *next to do*: ``GradingService.next_todo(current)`` (the query behind the button);
- *image switch*: the "Next to do" action until ``imageShown`` and one full repaint (the next
  image decoded in advance, as when a grader works through the list);
- *submit and next*: ``WorkspaceController.submit`` (Enter) — the part that blocks the UI thread —
  and until the next image is on screen;
- *longest stall after a submit*: the longest gap of a 5 ms ``QTimer`` probe in the 5 s after a
  submit, while the change watcher polls and another workstation saves a draft;
- *worklist refresh*: "To do for me" of a grader who has finished (0 rows); "All images" (first
  page of N); sorted by patient;
- *adjudication queue*: ``AdjudicationWindow.refresh_queue`` (both lists' first pages) and the
  exact counts (a background call);
- *incremental settlement*: ``settle_images(study, [image])`` after one vote changed;
- *open → first image*: ``Study.open`` + ``build_window`` + ``workspace.start`` until the first
  image is on screen;
- *recompute*: "Recompute votes" in its worker, and the longest UI stall meanwhile (one run);
- *RSS*: peak resident memory of the process at the end.

Batch prediction (``--predict M``): the fast binary model (``resnet18_cls``, paper B preset at
320 px; random weights: the time does not depend on them) over M 640x480 images through
``PredictionService.predict_all``, torch on every core; and, for comparison, the way it went
before (one image a pass, feature maps computed and written: ``predict_image``) on 30 images.

Targets at 100,000 images on a 2-core laptop: next to do and image switch < 100 ms p95; submit
and next < 150 ms p95 on the UI thread; no stall > 100 ms in the 5 s after a submit; queue first
page < 200 ms; incremental settlement < 20 ms; open → first image < 3 s; memory < 1.5 GB; each
100,000 : 1,000 ratio ≤ 2; batch prediction ≥ 20 images/s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ROP_DESKTOP_NO_RECENT", "1")
os.environ.setdefault("ROP_DESKTOP_HOME", tempfile.mkdtemp(prefix="rop-scale-home-"))

import cv2  # noqa: E402
from bench_accounts import GRADER_PASSWORD, bench_admin, bench_grader  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from rop_desktop.demo import generate_demo  # noqa: E402
from rop_desktop.domain.grades import GradeValues  # noqa: E402
from rop_desktop.domain.labels import Quality, Role, RopPresence, Stage  # noqa: E402
from rop_desktop.imaging.thumbnails import encode_jpeg, make_thumbnail  # noqa: E402
from rop_desktop.services.accounts import sign_in  # noqa: E402
from rop_desktop.services.grading import GradingService, WorklistQuery  # noqa: E402
from rop_desktop.services.importer import THUMB_SIDE, thumbnail_file  # noqa: E402
from rop_desktop.services.policy import Actor  # noqa: E402
from rop_desktop.services.reference import ReferenceService, settle_images  # noqa: E402
from rop_desktop.store import Study  # noqa: E402
from rop_desktop.store.schema import Exam, Grade, Image, Patient  # noqa: E402
from rop_desktop.store.types import utcnow  # noqa: E402

GRADERS = {"A": 0.5, "B": 1.0, "C": 0.9, "D": 0.85}  # share of the study each has graded (A: the first half)
ADJUDICATOR = "Bench adjudicator"
DISTINCT_FILES = 32
CHUNK = 10_000
STAGES = ("0", "0", "0", "0", "1", "2", "3")
TARGETS_MS = {"next to do": 100, "image switch": 100, "submit (UI thread)": 150, "longest stall after a submit": 100,
              "adjudication queue, first pages": 200, "incremental settlement": 20, "open → first image": 3000}


# ---------------------------------------------------------------------- the study
def build_study(folder: Path, n: int, seed: int = 15) -> float:
    """Fill a new study with ``n`` images and four graders' grades (see the module docstring);
    returns the seconds the votes took to settle (the app's recompute)."""
    rnd = random.Random(seed)
    t0 = time.perf_counter()
    study = Study.create(folder, name=f"Scale {n:,}")
    bench_admin(study)
    graders = {g: bench_grader(study, f"Dr. {g}") for g in GRADERS}
    bench_grader(study, ADJUDICATOR, Role.ADJUDICATOR)
    files = _distinct_files(study)
    now = utcnow()
    n_patients = max(1, n // 4)
    with study.engine.begin() as conn:
        for start in range(0, n_patients, CHUNK):
            conn.execute(insert(Patient), [{"id": p + 1, "code": f"P{p:06d}", "created_at": now,
                                            "gestational_age_weeks": 26.0 + p % 5}
                                           for p in range(start, min(n_patients, start + CHUNK))])
        exams = [{"id": 2 * p + k + 1, "patient_id": p + 1, "camera": "RetCam 3" if p % 4 else "RetCam Shuttle",
                  "exam_date": date(2024, 1, 1) + timedelta(days=p // 40 + 14 * k), "site": "Site A"}
                 for p in range(n_patients) for k in range(2)]
        for start in range(0, len(exams), CHUNK):
            conn.execute(insert(Exam), exams[start:start + CHUNK])
        for start in range(0, n, CHUNK):
            rows = []
            for i in range(start, min(n, start + CHUNK)):
                sha = hashlib.sha256(f"scale-bench-{i}".encode()).hexdigest()
                file, thumb = files[i % len(files)]
                link = study.cache_path(thumbnail_file(sha))
                link.parent.mkdir(parents=True, exist_ok=True)
                os.link(thumb, link)
                rows.append({"id": i + 1, "exam_id": min(len(exams), i // 2 + 1), "eye": "OD" if i % 2 == 0 else "OS",
                             "file": file, "original_name": f"P{i // 4:06d}-{'OD' if i % 2 == 0 else 'OS'}-{i:07d}.png",
                             "sha256": sha, "width": 640, "height": 480, "format": "png", "imported_at": now,
                             "bytes": 250_000, "hospital_diagnosis": "no ROP" if i % 3 else "stage 2",
                             "fov_cx": 320.0, "fov_cy": 240.0, "fov_r": 230.0})
            conn.execute(insert(Image), rows)
        for start in range(0, n, CHUNK):
            rows = []
            for i in range(start, min(n, start + CHUNK)):
                truth = rnd.choice(STAGES)
                for letter, share in GRADERS.items():
                    graded = i < share * n if letter == "A" else rnd.random() < share
                    if not graded:
                        continue
                    stage = truth if rnd.random() < 0.93 else rnd.choice(STAGES)
                    rows.append({"image_id": i + 1, "grader_id": graders[letter].id, "stage": stage,
                                 "rop": "no" if stage == "0" else "yes", "quality": "gradable", "comment": "",
                                 "submitted": True, "submitted_at": now, "created_at": now, "updated_at": now,
                                 "version_id": 1})
            conn.execute(insert(Grade), rows)
    built = time.perf_counter() - t0
    admin = bench_admin(study)
    t1 = time.perf_counter()
    for _step in ReferenceService(study, admin).recompute_steps():
        pass
    settle = time.perf_counter() - t1
    study.close()
    print(f"built {n:,} images in {built:.1f} s; the votes settled in {settle:.1f} s", file=sys.stderr)
    return settle


def _distinct_files(study: Study) -> list[tuple[str, Path]]:
    """32 demo fundus images stored in the study (file relative to images/, thumbnail path)."""
    demo = generate_demo(seed=3, n_patients=12)
    out = []
    for image in demo.images[:DISTINCT_FILES]:
        rgb = image.render()
        ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        assert ok
        data = png.tobytes()
        sha = hashlib.sha256(data).hexdigest()
        file = study.store_image_bytes(data, sha, "png")
        thumb = study.cache_path(thumbnail_file(sha))
        thumb.parent.mkdir(parents=True, exist_ok=True)
        thumb.write_bytes(encode_jpeg(make_thumbnail(rgb, THUMB_SIDE)))
        out.append((file, thumb))
    return out


# ---------------------------------------------------------------------- measuring
def spin_until(predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
    from PySide6.QtWidgets import QApplication

    deadline = time.perf_counter() + timeout_s
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the window did not get there in time")
        QApplication.processEvents()
        time.sleep(0.0005)


def timed(call: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    call()
    return (time.perf_counter() - t0) * 1000.0


def repeat(call: Callable[[], float], repeats: int) -> list[float]:
    call()  # warm
    return [call() for _ in range(repeats)]


class StallProbe:
    """The longest gap between two ticks of a 5 ms timer on the UI thread."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.longest = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def run(self, seconds: float, during: Callable[[], None] | None = None) -> float:
        """The longest gap (ms) over ``seconds``, ``during`` called (on the UI thread) at the start."""
        deadline = time.perf_counter() + seconds
        return self.run_until(lambda: time.perf_counter() >= deadline, during)

    def run_until(self, done: Callable[[], bool], during: Callable[[], None] | None = None,
                  timeout_s: float = 3600.0) -> float:
        from PySide6.QtWidgets import QApplication

        self.longest, self.last = 0.0, time.perf_counter()
        self.timer.start()
        if during is not None:
            during()
        deadline = time.perf_counter() + timeout_s
        while not done():
            if time.perf_counter() > deadline:
                raise TimeoutError("the window did not get there in time")
            QApplication.processEvents()
            time.sleep(0.001)
        self.timer.stop()
        return self.longest * 1000.0


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory in MB."""
    current = 0.0
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024.0
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def actor(study: Study, name: str) -> Actor:
    return sign_in(study, name, GRADER_PASSWORD)


NO = GradeValues(rop=RopPresence.NO, stage=Stage.S0, quality=Quality.GRADABLE)
DRAFT = GradeValues(rop=RopPresence.YES, stage=Stage.S1, quality=Quality.GRADABLE)


def measure(folder: Path, repeats: int, settle_s: float | None) -> dict[str, Any]:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from rop_desktop.app import build_window

    QApplication.instance() or QApplication([])
    results: dict[str, Any] = {}
    with Study.open(folder) as probe_study:
        n = GradingService(probe_study, actor(probe_study, "Dr. B")).worklist_page(WorklistQuery()).total
    results["images"] = n
    stall = StallProbe()

    # ---- open → first image (each a new Study.open and window, as at start-up)
    def open_first() -> float:
        t0 = time.perf_counter()
        study = Study.open(folder)
        window = build_window(study, actor(study, "Dr. A"))
        window.resize(1400, 900)
        window.show()
        shown: list[int] = []
        window.wiring.workspace.imageShown.connect(shown.append)
        window.wiring.workspace.start()
        spin_until(lambda: bool(shown))
        window.canvas.viewport().repaint()
        elapsed = (time.perf_counter() - t0) * 1000.0
        window.close()
        window.deleteLater()
        QApplication.processEvents()
        study.close()
        return elapsed

    results["open → first image"] = repeat(open_first, max(3, repeats // 4))

    study = Study.open(folder)
    a = actor(study, "Dr. A")
    window = build_window(study, a)
    window.resize(1400, 900)
    window.show()
    workspace, loader = window.wiring.workspace, window.wiring.workspace.loader
    shown: list[int] = []
    workspace.imageShown.connect(shown.append)
    workspace.start()
    spin_until(lambda: bool(shown))
    service = workspace.service
    viewport = window.canvas.viewport()

    results["next to do"] = repeat(lambda: timed(lambda: service.next_todo(workspace.current)), repeats)

    def switch() -> float:
        target = service.next_todo(workspace.current)
        spin_until(lambda: loader.is_cached(target))
        QApplication.processEvents()
        shown.clear()
        t0 = time.perf_counter()
        window.next_todo_action.trigger()
        spin_until(lambda: shown == [target])
        viewport.repaint()
        return (time.perf_counter() - t0) * 1000.0

    results["image switch"] = repeat(switch, repeats)

    blocking: list[float] = []

    def submit_and_next() -> float:
        target = service.next_todo(workspace.current)
        spin_until(lambda: loader.is_cached(target) and workspace.shown == workspace.current)
        window.wiring.grade_panel.set_values(NO, submitted=False)
        QApplication.processEvents()
        shown.clear()
        t0 = time.perf_counter()
        workspace.submit()
        blocking.append((time.perf_counter() - t0) * 1000.0)
        spin_until(lambda: shown == [target])
        viewport.repaint()
        return (time.perf_counter() - t0) * 1000.0

    results["submit and next"] = repeat(submit_and_next, repeats)
    results["submit (UI thread)"] = blocking[1:]

    other_study = Study.open(folder)
    other = GradingService(other_study, actor(other_study, "Dr. C"))
    elsewhere = [i for i in range(1, n + 1, max(1, n // 50))]

    def stall_after_submit() -> float:
        target = service.next_todo(workspace.current)
        spin_until(lambda: loader.is_cached(target) and workspace.shown == workspace.current)
        window.wiring.grade_panel.set_values(NO, submitted=False)
        image = elsewhere.pop()

        def submit() -> None:
            workspace.submit()
            # another workstation saves a draft meanwhile (its own process: here a thread)
            threading.Thread(target=other.save_draft, args=(image, DRAFT), daemon=True).start()

        return stall.run(5.0, submit)

    results["longest stall after a submit"] = repeat(stall_after_submit, repeats)

    # ---- incremental settlement of one changed vote
    judge_actor = actor(study, ADJUDICATOR)
    changed = [i for i in range(n // 4, n, max(1, n // 60))][: repeats + 1]

    def settle_one() -> float:
        image = changed.pop()
        other.save_draft(image, DRAFT)  # Dr. C amends a submitted grade (settles it; measured again below)
        return timed(lambda: settle_images(study, [image]))

    results["incremental settlement"] = repeat(settle_one, repeats)
    other_study.close()

    # ---- worklist lists: a finished grader's "to do", every image, sorted by patient
    window.close()
    window.deleteLater()
    QApplication.processEvents()
    b_window = build_window(study, actor(study, "Dr. B"))
    b_window.resize(1400, 900)
    b_window.show()
    panel = b_window.worklist
    all_index, todo_index = panel.status_filter.findData(None), panel.status_filter.findData("todo")

    def finished_todo() -> float:
        panel.status_filter.setCurrentIndex(all_index)
        QApplication.processEvents()
        t0 = time.perf_counter()
        panel.status_filter.setCurrentIndex(todo_index)
        panel.table.viewport().repaint()
        elapsed = (time.perf_counter() - t0) * 1000.0
        assert panel.model.rowCount() == 0
        return elapsed

    results["worklist: to do of a finished grader (0 rows)"] = repeat(finished_todo, repeats)

    def all_images() -> float:
        panel.status_filter.setCurrentIndex(todo_index)
        QApplication.processEvents()
        t0 = time.perf_counter()
        panel.status_filter.setCurrentIndex(all_index)
        panel.table.viewport().repaint()
        elapsed = (time.perf_counter() - t0) * 1000.0
        assert panel.model.rowCount() == n
        return elapsed

    results["worklist: all images (first page of N)"] = repeat(all_images, repeats)

    orders = [Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder]

    def by_patient() -> float:
        orders.reverse()  # a header click: ascending, then descending, ...
        t0 = time.perf_counter()
        panel.table.sortByColumn(1, orders[0])
        panel.table.viewport().repaint()
        return (time.perf_counter() - t0) * 1000.0

    results["worklist: sort by patient"] = repeat(by_patient, repeats)

    def scroll_to_end() -> float:
        bar = panel.table.verticalScrollBar()
        bar.setValue(0)
        QApplication.processEvents()
        t0 = time.perf_counter()
        bar.setValue(bar.maximum())
        panel.table.viewport().repaint()
        return (time.perf_counter() - t0) * 1000.0

    results["worklist: scroll to the end"] = repeat(scroll_to_end, repeats)
    b_window.close()
    b_window.deleteLater()
    QApplication.processEvents()

    # ---- adjudication: the queue's first pages, its counts, a recompute in the worker
    j_window = build_window(study, judge_actor)
    j_window.resize(1400, 900)
    j_window.show()
    controller = j_window.wiring.reference
    view = controller.open_adjudication()
    spin_until(lambda: view.queue.counts is not None)
    results["adjudication queue, first pages"] = repeat(lambda: timed(view.refresh_queue), repeats)
    results["queue counts (background)"] = repeat(lambda: timed(lambda: view.service.queue_counts()),
                                                  max(3, repeats // 4))
    ended: list[bool] = []
    controller.recomputeEnded.connect(lambda: ended.append(True))
    t0 = time.perf_counter()
    longest = stall.run_until(lambda: bool(ended), controller.recompute)
    recompute_s = time.perf_counter() - t0
    results["recompute (worker)"] = {"seconds": recompute_s, "images/s": n / recompute_s,
                                     "longest UI stall ms": longest}
    if settle_s is not None:
        results["settle at build (s)"] = settle_s
    j_window.close()
    j_window.deleteLater()
    QApplication.processEvents()
    study.close()
    current, peak = rss_mb()
    results["RSS MB"] = {"current": current, "peak": peak}
    return results


# ---------------------------------------------------------------------- batch prediction
def bench_predict(m: int) -> dict[str, Any]:
    import torch

    from rop_desktop.services.models import ModelService
    from rop_desktop.services.predictions import PredictionService
    from training.bundle import ModelCard, save_bundle
    from training.config import recipe
    from training.models import create_model
    from training.presets import get_preset

    torch.set_num_threads(os.cpu_count() or 1)
    work = Path(tempfile.mkdtemp(prefix="rop-scale-predict-"))
    try:
        build_study(work / "study", m)
        config = recipe("fast_binary")
        model = create_model(config.architecture, num_classes=1, in_channels=3, pretrained=False)
        preset = get_preset(config.preset, **config.preset_overrides)
        card = ModelCard.for_model(model, name="fast binary", task="binary", classes=["no ROP", "ROP"], threshold=0.5,
                                   preset=preset.to_dict(), config={"task": "binary"})
        bundle = save_bundle(work / "bundle", model, card)
        with Study.open(work / "study") as study:
            admin = bench_admin(study)
            ModelService(study, admin).register(bundle, activate=True)
            service = PredictionService(study, admin, device="auto")
            t0 = time.perf_counter()
            for _progress in service.predict_all():
                pass
            seconds = time.perf_counter() - t0
            # what "Predict all" did before issue 15, for comparison: one image at a time, with the
            # feature maps of a middle layer and the maps written to cache/ (first 30 images)
            t1 = time.perf_counter()
            for image_id in range(1, 31):
                service.predict_image(image_id, saliency=False, use_cache=False)
            before = 30 / (time.perf_counter() - t1)
        return {"images": m, "seconds": seconds, "images/s": m / seconds, "before: images/s": before,
                "architecture": config.architecture,
                "image size": preset.image_size, "device": str(service.predictor(
                    service.active_versions()["binary"]).device), "torch threads": torch.get_num_threads()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------- reporting
def summarise(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95


def print_results(results: dict[str, Any]) -> None:
    machine = platform.processor() or platform.machine()
    print(f"\n### {results['images']:,} images — {results.get('date', '')}, {machine}, {os.cpu_count()} cores\n")
    print("| operation | median ms | p95 ms | target |\n|---|---:|---:|---|")
    for name, values in results.items():
        if isinstance(values, list) and values:
            med, p95 = summarise(values)
            target = TARGETS_MS.get(name)
            print(f"| {name} | {med:.1f} | {p95:.1f} | {f'< {target} ms' if target else ''} |")
    for name, values in results.items():
        if isinstance(values, dict):
            print(f"| {name} | " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                             for k, v in values.items()) + " | | |")


def print_table(files: list[Path]) -> None:
    runs = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    runs.sort(key=lambda r: r["images"])
    names = [k for k, v in runs[-1].items() if isinstance(v, list)]
    head = " | ".join(f"{r['images']:,}: median / p95 ms" for r in runs)
    print(f"| operation | {head} | {runs[-1]['images']:,} : {runs[0]['images']:,} (p95) |")
    print("|---|" + "---:|" * len(runs) + "---:|")
    for name in names:
        cells, p95s = [], []
        for r in runs:
            values = r.get(name) or []
            if values:
                med, p95 = summarise(values)
                cells.append(f"{med:.1f} / {p95:.1f}")
                p95s.append(p95)
            else:
                cells.append("–")
        ratio = f"{p95s[-1] / p95s[0]:.2f}" if len(p95s) == len(runs) and p95s[0] > 0 else "–"
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio} |")
    for name in ("recompute (worker)", "RSS MB"):
        print(f"| {name} | " + " | ".join(
            ", ".join(f"{k} {v:.1f}" for k, v in (r.get(name) or {}).items()) for r in runs) + " | |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000, help="build a study of this many images")
    parser.add_argument("--study", type=Path, help="measure this study (built earlier with --keep)")
    parser.add_argument("--keep", type=Path, help="build the study here and keep it")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--table", type=Path, nargs="+", help="print the README table of these --json files")
    parser.add_argument("--predict", type=int, help="batch prediction over this many images only")
    args = parser.parse_args()
    if args.table:
        print_table(args.table)
        return 0
    if args.predict:
        result = bench_predict(args.predict)
        print(json.dumps(result, indent=1))
        if args.json:
            args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
        return 0
    work = None
    settle_s = None
    if args.study is not None:
        folder = args.study
    else:
        folder = args.keep or Path(tempfile.mkdtemp(prefix="rop-scale-")) / "study"
        work = None if args.keep else folder.parent
        settle_s = build_study(folder, args.images)
    try:
        results = measure(folder, args.repeats, settle_s)
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    results["date"] = date.today().isoformat()
    print_results(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
