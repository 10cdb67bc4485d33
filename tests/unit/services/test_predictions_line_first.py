"""A binary hybrid (paper A's question, line-first: ResNet-18 on grey + the line mask, one logit) in the
app: fed by the active line model on the image on screen and in batch predictions, like the stage
hybrid; refused with a sentence when no line model is active."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rop_desktop.services.models import ModelService
from rop_desktop.services.predictions import PredictionService
from rop_desktop.store import Study
from training.bundle import ModelCard, save_bundle
from training.config import recipe
from training.models import create_model
from training.presets import get_preset

from .test_predictions import make_bundle

torch.set_num_threads(1)


def binary_hybrid_bundle(folder: Path) -> Path:
    """A ``fast_binary_line`` model (untrained) at 48 px, its card as ``fit`` writes it."""
    torch.manual_seed(0)
    config = recipe("fast_binary_line")
    preset = get_preset(config.preset, **{**config.preset_overrides, "image_size": 48})
    model = create_model(config.architecture, num_classes=1, in_channels=preset.in_channels, pretrained=False)
    card = ModelCard.for_model(model, name="binary line-first", classes=["no ROP", "ROP"], threshold=0.5,
                               preset=preset.to_dict(), config=config.to_dict())
    return save_bundle(folder, model, card)


@pytest.fixture
def study(make_study):
    return make_study(3, (120, 90))


def test_a_binary_hybrid_is_fed_by_the_active_line_model(study: Study, tmp_path: Path) -> None:
    models = ModelService(study, study.test_admin)
    version = models.register(binary_hybrid_bundle(tmp_path / "hybrid"), activate=True)
    assert version.task == "binary"
    service = PredictionService(study, study.test_admin, device="cpu")
    refused = service.predict_image(1)
    assert "binary" not in refused.outputs
    assert refused.errors["binary"] == "a hybrid model (image + line mask) needs an active line-segmentation model"

    models.register(make_bundle(tmp_path / "line", "segmentation"), activate=True)
    result = service.predict_image(1, use_cache=False)
    assert not result.errors
    binary = result.outputs["binary"]
    assert 0.0 <= binary.probability <= 1.0 and binary.threshold == 0.5 and binary.positive is not None
    assert binary.saliency is not None and binary.saliency.shape == (90, 120)
    # the mask it was fed is the line model's for this image: the same prediction by hand
    predictor = service.predictor(version)
    rgb = service._load(1)
    line_mask = result.outputs["segmentation"].line_mask
    by_hand = predictor.predict(rgb, saliency=False, line_mask=line_mask).probability
    assert binary.probability == pytest.approx(by_hand, abs=1e-5)

    progress = list(service.predict_all())  # the batch path: the line model's masks, one pass per model
    assert progress[-1] == (3, 3)
    assert set(service.probabilities()) == {1, 2, 3}
