"""Active models' predictions for an image: computed, cached per version, new activation picked up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rop_desktop.services.grading import GradingService
from rop_desktop.services.models import ModelService
from rop_desktop.services.predictions import PredictionService
from rop_desktop.store import Study
from training.bundle import ModelCard, save_bundle
from training.models import create_model
from training.presets import get_preset

torch.set_num_threads(1)


def make_bundle(folder: Path, kind: str, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    if kind == "binary":
        model = create_model("tiny_cnn", num_classes=1, in_channels=3, pretrained=False)
        card = ModelCard.for_model(model, name=f"tiny binary {seed}", task="binary", classes=["no ROP", "ROP"],
                                   threshold=0.5, preset=get_preset("fast", image_size=48).to_dict(),
                                   config={"task": "binary"})
    else:
        model = create_model("tiny_unet", num_classes=1, in_channels=3, pretrained=False)
        card = ModelCard.for_model(model, name="tiny line", task="segmentation", classes=["line"],
                                   preset=get_preset("segmentation", image_size=48).to_dict(),
                                   config={"task": "segmentation"})
    return save_bundle(folder, model, card)


@pytest.fixture
def study(make_study):
    return make_study(3, (120, 90))


def test_predict_cache_and_activation(study: Study, tmp_path: Path) -> None:
    models = ModelService(study, study.test_admin)
    first = models.register(make_bundle(tmp_path / "b1", "binary", seed=1), activate=True)
    models.register(make_bundle(tmp_path / "seg", "segmentation"), activate=True)
    service = PredictionService(study, study.test_admin, device="cpu")
    image_id = 1
    result = service.predict_image(image_id)
    assert not result.errors
    binary, line = result.outputs["binary"], result.outputs["segmentation"]
    assert 0.0 <= binary.probability <= 1.0 and binary.threshold == 0.5
    assert binary.saliency.shape == (90, 120) and 0 <= binary.saliency.min() <= binary.saliency.max() <= 1
    assert binary.feature_grid is not None and binary.feature_grid.dtype == np.uint8 and binary.feature_layer
    assert line.line_mask.shape == (90, 120) and line.saliency is None
    assert not binary.cached
    again = service.predict_image(image_id)
    assert again.outputs["binary"].cached and again.outputs["binary"].probability == pytest.approx(binary.probability)
    np.testing.assert_allclose(again.outputs["binary"].saliency, binary.saliency, atol=1e-3)
    # a new version activated: picked up at once, without a new service
    second = models.register(make_bundle(tmp_path / "b2", "binary", seed=2), activate=True)
    switched = service.predict_image(image_id)
    assert switched.outputs["binary"].version_id == second.id != first.id
    assert not switched.outputs["binary"].cached


def test_batch_prediction_feeds_worklist_probabilities(study: Study, tmp_path: Path, account) -> None:
    ModelService(study, study.test_admin).register(make_bundle(tmp_path / "b1", "binary"), activate=True)
    service = PredictionService(study, study.test_admin, device="cpu")
    progress = list(service.predict_all())
    assert progress[-1] == (3, 3)
    scores = service.probabilities()
    assert set(scores) == {1, 2, 3} and all(0 <= p <= 1 and 0 <= u <= 1 for p, u in scores.values())
    grading = GradingService(study, account(study, "G"))
    order = service.most_uncertain_first(grading)
    assert sorted(order) == [1, 2, 3]
    assert [scores[i][1] for i in order] == sorted((scores[i][1] for i in order), reverse=True)


def test_no_active_model_means_no_output(study: Study) -> None:
    assert PredictionService(study, study.test_admin).predict_image(1).outputs == {}


def test_two_threads_storing_the_same_prediction_do_not_fail(study: Study, tmp_path: Path) -> None:
    import threading

    ModelService(study, study.test_admin).register(make_bundle(tmp_path / "b1", "binary"), activate=True)
    services = [PredictionService(study, study.test_admin, device="cpu") for _ in range(2)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(service: PredictionService) -> None:
        try:
            barrier.wait()
            result = service.predict_image(2, use_cache=False)
            assert not result.errors, result.errors
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert services[0].cached(2, services[0].models.active("binary")) is not None
