"""rop-train: sub-commands, outputs and exit codes (0 ok, 1 run failed, 2 bad usage)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import pytest

from training.bundle import read_card
from training.cli import build_config, build_parser, main
from training.config import recipe
from training.data.io import write_mask, write_png

from .conftest import build_snapshot, fundus

TINY = ["--arch", "tiny_cnn", "--image-size", "32", "--batch-size", "4", "--device", "cpu", "--quiet"]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"split_ratios": [0.5, 0.25, 0.25], "l2": 0.0, "lr": 0.003}))
    return path


def test_train_writes_a_bundle_and_prints_the_result(trained: dict[str, Any], config_file: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    snap = trained["snapshot"].root
    code = main(["train", "--snapshot", str(snap), *TINY, "--epochs", "2", "--config", str(config_file),
                 "--out", str(tmp_path / "run")])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["bundle"] == str(tmp_path / "run" / "bundle") and "sensitivity" in printed["test"]
    card = read_card(tmp_path / "run" / "bundle")
    assert card.config["epochs"] == 2 and card.config["lr"] == 0.003 and card.preset["image_size"] == 32
    # resume the finished run with more epochs: continues at epoch 3
    code = main(["train", "--snapshot", str(snap), "--resume", str(tmp_path / "run"), "--epochs", "3", "--quiet"])
    assert code == 0 and read_card(tmp_path / "run" / "bundle").extra["training"]["epochs_run"] == 3


def test_train_exit_codes(tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    single = build_snapshot(tmp_path / "single", n_patients=8, labels=lambda p: 1)
    assert main(["train", "--snapshot", str(single.root), *TINY, "--config", str(config_file),
                 "--out", str(tmp_path / "r1")]) == 1  # bad data
    assert main(["train", "--snapshot", str(single.root), "--arch", "no_such_model"]) == 2
    assert main(["train", "--snapshot", str(single.root), "--task", "binary", "--arch", "unet_small"]) == 2
    assert main(["train", "--snapshot", str(tmp_path / "missing"), *TINY]) == 2
    assert main(["train", "--snapshot", str(single.root), "--recipe", "nope"]) == 2
    assert main(["train", "--snapshot", str(single.root), "--epochs", "x"]) == 2
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "no_such_model" in err and "segmentation model" in err and "does not exist" in err


def test_config_precedence() -> None:
    parser = build_parser()
    args = parser.parse_args(["train", "--snapshot", "s", "--recipe", "paper_a_base", "--lr", "0.01",
                              "--image-size", "128"])
    config = build_config(args)
    assert config.architecture == "rop_base_cnn" and config.lr == 0.01
    assert config.preset == "paper_a" and config.preset_overrides == {"image_size": 128}
    config = build_config(parser.parse_args(["train", "--snapshot", "s", "--arch", "unet_small"]))
    assert (config.task, config.preset) == ("segmentation", "line")
    # --task alone starts from the task's default recipe: for the line, the measured best CPU recipe
    config = build_config(parser.parse_args(["train", "--snapshot", "s", "--task", "segmentation", "--minutes", "20"]))
    assert config == recipe("fast_line", max_minutes=20.0)
    config = build_config(parser.parse_args(["train", "--snapshot", "s", "--arch", "hybrid"]))
    assert (config.task, config.preset, config.oversample_stage1) == ("stage3", "paper_b", 5)


def test_evaluate_prints_and_saves(trained: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle, snap = trained["binary"].bundle_dir, trained["snapshot"].root
    code = main(["evaluate", "--bundle", bundle, "--snapshot", str(snap), "--out", str(tmp_path / "ev"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["split"] == "test" and summary["n"] == trained["binary"].test_metrics["n"]
    assert summary["sensitivity"] == pytest.approx(trained["binary"].test_metrics["sensitivity"])
    assert set(summary["ci95"]) >= {"sensitivity", "specificity", "accuracy", "auroc"}
    assert main(["evaluate", "--bundle", bundle, "--snapshot", str(snap)]) == 0
    assert "95% CI" in capsys.readouterr().out
    assert (tmp_path / "ev" / "report.json").is_file() and (tmp_path / "ev" / "binary.csv").is_file()
    assert main(["evaluate", "--bundle", str(tmp_path), "--snapshot", str(snap)]) == 2


def test_predict_prints_and_writes_pngs(trained: dict[str, Any], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    rgb, _ = fundus(11, True, 50, 70)
    image = tmp_path / "eye.png"
    write_png(image, rgb)
    code = main(["predict", "--bundle", trained["binary"].bundle_dir, str(image), "--out", str(tmp_path / "out"),
                 "--feature-layer", "features.conv1"])
    assert code == 0 and "probability of ROP" in capsys.readouterr().out
    saliency = cv2.imread(str(tmp_path / "out" / "eye.saliency.png"))
    assert saliency.shape == (50, 70, 3) and (tmp_path / "out" / "eye.features.png").is_file()
    assert main(["predict", "--bundle", trained["seg"].bundle_dir, str(image), "--out", str(tmp_path / "out"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["task"] == "segmentation"
    assert cv2.imread(str(tmp_path / "out" / "eye.mask.png"), cv2.IMREAD_GRAYSCALE).shape == (50, 70)
    (tmp_path / "bad.png").write_bytes(b"nope")
    assert main(["predict", "--bundle", trained["binary"].bundle_dir, str(tmp_path / "bad.png")]) == 2


def test_convert_image_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for k in range(3):
        rgb, mask = fundus(k, k > 0)
        write_png(tmp_path / "images" / f"{k}.png", rgb)
        write_mask(tmp_path / "masks" / f"{k}.png", mask)
    code = main(["convert", "image-folder", str(tmp_path / "images"), "--masks", str(tmp_path / "masks"),
                 "--out", str(tmp_path / "snap")])
    assert code == 0 and "3 records" in capsys.readouterr().out
    assert (tmp_path / "snap" / "manifest.json").is_file()


def test_models_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "| rop_base_cnn | binary | 300 |" in out and "maskrcnn_line" in out
    assert main(["models", "--task", "segmentation", "--json"]) == 0
    names = {m["name"] for m in json.loads(capsys.readouterr().out)}
    assert names == {"lraspp_line", "tiny_unet", "unet_small"}
