"""``rop-desktop --self-test``: the installation check that CI and the frozen app run.

The real command in a subprocess, as a user or the smoke script runs it (offscreen, a private
ROP_DESKTOP_HOME and temp folder): every step passes, it says so, exits 0 and leaves nothing
behind. The frozen-app helpers are checked in-process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rop_desktop import selftest

STEPS = ("start", "demo study", "main window", "grade", "torch", "train", "predict")


def test_self_test_passes_and_leaves_nothing_behind(tmp_path: Path) -> None:
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    scratch.mkdir()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ROP_DESKTOP_HOME": str(home), "TMPDIR": str(scratch),
           "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}  # `import torch` makes this cache (torch's own)
    env.pop("ROP_DESKTOP_NO_RECENT", None)  # the self-test must keep the recent list untouched by itself
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "rop_desktop", "--self-test"], env=env, capture_output=True,
                          text=True, timeout=180)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    lines = proc.stdout.splitlines()
    for step in STEPS:
        assert any(line.startswith(f"[ok] {step} ") for line in lines), f"no [ok] line for {step!r}:\n{proc.stdout}"
    assert lines[-1].startswith("SELF-TEST PASSED")
    grade = next(line for line in lines if line.startswith("[ok] grade "))
    assert "submitted as no ROP / stage 0" in grade
    predict = next(line for line in lines if line.startswith("[ok] predict "))
    assert re.search(r"P\(ROP\) = (0|1)\.\d{3}, Grad-CAM 320x240", predict), predict
    startup = re.search(r"cold start to main window: ([\d.]+) s", proc.stdout)
    assert startup is not None and 0 < float(startup.group(1)) < elapsed
    assert list(scratch.iterdir()) == [], "the self-test left files in the temp folder"
    assert list(home.iterdir()) == [], "the self-test wrote into the user's folders"


def test_a_failing_step_exits_1_and_names_the_step(tmp_path: Path) -> None:
    # Two demo patients cannot fill a patient-grouped train/val/test split: training must refuse.
    code = ("import sys; from rop_desktop import selftest; selftest.DEMO_PATIENTS = 2; "
            "sys.exit(selftest.run_self_test())")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ROP_DESKTOP_HOME": str(tmp_path / "home"),
           "TMPDIR": str(tmp_path), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-2000:]
    last = proc.stdout.splitlines()[-1]
    assert last.startswith("SELF-TEST FAILED at train: ") and "split is empty" in last, proc.stdout
    assert "[ok] grade " in proc.stdout and "[ok] train " not in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inductor"], "the failed run left its temp folder behind"


def test_frozen_app_keeps_the_torch_cache_in_the_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ROP_DESKTOP_HOME", str(tmp_path))
    monkeypatch.delenv("TORCH_HOME", raising=False)
    assert selftest.use_user_torch_cache() is None  # from source: the developer's torch cache stays
    assert "TORCH_HOME" not in os.environ

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert selftest.use_user_torch_cache() == tmp_path / "cache" / "torch"
    assert os.environ["TORCH_HOME"] == str(tmp_path / "cache" / "torch")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "mine"))
    assert selftest.use_user_torch_cache() is None  # an explicit choice wins
    assert os.environ["TORCH_HOME"] == str(tmp_path / "mine")


def test_process_age_counts_from_the_process_start() -> None:
    since_import = time.monotonic() - selftest._MODULE_LOADED
    age = selftest.process_age_s()
    # The process started before the module was imported (clock-tick resolution), and not in 1970.
    assert since_import - 0.05 <= age < 86_400
