"""The built-in models in the window (issue: background training, live predictions, saliency,
feature maps). Prints Markdown tables.

    .venv/bin/python benchmarks/model_bench.py                 # responsiveness + latency
    .venv/bin/python benchmarks/model_bench.py responsiveness  # one part
    .venv/bin/python benchmarks/model_bench.py latency [--real ../shared/data/hvdropdb-ridge-neo/images]
    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python benchmarks/model_bench.py screenshot \\
        docs/screenshot-model.png

- **responsiveness**: the real window (``build_window`` + ``install_model_features``) on the demo
  study (87 images) while a training run started from the Train tab runs on the CPU. A
  ``QTimer`` probe fires every 10 ms on the UI thread; its lag (actual interval − 10 ms) is
  the time the event loop could not react. Scenarios: idle (no run), ``tiny_cnn`` at 48 px
  (hundreds of batches a second: stresses the signal relay), ``resnet18_cls`` at 224 px
  (compute-bound). Each with the app's settings (all cores but one for torch, BatchProgress
  relayed at ≤ 20 Hz) and, to show why those settings exist, with torch on every core and with
  a signal per batch. Targets: p99 < 50 ms, max < 200 ms.
- **latency**: one image through the default CPU models of each task — ``resnet18_cls``
  (ROP, 224 px), ``stage_classifier`` (Inception v3, paper B preset, 299 px), ``unet_small``
  (line, 512 px) — probability + line mask + Grad-CAM saliency + feature maps, not cached
  (``PredictionService.predict_image(use_cache=False)``), on the CPU. Random weights (the time
  does not depend on them). Demo images (640x480) and real 2040x2040 PNGs. Target < 1.5 s.
- **screenshot**: trains a quick line model and ROP model on the demo study, activates them,
  opens a stage-3 image as the demo admin (who sees the model beside every grade), and grabs the window with the Model
  tab in front.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ROP_DESKTOP_NO_RECENT", "1")

import torch  # noqa: E402
from bench_accounts import bench_admin  # noqa: E402
from PySide6.QtCore import QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from rop_desktop.app import build_window  # noqa: E402
from rop_desktop.services.demo_study import (  # noqa: E402 - after sys.path is set
    build_demo_study,
    demo_admin,
)
from rop_desktop.services.importer import run_import  # noqa: E402
from rop_desktop.services.models import ModelService  # noqa: E402
from rop_desktop.services.predictions import PredictionService  # noqa: E402
from rop_desktop.services.training_runs import TrainingService  # noqa: E402
from rop_desktop.store import Study, repo  # noqa: E402
from rop_desktop.ui.controllers.prediction import install_model_features  # noqa: E402
from rop_desktop.workers import training_worker  # noqa: E402
from rop_desktop.workers.training_worker import TrainRequest  # noqa: E402
from training.bundle import ModelCard, save_bundle  # noqa: E402
from training.engine import setup  # noqa: E402
from training.models import create_model  # noqa: E402

PROBE_MS = 10
P99_TARGET_MS, MAX_TARGET_MS = 50.0, 200.0
LATENCY_TARGET_S = 1.5
DEFAULT_REAL = REPO.parent / "shared" / "data" / "hvdropdb-ridge-neo" / "images"
#: (task, architecture, classes) of the default CPU models.
CPU_MODELS = (("binary", "resnet18_cls", ["no ROP", "ROP"]),
              ("stage", "stage_classifier", ["stage 1", "stage 2", "stage 3"]),
              ("segmentation", "unet_small", ["line"]))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100.0 * (len(ordered) - 1))))]


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}")


def wait_for(app: QApplication, predicate, timeout_s: float = 600.0) -> None:
    end = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("timed out")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.005)


# ---------------------------------------------------------------------- responsiveness
class Probe:
    """A 10 ms PreciseTimer on the UI thread; lags in ms."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._last = 0.0
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last:
            self.lags.append(max(0.0, (now - self._last) * 1000.0 - PROBE_MS))
        self._last = now

    def run(self, seconds: float, stop_early=None) -> None:
        loop = QEventLoop()
        self.timer.start()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        if stop_early is not None:
            check = QTimer()
            check.timeout.connect(lambda: loop.quit() if stop_early() else None)
            check.start(100)
        loop.exec()
        self.timer.stop()


def responsiveness(app: QApplication, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="rop-model-bench-") as tmp:
        folder = build_demo_study(Path(tmp) / "demo")
        study = Study.open(folder)
        grader = demo_admin(study)  # training needs an adjudicator or admin
        window = build_window(study, grader)
        controller = install_model_features(window, study, window.wiring.grading, window.wiring.workspace, device="cpu")
        window.resize(1400, 900)
        window.show()
        window.wiring.workspace.start()
        wait_for(app, lambda: window.wiring.workspace.shown is not None)
        window.side_tabs.setCurrentWidget(controller.training_panel)  # the curves repaint while it runs
        cores = os.cpu_count() or 2
        app_hz, app_nice = training_worker.PROGRESS_HZ, training_worker.TrainingWorker.NICE
        #: (name, architecture, image size, batch, torch threads, progress Hz, nice)
        scenarios: list[tuple] = [("idle (no run)", None, 0, 0, None, app_hz, app_nice)]
        for arch, size, batch in (("tiny_cnn", 48, 8), ("resnet18_cls", 224, 16)):
            scenarios += [(f"{arch} {size} px, app settings", arch, size, batch, None, app_hz, app_nice),
                          (f"{arch} {size} px, training thread not niced", arch, size, batch, None, app_hz, 0),
                          (f"{arch} {size} px, torch on all {cores} cores", arch, size, batch, cores, app_hz, app_nice),
                          (f"{arch} {size} px, a signal per batch", arch, size, batch, None, 1e9, app_nice)]
        rows = []
        for name, arch, size, batch, threads, hz, nice in scenarios:
            probe = Probe()
            relayed: list = []
            if arch is None:
                probe.run(min(seconds, 5.0))
            else:
                training_worker.PROGRESS_HZ, training_worker.TrainingWorker.NICE = hz, nice
                worker = controller.training.start(TrainRequest("binary", arch, 1000, batch, size, "cpu", "random"),
                                                   threads=threads)
                worker.progress.connect(relayed.append)
                wait_for(app, lambda: bool(relayed), 600)  # snapshot exported, model built, first batch done  # noqa: B023 - waited on inside this iteration
                batches = len(relayed)
                probe.run(seconds)
                worker.cancel()
                wait_for(app, lambda: not controller.training.running(), 120)
                training_worker.PROGRESS_HZ, training_worker.TrainingWorker.NICE = app_hz, app_nice
                relayed = relayed[batches:]
            lags = probe.lags
            rate = f"{len(relayed) / seconds:.0f}/s" if arch else "–"
            ips = f"{relayed[-1].images_per_s:.0f}" if relayed else "–"
            rows.append((name, len(lags), percentile(lags, 50), percentile(lags, 99), max(lags), rate, ips))
        window.close()
        study.close()
    load = ", load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    print(f"\n### UI responsiveness while training on the CPU ({machine()}{load})\n")
    print(f"Probe: a {PROBE_MS} ms QTimer on the UI thread for {seconds:.0f} s per scenario; lag = interval − "
          f"{PROBE_MS} ms. Targets: p99 < {P99_TARGET_MS:.0f} ms, max < {MAX_TARGET_MS:.0f} ms.\n")
    print("| scenario | ticks | lag p50 (ms) | lag p99 (ms) | lag max (ms) | progress signals | images/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, n, p50, p99, worst, rate, ips in rows:
        flag = "" if p99 < P99_TARGET_MS and worst < MAX_TARGET_MS else " ⚠"
        print(f"| {name}{flag} | {n} | {p50:.1f} | {p99:.1f} | {worst:.1f} | {rate} | {ips} |")


# ---------------------------------------------------------------------- latency
def default_bundles(service: TrainingService, folder: Path) -> dict[str, Path]:
    """Random-weight bundles of the default CPU models, with their recipes' presets."""
    out = {}
    for task, arch, classes in CPU_MODELS:
        config = service.config_for(task, arch)
        preset = setup.build_preset(config)
        model = create_model(arch, num_classes=3 if task == "stage" else 1, in_channels=preset.in_channels,
                             pretrained=False, **setup.model_kwargs(config, preset))
        card = ModelCard.for_model(model, f"{arch} (random weights)", classes=classes, preset=preset.to_dict(),
                                   config=config.to_dict(), threshold=0.5 if task == "binary" else None)
        out[task] = save_bundle(folder / task, model, card)
    return out


def latency(real: Path | None, n_images: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="rop-model-latency-") as tmp:
        demo = build_demo_study(Path(tmp) / "demo", n_patients=2)
        with Study.open(demo) as study:
            bundles = default_bundles(TrainingService(study, demo_admin(study)), Path(tmp) / "bundles")
        sources = [("demo 640x480", None)]
        if real is not None and real.is_dir():
            sources.append(("real 2040x2040", sorted(real.glob("*.png"))[:n_images]))
        for label, files in sources:
            if files is None:
                folder = demo
            else:
                folder = Path(tmp) / "real"
                src = Path(tmp) / "real-src"
                src.mkdir()
                for f in files:
                    os.symlink(f, src / f.name)
                with Study.create(folder) as s:
                    run_import(s, bench_admin(s), [src])
            with Study.open(folder) as study:
                admin = demo_admin(study) if files is None else bench_admin(study)
                models = ModelService(study, admin)
                for task in bundles:
                    models.register(bundles[task], activate=True)
                service = PredictionService(study, admin, device="cpu")
                with study.session() as session:
                    ids = [i.id for i in repo.list_images(session)][:n_images + 1]
                rgb = {i: service._load(i) for i in ids}  # decoding is the loader's, not counted here
                service.predict_image(ids[0], rgb[ids[0]], use_cache=False)  # warm-up: weights, allocator
                per_task: dict[str, list[float]] = {t: [] for t in bundles}
                walls = []
                for image_id in ids[1:]:
                    t0 = time.perf_counter()
                    result = service.predict_image(image_id, rgb[image_id], use_cache=False)
                    walls.append(time.perf_counter() - t0)
                    assert not result.errors, result.errors
                    for task, out in result.outputs.items():
                        per_task[task].append(out.timings["total"] / 1000.0)
                stages = {t: result.outputs[t].timings for t in result.outputs}
                rows.append((label, len(walls), per_task, walls, stages))
    print(f"\n### Prediction latency per image on the CPU ({machine()})\n")
    print("Probability + line mask + Grad-CAM saliency + feature maps of the default layer, not cached; "
          f"median (max) seconds. Target < {LATENCY_TARGET_S} s.\n")
    print("| images | n | " + " | ".join(f"{t} ({a})" for t, a, _ in CPU_MODELS) + " | all three |")
    print("| --- | ---: | " + " | ".join("---:" for _ in CPU_MODELS) + " | ---: |")
    for label, n, per_task, walls, _stages in rows:
        cells = [f"{statistics.median(per_task[t]):.2f} ({max(per_task[t]):.2f})" for t, _a, _c in CPU_MODELS]
        flag = "" if statistics.median(walls) < LATENCY_TARGET_S else " ⚠"
        print(f"| {label} | {n} | " + " | ".join(cells) + f" | {statistics.median(walls):.2f} ({max(walls):.2f}){flag} |")
    print("\nWhere the time goes (ms, last image):\n")
    print("| images | model | " + " | ".join(("prepare", "model (+ Grad-CAM)", "postprocess", "feature maps")) + " |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for label, _n, _per, _walls, stages in rows:
        for task, timings in stages.items():
            print(f"| {label} | {task} | " + " | ".join(f"{timings.get(k, 0.0):.0f}" for k in
                                                        ("prepare", "model", "postprocess", "feature_maps")) + " |")


# ---------------------------------------------------------------------- screenshot
def screenshot(app: QApplication, target: Path) -> None:
    import json

    from rop_desktop.services.demo_study import TRUTH_FILE
    from rop_desktop.services.identity import original_file_names
    from rop_desktop.ui.style import apply_style

    apply_style(app)
    with tempfile.TemporaryDirectory(prefix="rop-model-shot-") as tmp:
        folder = build_demo_study(Path(tmp) / "demo")
        truth = json.loads((folder / TRUTH_FILE).read_text(encoding="utf-8"))
        with Study.open(folder) as store, store.session() as session:
            by_name = {names[0]: image_id for image_id, names in original_file_names(session).items()}
        stage3 = next(name for name, entry in truth["images"].items()
                      if entry["truth"]["stage"] == "3" and entry["truth"]["quality"] == "gradable")
        study = Study.open(folder)
        window = build_window(study, demo_admin(study))  # sees the model beside every grade
        controller = install_model_features(window, study, window.wiring.grading, window.wiring.workspace, device="cpu")
        window.resize(1500, 920)
        window.show()
        window.wiring.workspace.start()
        wait_for(app, lambda: window.wiring.workspace.shown is not None)
        for task, arch, epochs, size in (("segmentation", "unet_small", 25, 256), ("binary", "resnet18_cls", 8, 160),
                                         ("stage", "tiny_cnn", 30, 128)):
            outcomes = []
            controller.training.runEnded.connect(outcomes.append)
            controller.training.start(TrainRequest(task, arch, epochs, 8, size, "cpu", "random"))
            wait_for(app, lambda: bool(outcomes), 1800)  # noqa: B023 - waited on inside this iteration
            controller.training.runEnded.disconnect()
            print(f"{task}: {outcomes[0].status} {outcomes[0].reason or ''} {outcomes[0].test_metrics}")
            controller.versions.activate(outcomes[0].version.id)
        window.wiring.workspace.open_image(by_name[stage3])
        wait_for(app, lambda: controller.result is not None and controller.result.image_id == by_name[stage3])
        window.side_tabs.setCurrentWidget(controller.prediction_panel)
        wait_for(app, lambda: not time.sleep(0.2))
        target.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(target))
        print(f"saved {target} (image {stage3}, as the demo admin)")
        window.close()
        study.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", nargs="?", default="all", choices=("all", "responsiveness", "latency", "screenshot"))
    parser.add_argument("target", nargs="?", type=Path, default=REPO / "docs" / "screenshot-model.png")
    parser.add_argument("--seconds", type=float, default=10.0, help="probe time per training scenario")
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL)
    parser.add_argument("--images", type=int, default=5)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    if args.part in ("all", "responsiveness"):
        responsiveness(app, args.seconds)
    if args.part in ("all", "latency"):
        latency(args.real, args.images)
    if args.part == "screenshot":
        screenshot(app, args.target)


if __name__ == "__main__":
    main()
