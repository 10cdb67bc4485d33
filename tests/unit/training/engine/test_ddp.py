"""``rop-train train`` under ``torchrun --nproc_per_node=2`` (gloo on the CPU): one bundle, rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.bundle import read_card

from .conftest import build_snapshot


@pytest.mark.slow
def test_two_processes_train_and_write_one_bundle(tmp_path: Path) -> None:
    snap = build_snapshot(tmp_path / "snap", n_patients=12)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"split_ratios": [0.5, 0.25, 0.25], "l2": 0.0, "init": "random"}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_HOME": str(tmp_path / "torch_home")}
    env.pop("RANK", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "training", "train", "--snapshot", str(snap.root), "--arch", "tiny_cnn", "--config", str(config),
               "--epochs", "1", "--image-size", "32", "--batch-size", "4", "--device", "cpu",
               "--out", str(tmp_path / "run")]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["bundle", "checkpoints", "events.jsonl", "report", "splits.json"]
    assert read_card(run / "bundle").architecture == "tiny_cnn"
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds.count("RunStarted") == 1 and kinds.count("Finished") == 1  # rank 1 writes nothing
    started = events[kinds.index("RunStarted")]
    assert started["n_train"] == 12 and started["batches_per_epoch"] == 2  # 3 batches of 4 shared by 2 ranks
    assert json.loads(done.stdout)["bundle"] == str(run / "bundle")  # printed once, by rank 0
