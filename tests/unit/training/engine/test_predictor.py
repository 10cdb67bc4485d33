"""training.predictor: bundles → probabilities, saliency, feature maps, line masks at the original size."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shapely.geometry import Polygon

from training.bundle import BundleError
from training.data.io import read_rgb
from training.engine import fit
from training.events import Finished
from training.predictor import Predictor, PredictorError

from .conftest import build_snapshot, fundus, run_all, tiny_config


@pytest.fixture(scope="module")
def binary(trained: dict[str, Any]) -> Predictor:
    return Predictor.from_bundle(trained["binary"].bundle_dir, device="auto")


@pytest.fixture(scope="module")
def segmenter(trained: dict[str, Any]) -> Predictor:
    return Predictor.from_bundle(trained["seg"].bundle_dir)


def test_binary_probability_saliency_and_feature_grid(binary: Predictor) -> None:
    rgb, _ = fundus(99, True, 61, 83)  # not the training size, not square
    p = binary.predict(rgb, feature_layer="features.conv2")
    assert p.task == "binary" and 0.0 <= p.probability <= 1.0
    assert p.threshold == binary.card.threshold and p.positive == (p.probability >= p.threshold)
    assert p.class_probabilities == pytest.approx({"no ROP": 1 - p.probability, "ROP": p.probability})
    assert p.saliency.shape == (61, 83) and p.saliency.dtype == np.float32
    assert p.saliency.min() >= 0.0 and p.saliency.max() <= 1.0
    assert p.feature_maps.dtype == np.uint8 and p.feature_maps.ndim == 2 and p.feature_layer == "features.conv2"
    assert {"prepare", "model", "feature_maps", "total"} <= set(p.timings)
    assert p.line_mask is None
    assert "features.conv3" in binary.layers()


def test_batch_equals_single_predictions(binary: Predictor) -> None:
    images = [fundus(s, s % 2 == 1)[0] for s in range(3)]
    batch = binary.predict_batch(images, saliency=False)
    singles = [binary.predict(im, saliency=False) for im in images]
    assert [b.probability for b in batch] == pytest.approx([s.probability for s in singles], abs=1e-5)
    assert all(b.saliency is None for b in batch)


def test_predictor_is_usable_from_a_worker_thread(binary: Predictor) -> None:
    rgb, _ = fundus(5, True)
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(binary.predict(rgb)))
    worker.start()
    worker.join(30)
    assert out and out[0].probability == pytest.approx(binary.predict(rgb).probability, abs=1e-6)


def test_learned_to_tell_lines_apart(trained: dict[str, Any], binary: Predictor) -> None:
    snap = trained["snapshot"]
    probs = {r.label_binary: [] for r in snap}
    for r in snap:
        probs[r.label_binary].append(binary.predict(read_rgb(snap.image_path(r)), saliency=False).probability)
    assert np.mean(probs[1]) > np.mean(probs[0])


def test_segmenter_mask_at_original_size_and_polygons(segmenter: Predictor) -> None:
    rgb, _truth = fundus(7, True, 96, 112)
    p = segmenter.predict(rgb)
    assert p.task == "segmentation" and p.saliency is None and p.probability is None
    assert p.line_mask.shape == (96, 112) and p.line_mask.dtype == np.uint8
    assert set(np.unique(p.line_mask)) <= {0, 255}
    assert isinstance(p.line_polygons, list) and all(isinstance(g, Polygon) for g in p.line_polygons)
    assert segmenter.line_mask(rgb).shape == (96, 112)


def test_hybrid_needs_a_line_mask(tmp_path: Path, segmenter: Predictor, trained: dict[str, Any]) -> None:
    snap = build_snapshot(tmp_path / "snap", n_patients=9, stages=("1", "2", "3"))
    config = tiny_config(task="stage3", preset="paper_b", preset_overrides={"image_size": 32, "mask_channel": True},
                         epochs=1, positive_fraction=None)
    finished = run_all(fit(config, snap, tmp_path / "run"))[-1]
    assert isinstance(finished, Finished), finished
    stage = Predictor.from_bundle(finished.bundle_dir)
    rgb, mask = fundus(3, True)
    with pytest.raises(PredictorError, match="line mask"):
        stage.predict(rgb)
    given = stage.predict(rgb, line_mask=mask)
    assert set(given.class_probabilities) == {"stage 1", "stage 2", "stage 3"}
    assert sum(given.class_probabilities.values()) == pytest.approx(1.0)
    assert given.saliency.shape == rgb.shape[:2]
    paired = Predictor.hybrid(finished.bundle_dir, trained["seg"].bundle_dir)
    assert paired.predict(rgb, saliency=False).predicted_class in given.class_probabilities
    via_callable = Predictor.from_bundle(finished.bundle_dir, mask_provider=segmenter.line_mask)
    assert via_callable.predict(rgb, saliency=False).class_probabilities == pytest.approx(
        paired.predict(rgb, saliency=False).class_probabilities, abs=1e-6)


def test_bad_inputs(binary: Predictor, tmp_path: Path) -> None:
    with pytest.raises(PredictorError, match="RGB uint8"):
        binary.predict(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(PredictorError, match=r"no layer 'features.conv9'"):
        binary.predict(np.zeros((10, 10, 3), np.uint8), feature_layer="features.conv9")
    with pytest.raises(BundleError):
        Predictor.from_bundle(tmp_path)
