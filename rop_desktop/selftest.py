"""``rop-desktop --self-test``: prove, headless, that this installation works end to end.

In a temporary folder it creates a small demo study, signs in as its grader and opens the real
main window (offscreen unless ``QT_QPA_PLATFORM`` says otherwise), grades the first image with
real key presses, signs in as the demo adjudicator (training and model versions are theirs) to
train a tiny model for one epoch and predict one image with Grad-CAM saliency, and checks
torchvision's compiled ops; then it removes the folder and exits 0. Any failure prints the step
and the reason and exits 1. It is meant for the frozen (PyInstaller) app and for CI, so it needs
no network, no GPU and no writable install folder.

It also prints how long a normal start takes: from the moment the OS started the process until
the main window is on screen with its first image, not counting the demo study's creation.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "rop-desktop"
#: Small enough for CI (about 30 images at 320x240); six patients give every split a patient.
DEMO_PATIENTS = 6
DEMO_SIZE = (320, 240)
WAIT_MS = 60_000

_MODULE_LOADED = time.monotonic()


class SelfTestError(RuntimeError):
    """A self-test step failed; ``step`` names it and ``reason`` says why."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


@dataclass
class SelfTestReport:
    """What the self-test measured (seconds) and what it found, step by step."""

    steps: list[tuple[str, float, str]] = field(default_factory=list)
    startup_s: float | None = None  # process start → main window with its first image (demo creation excluded)

    def add(self, name: str, seconds: float, detail: str) -> None:
        self.steps.append((name, seconds, detail))


# ---------------------------------------------------------------------------- environment
def is_frozen() -> bool:
    """True inside a PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False))


def user_cache_dir() -> Path:
    """Per-user cache folder: ``$ROP_DESKTOP_HOME/cache`` when set, else platformdirs'."""
    home = os.environ.get("ROP_DESKTOP_HOME")
    return Path(home) / "cache" if home else Path(platformdirs.user_cache_dir(APP_NAME))


def use_user_torch_cache() -> Path | None:
    """In the frozen app, point ``TORCH_HOME`` (pretrained weights) at the per-user cache.

    Leaves an explicit ``TORCH_HOME`` alone and changes nothing when not frozen (a developer's
    own torch cache stays in use). Call it before torch is imported. Returns the folder set.
    """
    if not is_frozen() or os.environ.get("TORCH_HOME"):
        return None
    folder = user_cache_dir() / "torch"
    os.environ["TORCH_HOME"] = str(folder)
    return folder


def process_age_s() -> float:
    """Seconds since the OS started this process (Linux); elsewhere since this module loaded.

    For the frozen app this includes the PyInstaller bootloader and the unpacked Python start.
    """
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat[stat.rindex(")") + 2 :].split()[19])  # field 22: starttime
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _MODULE_LOADED


def install_dir() -> Path:
    """The folder the app runs from (the bundle's ``_internal`` when frozen)."""
    return Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[1]))


# ---------------------------------------------------------------------------- the run
def run_self_test(out: Callable[[str], None] = print) -> int:
    """Run every step; print one line per step and a verdict. Returns the exit code (0 = passed)."""
    use_user_torch_cache()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("ROP_DESKTOP_NO_RECENT", "1")  # the self-test never touches the recent list
    report = SelfTestReport()
    t0 = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="rop-selftest-") as tmp:
            _run_steps(Path(tmp), report, out)
    except SelfTestError as exc:
        out(f"SELF-TEST FAILED at {exc.step}: {exc.reason}")
        return 1
    except Exception as exc:  # noqa: BLE001 - any crash is a failed self-test, with its traceback
        traceback.print_exc()
        out(f"SELF-TEST FAILED: {type(exc).__name__}: {exc}")
        return 1
    if report.startup_s is not None:
        out(
            f"cold start to main window: {report.startup_s:.2f} s (process start → window shown with its "
            "first image, demo creation excluded)"
        )
    out(f"SELF-TEST PASSED in {time.monotonic() - t0:.1f} s")
    return 0


@contextmanager
def _step(name: str, report: SelfTestReport, out: Callable[[str], None]) -> Iterator[list[str]]:
    """Time one step; the body appends its detail line; an exception becomes a SelfTestError."""
    detail: list[str] = []
    t = time.monotonic()
    try:
        yield detail
    except SelfTestError:
        raise
    except Exception as exc:
        traceback.print_exc()
        raise SelfTestError(name, f"{type(exc).__name__}: {exc}") from exc
    seconds = time.monotonic() - t
    report.add(name, seconds, "; ".join(detail))
    out(f"[ok] {name:<14} {seconds:6.2f} s  {'; '.join(detail)}")


def _run_steps(tmp: Path, report: SelfTestReport, out: Callable[[str], None]) -> None:
    with _step("start", report, out) as d:
        # What a normal start imports before its window shows (app.run_app and build_window).
        from PySide6.QtWidgets import QApplication

        import rop_desktop.app as app_module
        from rop_desktop import __version__
        from rop_desktop.services.demo_study import build_demo_study
        from rop_desktop.ui.style import apply_style, resources_dir

        qapp = QApplication.instance() or QApplication(sys.argv[:1])
        if not isinstance(qapp, QApplication):
            raise SelfTestError("start", "a Qt application without windows already runs in this process")
        apply_style(qapp)
        if not (resources_dir() / "style.qss").is_file():
            raise SelfTestError("start", f"the style sheet is missing from {resources_dir()}")
        writable = os.access(install_dir(), os.W_OK)
        d.append(
            f"ROP Desktop {__version__}, {'frozen' if is_frozen() else 'from source'}, "
            f"Python {sys.version.split()[0]}, Qt platform {qapp.platformName()}, "
            f"install folder {'writable' if writable else 'read-only'}"
        )

    with _step("demo study", report, out) as d:
        folder = build_demo_study(tmp / "demo-study", n_patients=DEMO_PATIENTS, size=DEMO_SIZE)
        d.append(f"{_count_images(folder)} images in {folder}")
    demo_s = report.steps[-1][1]

    with ExitStack() as cleanup:  # the window and the study are closed whatever happens
        with _step("main window", report, out) as d:
            study, window, image_id = _open_window(app_module, folder, cleanup)
            report.startup_s = process_age_s() - demo_s
            d.append(
                f"'{window.windowTitle()}' shown with image {image_id}, "
                f"{report.startup_s:.2f} s after process start (demo creation excluded)"
            )
        with _step("grade", report, out) as d:
            d.append(_grade_with_keys(window, study, image_id))
        _close_window(window)
        with _step("torch", report, out) as d:
            d.append(_torch_check())
        with _step("train", report, out) as d:
            adjudicator = _sign_in_adjudicator(study)
            version, detail = _train(study, adjudicator)
            d.append(detail)
        with _step("predict", report, out) as d:
            d.append(_predict(study, adjudicator, version, image_id))


def _sign_in_grader(study: Any) -> Any:
    """The demo study's grader (no password), signed in through the accounts service."""
    from rop_desktop.services.accounts import sign_in
    from rop_desktop.services.demo_study import DEMO_GRADER

    return sign_in(study, DEMO_GRADER, None)


def _sign_in_adjudicator(study: Any) -> Any:
    """The demo study's adjudicator, signed in with its password: training needs that role."""
    from rop_desktop.services.accounts import sign_in
    from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_PASSWORDS

    return sign_in(study, DEMO_ADJUDICATOR, DEMO_PASSWORDS[DEMO_ADJUDICATOR])


def _count_images(folder: Path) -> int:
    from rop_desktop.services.grading import image_ids
    from rop_desktop.store import Study

    with Study.open(folder) as study:
        return len(image_ids(study, _sign_in_grader(study)))


def _wait(signal: Any, trigger: Callable[[], None] | None, timeout_ms: int, what: str) -> tuple[Any, ...]:
    """Run ``trigger`` and spin the event loop until ``signal`` fires (or fail after the timeout)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    received: list[tuple[Any, ...]] = []

    def on_signal(*args: Any) -> None:
        received.append(args)
        loop.quit()

    signal.connect(on_signal)
    QTimer.singleShot(timeout_ms, loop.quit)
    try:
        if trigger is not None:
            trigger()
        if not received:
            loop.exec()
    finally:
        signal.disconnect(on_signal)
    if not received:
        raise SelfTestError(what, f"nothing happened within {timeout_ms / 1000:.0f} s")
    return received[0]


def _open_window(app_module: Any, folder: Path, cleanup: ExitStack) -> tuple[Any, Any, int]:
    """Open the study, sign in as the demo grader and open the real main window; wait until its first
    image is on the canvas. (The workstation's account memory lives in the temp folder.)"""
    from PySide6.QtCore import QSettings
    from PySide6.QtTest import QTest

    from rop_desktop.store import Study
    from rop_desktop.ui.sign_in import AccountMemory

    study = Study.open(folder)
    cleanup.callback(study.close)
    memory = AccountMemory(QSettings(str(folder.parent / "workstation.ini"), QSettings.Format.IniFormat))
    window = app_module.build_window(study, _sign_in_grader(study), memory=memory)
    cleanup.callback(_close_window, window)
    window.show()
    if not QTest.qWaitForWindowExposed(window, 10_000):
        raise SelfTestError("main window", "the window was never exposed")
    workspace = window.wiring.workspace
    (image_id,) = _wait(workspace.imageShown, workspace.start, WAIT_MS, "main window")
    return study, window, int(image_id)


def _close_window(window: Any) -> None:
    """Close the window (its workers stop) and let Qt delete it; safe to call twice."""
    from PySide6.QtWidgets import QApplication

    if window.isVisible():
        window.close()
        QApplication.processEvents()


def _grade_with_keys(window: Any, study: Any, image_id: int) -> str:
    """Grade the shown image as the user would: N (no ROP), 0 (stage 0), Enter (submit)."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from rop_desktop.domain.labels import RopPresence, Stage
    from rop_desktop.services.grading import GradingService

    canvas = window.canvas
    canvas.setFocus()
    for key in (Qt.Key.Key_N, Qt.Key.Key_0):
        QTest.keyClick(canvas, key)
    workspace = window.wiring.workspace

    def press_enter() -> None:
        QTest.keyClick(canvas, Qt.Key.Key_Return)

    try:
        _wait(workspace.gradeSubmitted, press_enter, 3_000, "grade")
    except SelfTestError:  # the panel listed warnings: a second Enter submits anyway
        _wait(workspace.gradeSubmitted, press_enter, 10_000, "grade")
    mine = GradingService(study, workspace.service.actor).my_grade(image_id)
    if not mine.submitted or (mine.values.rop, mine.values.stage) != (RopPresence.NO, Stage.S0):
        raise SelfTestError(
            "grade",
            f"the stored grade is {mine.values} (submitted={mine.submitted}), not the submitted 'no ROP, stage 0'",
        )
    return f"image {image_id} submitted as no ROP / stage 0 through the keyboard and stored"


def _torch_check() -> str:
    """torch runs, and torchvision's compiled ops (nms) are registered — the classic frozen-app failure."""
    import torch
    import torchvision
    from torchvision.ops import nms

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    kept = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist()
    if kept != [0, 2]:
        raise SelfTestError("torch", f"torchvision nms kept {kept}, expected [0, 2]")
    cuda = torch.cuda.is_available()
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES") == ""  # the cpu variant's runtime hook hides GPUs
    device = torch.cuda.get_device_name(0) if cuda else ("CPU only, GPUs hidden" if hidden else "CPU only")
    return (
        f"torch {torch.__version__} (CUDA build {torch.version.cuda or 'none'}; {device}), "
        f"torchvision {torchvision.__version__} ops ok, TORCH_HOME={os.environ.get('TORCH_HOME', '(default)')}"
    )


def _train(study: Any, actor: Any) -> tuple[Any, str]:
    """One epoch of a tiny CNN on the demo's reference standard, trained by ``actor`` (an adjudicator);
    returns the registered version."""
    from rop_desktop.services.training_runs import TrainingService
    from training.distributed import resolve_device
    from training.events import Failed, Finished

    service = TrainingService(study, actor)
    plan = service.plan(
        "binary", "tiny_cnn", epochs=1, batch_size=8, init="random", preset_overrides={"image_size": 48}
    )
    events = service.run(plan)
    last: Any = None
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            version = stop.value
            break
        if isinstance(event, (Finished, Failed)):
            last = event
    if version is None:
        reason = last.reason if isinstance(last, Failed) else "no model version was registered"
        raise SelfTestError("train", reason)
    return version, (
        f"tiny_cnn trained 1 epoch on {plan.n_records} reference labels "
        f"on {resolve_device(plan.config.device)}; model version {version.id} registered"
    )


def _predict(study: Any, actor: Any, version: Any, image_id: int) -> str:
    """Activate the new version and predict the graded image with Grad-CAM saliency (as ``actor``)."""
    import numpy as np

    from rop_desktop.services.models import ModelService
    from rop_desktop.services.predictions import PredictionService

    ModelService(study, actor).activate(version.id)
    result = PredictionService(study, actor).predict_image(image_id, use_cache=False, saliency=True)
    if result.errors:
        raise SelfTestError("predict", "; ".join(f"{k}: {v}" for k, v in result.errors.items()))
    output = result.outputs.get("binary")
    if output is None or output.probability is None or not 0.0 <= output.probability <= 1.0:
        raise SelfTestError("predict", f"no usable P(ROP) in {output}")
    saliency = output.saliency
    if saliency is None or saliency.ndim != 2 or not np.isfinite(saliency).all():
        raise SelfTestError("predict", "no finite 2-D Grad-CAM saliency map")
    return (
        f"P(ROP) = {output.probability:.3f}, Grad-CAM {saliency.shape[1]}x{saliency.shape[0]} "
        f"(range {float(saliency.min()):.2f}..{float(saliency.max()):.2f})"
    )
