"""Active models' predictions for an image: computed, cached per version, new activation picked up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import select

from rop_desktop.services.grading import GradingService
from rop_desktop.services.models import ModelService
from rop_desktop.services.predictions import PredictionService
from rop_desktop.store import Study
from rop_desktop.store.schema import Prediction
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
    assert service.most_uncertain_first(grading, limit=1) == order[:1]  # "most uncertain next": one walk
    assert service.most_uncertain_first(grading, limit=1, exclude=order[0]) == [order[1]]


def test_batch_prediction_stores_only_the_numbers_several_images_a_pass(study: Study, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: no saliency, no feature maps, no files for the whole study — P(ROP), uncertainty,
    the line's area — in forward passes of several images; the maps come when an image is shown."""
    from rop_desktop.store import repo
    from training.predictor import Predictor

    models = ModelService(study, study.test_admin)
    models.register(make_bundle(tmp_path / "b1", "binary"), activate=True)
    models.register(make_bundle(tmp_path / "seg", "segmentation"), activate=True)
    passes: list[tuple[str, int, bool, object]] = []
    real = Predictor.predict_batch

    def counted(self: Predictor, images, **kwargs):
        passes.append((self.task, len(images), kwargs.get("saliency", True), kwargs.get("feature_layer")))
        return real(self, images, **kwargs)

    monkeypatch.setattr(Predictor, "predict_batch", counted)
    service = PredictionService(study, study.test_admin, device="cpu")
    assert list(service.predict_all(batch_size=2)) == [(2, 3), (3, 3)]
    assert passes == [("segmentation", 2, False, None), ("binary", 2, False, None),
                      ("segmentation", 1, False, None), ("binary", 1, False, None)]
    versions = service.active_versions()
    with study.session() as session:
        rows = {(r.image_id, r.model_version_id): r for r in session.scalars(select(Prediction))}
    assert len(rows) == 6 and all(r.mask_file is None and r.payload["summary"] for r in rows.values())
    binary = rows[(1, versions["binary"].id)]
    assert 0 <= binary.probability <= 1 and binary.uncertainty is not None
    assert 0 <= rows[(1, versions["segmentation"].id)].mask_area <= 1
    assert not (study.cache_dir / "predictions").exists()  # no maps written
    passes.clear()
    assert list(service.predict_all(batch_size=2))[-1] == (3, 3) and passes == []  # nothing left to predict

    shown = service.predict_image(1)  # the image on screen: its maps now, computed and cached
    assert shown.outputs["binary"].saliency is not None and not shown.outputs["binary"].cached
    assert shown.outputs["segmentation"].line_mask is not None
    with study.session() as session:
        assert repo.prediction_for(session, 1, versions["binary"].id).mask_file
    quick = service.predict_image(2, saliency=False)  # numbers only (the adjudication view): from the batch
    assert quick.outputs["binary"].cached and quick.outputs["binary"].summary_only


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
