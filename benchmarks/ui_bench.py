"""Image switch and canvas redraw in the real grading window (issue: grading workspace). Prints a
Markdown table.

    .venv/bin/python benchmarks/ui_bench.py [--real ../shared/data/hvdropdb-ridge-neo/images]
    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/ui_bench.py

- **image switch**: from the "Next to do" action (``next_todo_action``: the next-image query and
  ``WorkspaceController.open_image``) until ``imageShown`` has been emitted (pixels, polygons and
  grade on the window) and one full viewport paint is done, in the window of ``build_window``
  (1400x900). *Cold*: the loader's cache is emptied first, so the PNG is decoded (the OS file
  cache is warm: files come from memory, as on a workstation that has read them once). *Warm*:
  the image was prefetched while the previous one was shown, as when a grader works through
  the worklist. Each image carries 3 polygons of the grader. Real 2040x2040 PNGs (HVDROPDB)
  imported into a temporary study, and the demo study's 640x480 images.
- **canvas redraw**: one synchronous full repaint (``rop_desktop.ui.canvas.measure_repaint``) of
  a 1200x900 canvas with 20 polygons of 200 vertices, fitted, and with one polygon selected
  (its 200 vertex handles drawn). The polygon items cache their device-pixel rendering, so a
  plain repaint mostly blits; the third figure is a wheel-notch zoom plus the repaint after it,
  which re-renders every polygon (the worst case while the grader zooms).

- **image switch while training** (issue 17): the same cold and warm switches in the demo
  admin's window on the demo study while a training run started from the Train tab
  (``resnet18_cls``, 224 px, batch 16, CPU) runs; its first batch is done before timing starts.
  The run leaves a core to the window (torch threads = cores − 1, the worker niced).
- **launch → first image**: a fresh interpreter (``python -c``) from its start until the demo
  grader's window has shown its first image (``imageShown``), offscreen; the first launch is
  not counted (it warms the OS file cache), the median and max of the next ``--launches`` are.
  torch is not imported on the way (``tests/qt/app/test_startup.py``).

Targets: image switch < 100 ms (< 120 ms p95 while training), redraw < 16 ms (one frame at 60 Hz),
launch → first image < 2 s.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ROP_DESKTOP_NO_RECENT", "1")

from bench_accounts import bench_admin, bench_grader  # noqa: E402
from PySide6 import __version__ as PYSIDE_VERSION  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from rop_desktop.app import build_window  # noqa: E402
from rop_desktop.domain.shapes import Shape, new_shape_id  # noqa: E402
from rop_desktop.services.demo_study import DEMO_GRADER, build_demo_study, demo_admin  # noqa: E402
from rop_desktop.services.grading import GradingService, image_ids  # noqa: E402
from rop_desktop.services.importer import run_import  # noqa: E402
from rop_desktop.services.policy import Actor  # noqa: E402
from rop_desktop.store import Study  # noqa: E402
from rop_desktop.ui.canvas import ImageCanvas, measure_repaint  # noqa: E402

SWITCH_TARGET_MS = 100.0
TRAINING_SWITCH_TARGET_MS = 120.0  # p95, while a model trains
REDRAW_TARGET_MS = 16.0
LAUNCH_TARGET_S = 2.0
DEFAULT_REAL = REPO.parent / "shared" / "data" / "hvdropdb-ridge-neo" / "images"


# ---------------------------------------------------------------------- test data
def wobbly_ring(cx: float, cy: float, r: float, n: int, phase: float = 0.0) -> list[tuple[float, float]]:
    """A simple (star-shaped) outline of ``n`` vertices around (cx, cy)."""
    return [(cx + r * (1 + 0.12 * math.sin(7 * t + phase)) * math.cos(t),
             cy + r * (1 + 0.12 * math.sin(7 * t + phase)) * math.sin(t))
            for t in (2 * math.pi * i / n for i in range(n))]


def grid_shapes(width: int, height: int, count: int, vertices: int) -> list[Shape]:
    """``count`` polygons of ``vertices`` vertices spread over the image on a grid."""
    cols = math.ceil(math.sqrt(count * width / height))
    rows = math.ceil(count / cols)
    r = 0.4 * min(width / cols, height / rows)
    return [Shape(id=new_shape_id(), points=wobbly_ring((c + 0.5) * width / cols, (k + 0.5) * height / rows, r,
                                                        vertices, phase=i))
            for i, (k, c) in enumerate((i // cols, i % cols) for i in range(count))]


def add_polygons(study: Study, grader: Actor, count: int = 3, vertices: int = 60) -> None:
    """``count`` polygons of the grader on every image of the study."""
    service = GradingService(study, grader)
    for image_id in image_ids(study, grader):
        size = _image_size(study, image_id)
        for shape in grid_shapes(*size, count, vertices):
            service.save_shape(image_id, shape)


def _image_size(study: Study, image_id: int) -> tuple[int, int]:
    from rop_desktop.store.schema import Image

    with study.session() as session:
        image = session.get(Image, image_id)
        return image.width, image.height


def real_study(images: Path, work: Path, n: int) -> Path:
    """A study of the first ``n`` real images (imported through the app's import)."""
    source = work / "real-source"
    source.mkdir()
    for path in sorted(images.glob("*.png"), key=lambda p: (len(p.stem), p.stem))[:n]:
        shutil.copy2(path, source / path.name)
    with Study.create(work / "real-study") as study:
        summary = run_import(study, bench_admin(study), [source])
        if summary.failed:
            raise SystemExit(f"import of the real images failed: {summary.failed}")
    return work / "real-study"


# ---------------------------------------------------------------------- measuring
def spin_until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout_s
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the window did not get there in time")
        QApplication.processEvents()
        time.sleep(0.001)


def bench_switch(folder: Path, repeats: int, *, training: bool = False) -> dict[str, list[float]]:
    """Cold and warm image-switch times (seconds) in the real window on ``folder``; ``training``:
    the demo admin's window, while a training run of the Train tab runs (the demo study)."""
    study = Study.open(folder)
    grader = demo_admin(study) if training else bench_grader(study, "Benchmark grader")
    add_polygons(study, grader)
    window = build_window(study, grader)
    window.resize(1400, 900)
    window.show()
    run = None
    workspace, loader = window.wiring.workspace, window.wiring.workspace.loader
    shown: list[int] = []
    workspace.imageShown.connect(shown.append)
    viewport = window.canvas.viewport()

    def prefetched(image_id: int | None) -> bool:
        return loader.is_cached(image_id)

    def next_image(cold: bool) -> float:
        target = workspace.service.next_todo(workspace.current)
        spin_until(lambda: prefetched(target))  # the loader is idle (and the target decoded)
        if cold:
            loader.forget()
        QApplication.processEvents()
        shown.clear()
        start = time.perf_counter()
        window.next_todo_action.trigger()
        spin_until(lambda: shown == [target])
        viewport.repaint()  # one full paint of the new image and its polygons
        elapsed = time.perf_counter() - start
        assert len(window.canvas.shapes()) == 3
        return elapsed

    try:
        workspace.start()
        spin_until(lambda: bool(shown))
        if training:
            run = start_training(window)
        results = {"cold": [next_image(cold=True) for _ in range(repeats)],
                   "warm": [next_image(cold=False) for _ in range(repeats)]}
        if run is not None:
            if not run.is_running():
                raise SystemExit("the training run ended before the switches were timed: use fewer --repeats")
            results["images_per_s"] = [run.images_per_s]
        results["size"] = [float(v) for v in window.canvas.image_size()]
        return results
    finally:
        if run is not None:
            run.cancel()
            spin_until(lambda: not window.wiring.prediction.training.running(), 120)
        window.close()
        study.close()


def start_training(window) -> object:
    """Start a long CPU training run from the window's Train tab; return once its first batch is done."""
    from rop_desktop.workers.training_worker import TrainRequest

    training = window.wiring.prediction.training
    worker = training.start(TrainRequest("binary", "resnet18_cls", 1000, 16, 224, "cpu", "random"))
    progress: list = []
    worker.progress.connect(progress.append)
    worker.progress.connect(lambda event: setattr(worker, "images_per_s", event.images_per_s))
    spin_until(lambda: bool(progress) or not worker.is_running(), 600)  # snapshot, model, first batch
    return worker


#: Run in a fresh interpreter: prints the wall-clock time when the first image is shown.
LAUNCH_SCRIPT = """
import sys, time
from PySide6.QtWidgets import QApplication
app = QApplication([])
from rop_desktop.app import build_window
from rop_desktop.services import accounts
from rop_desktop.store import Study
study = Study.open(sys.argv[1])
window = build_window(study, accounts.sign_in(study, sys.argv[2], None))
window.resize(1400, 900)
window.show()
window.wiring.workspace.imageShown.connect(lambda _id: (print(time.time(), "torch" in sys.modules), app.quit()))
window.wiring.workspace.start()
app.exec()
"""


def bench_launch(folder: Path, launches: int) -> tuple[list[float], list[float]]:
    """Seconds from starting the process to its first image, and the CPU seconds the process used,
    per launch (the first, cold one dropped: it also writes the bytecode caches an installed app
    has, in a folder of its own). On a busy machine the CPU time is what an idle one would take."""
    import resource

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(QT_QPA_PLATFORM="offscreen", PYTHONPYCACHEPREFIX=str(folder.parent / "pycache"))
    times, cpu = [], []
    for _ in range(launches + 1):
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        begin = time.time()
        out = subprocess.run([sys.executable, "-c", LAUNCH_SCRIPT, str(folder), DEMO_GRADER], capture_output=True,
                             text=True, timeout=120, env=env)
        fields = out.stdout.split()
        if out.returncode != 0 or len(fields) < 2:
            raise SystemExit(f"the window did not start: {out.stderr[-2000:]}")
        if fields[1] != "False":
            raise SystemExit("torch was imported before the first image")
        times.append(float(fields[0]) - begin)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime)
    return times[1:], cpu[1:]


def zoom_step_repaint(canvas: ImageCanvas, repeats: int) -> float:
    """Median seconds of a wheel-notch zoom (in, then out) plus the full repaint that follows it:
    the polygons' device-pixel caches are re-rendered, as on every zoom step of the grader."""
    viewport = canvas.viewport()
    times: list[float] = []
    for i in range(repeats):
        QApplication.processEvents()
        start = time.perf_counter()
        canvas.zoom_by(1.19 if i % 2 == 0 else 1 / 1.19)
        viewport.repaint()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_redraw(size: tuple[int, int], repeats: int = 30) -> tuple[float, float, float]:
    """Median full-repaint seconds with 20 polygons of 200 vertices: fitted, one selected, and
    a zoom step (caches rebuilt)."""
    import numpy as np

    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.dstack([(xx * 255 // width), (yy * 255 // height), np.full_like(xx, 80)]).astype(np.uint8)
    canvas = ImageCanvas()
    canvas.resize(1200, 900)
    canvas.show()
    try:
        shapes = grid_shapes(width, height, 20, 200)
        canvas.set_image(rgb, shapes)
        QApplication.processEvents()
        plain = measure_repaint(canvas, repeats)
        canvas.select(shapes[7].id)
        selected = measure_repaint(canvas, repeats)
        zoomed = zoom_step_repaint(canvas, repeats)
        return plain, selected, zoomed
    finally:
        canvas.close()
        canvas.deleteLater()


# ---------------------------------------------------------------------- report
def p(sorted_times: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of already sorted times."""
    return sorted_times[min(len(sorted_times) - 1, int(q * len(sorted_times)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def verdict(seconds: float, target_ms: float) -> str:
    return "✅" if seconds * 1000 < target_ms else "❌"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL, help="folder of the real 2040x2040 PNGs")
    parser.add_argument("--images", type=int, default=6, help="images per study (the switch wraps around)")
    parser.add_argument("--repeats", type=int, default=12, help="timed switches per case")
    parser.add_argument("--launches", type=int, default=5, help="timed launches (after one untimed)")
    parser.add_argument("--only", choices=("switch", "training", "launch", "redraw"), action="append",
                        help="run only these parts (repeatable; default: all)")
    args = parser.parse_args()
    parts = set(args.only or ("switch", "training", "launch", "redraw"))

    app = QApplication.instance() or QApplication(sys.argv[:1])
    work = Path(tempfile.mkdtemp(prefix="rop-ui-bench-"))
    os.environ.setdefault("ROP_DESKTOP_HOME", str(work / "home"))
    rows: list[tuple[str, str, str, str, str, str]] = []
    try:
        cases: list[tuple[str, Path]] = []
        if "switch" in parts and ((args.real / "1.png").is_file() or any(args.real.glob("*.png"))):
            cases.append(("real HVDROPDB", real_study(args.real, work, args.images)))
        elif "switch" in parts:
            print(f"(real images not found at {args.real}: skipped)", file=sys.stderr)
        if "switch" in parts:
            cases.append(("demo", build_demo_study(work / "demo", n_patients=2)))
        for label, folder in cases:
            result = bench_switch(folder, args.repeats)
            w, h = (int(v) for v in result["size"])
            for kind in ("cold", "warm"):
                times = sorted(result[kind])
                median = statistics.median(times)
                rows.append((f"next image, {kind}", f"{label} {w}x{h}, 3 polygons", ms(median), ms(p(times, 0.9)),
                             f"< {SWITCH_TARGET_MS:.0f} ms", verdict(median, SWITCH_TARGET_MS)))
        if "training" in parts:
            result = bench_switch(build_demo_study(work / "demo-training", n_patients=6), args.repeats, training=True)
            w, h = (int(v) for v in result["size"])
            for kind in ("cold", "warm"):
                times = sorted(result[kind])
                rows.append((f"next image while training, {kind}",
                             f"demo {w}x{h}; resnet18_cls 224 px at {result['images_per_s'][0]:.0f} images/s",
                             ms(statistics.median(times)), ms(p(times, 0.95)) + " (p95)",
                             f"p95 < {TRAINING_SWITCH_TARGET_MS:.0f} ms",
                             verdict(p(times, 0.95), TRAINING_SWITCH_TARGET_MS)))
        if "launch" in parts:
            times, cpu = bench_launch(build_demo_study(work / "demo-launch", n_patients=6), args.launches)
            rows.append(("launch → first image (warm)", "demo, grader window 1400x900",
                         f"{statistics.median(times):.2f} s", f"{max(times):.2f} s (max)", f"< {LAUNCH_TARGET_S:.0f} s",
                         verdict(statistics.median(times), LAUNCH_TARGET_S * 1000)))
            rows.append(("same, CPU time of the process (whole run, to exit)", "demo, grader window 1400x900",
                         f"{statistics.median(cpu):.2f} s", f"{max(cpu):.2f} s (max)", f"< {LAUNCH_TARGET_S:.0f} s",
                         verdict(statistics.median(cpu), LAUNCH_TARGET_S * 1000)))
        for size in ((2040, 2040), (640, 480)) if "redraw" in parts else ():
            plain, selected, zoomed = bench_redraw(size)
            for what, value in (("fitted", plain), ("one selected (200 handles)", selected),
                                ("zoom step + repaint (caches re-rendered)", zoomed)):
                rows.append((f"canvas redraw, {what}", f"{size[0]}x{size[1]}, 20 polygons x 200 vertices", ms(value),
                             "", f"< {REDRAW_TARGET_MS:.0f} ms", verdict(value, REDRAW_TARGET_MS)))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"Qt platform `{app.platformName()}`, PySide6 {PYSIDE_VERSION}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
          f"{args.repeats} switches per case\n")
    print("| measurement | image | median | p90 | target | |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
