"""Model versions in a study: register, activate, delete, export / import, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rop_desktop.services.models import ModelService, ModelServiceError
from rop_desktop.store import Study
from training.bundle import ModelCard, save_bundle
from training.models import create_model


def _bundle(folder: Path, task: str = "binary", seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = create_model("tiny_cnn", num_classes=1, in_channels=3, pretrained=False)
    card = ModelCard.for_model(model, name=f"tiny {seed}", task="binary", classes=["no ROP", "ROP"],
                               threshold=0.4, config={"task": task}, metrics={"test": {"auroc": 0.9}})
    return save_bundle(folder, model, card)


@pytest.fixture
def study(tmp_path: Path, account):
    with Study.create(tmp_path / "study") as s:
        s.test_admin = account(s, "Admin", "admin")
        yield s


def test_register_activate_and_delete(study: Study, tmp_path: Path) -> None:
    service = ModelService(study, study.test_admin)
    first = service.register(_bundle(tmp_path / "b1", seed=1))
    second = service.register(_bundle(tmp_path / "b2", seed=2), activate=True)
    assert first.task == "binary" and not first.active and second.active
    assert (first.bundle_dir / "weights.safetensors").is_file()
    assert first.bundle_dir.is_relative_to(study.models_dir)
    service.activate(first.id)
    assert service.active("binary").id == first.id
    assert [v.active for v in service.versions()] == [False, True]  # newest first
    service.delete(first.id)
    assert service.active("binary") is None and not first.bundle_dir.exists()


def test_export_then_import_round_trip(study: Study, tmp_path: Path, account) -> None:
    service = ModelService(study, study.test_admin)
    v = service.register(_bundle(tmp_path / "b1"))
    out = service.export(v.id, tmp_path / "exported")
    with Study.create(tmp_path / "other") as other:
        imported = ModelService(other, account(other, "Admin", "admin")).import_bundle(out, activate=True)
        assert imported.active and imported.metrics == {"test": {"auroc": 0.9}}


def test_a_pickle_or_broken_bundle_is_refused_and_nothing_registered(study: Study, tmp_path: Path) -> None:
    service = ModelService(study, study.test_admin)
    bad = tmp_path / "pickle"
    bad.mkdir()
    torch.save({"w": torch.zeros(2)}, bad / "model.pt")
    with pytest.raises(ModelServiceError, match="not a usable model bundle"):
        service.import_bundle(bad)
    broken = _bundle(tmp_path / "broken")
    (broken / "weights.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelServiceError):
        service.import_bundle(broken)
    assert service.versions() == []
    assert list(study.models_dir.iterdir()) == []
