"""Training from the study's reference standard: snapshot, fit, a model version registered."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rop_desktop.services.demo_study import demo_admin
from rop_desktop.services.models import ModelService
from rop_desktop.services.reference import settle_images
from rop_desktop.services.training_runs import TrainingService, TrainingSetupError
from rop_desktop.store import Study
from training.engine import RunControl
from training.events import BatchProgress, Cancelled, Failed, Finished, RunStarted

torch.set_num_threads(1)


@pytest.fixture
def study(demo_study_dir: Path):
    with Study.open(demo_study_dir) as s:
        settle_images(s)
        yield s


def _quick(service: TrainingService, **extra):
    return service.plan("binary", "tiny_cnn", epochs=2, batch_size=8, device="cpu",
                        preset_overrides={"image_size": 48}, **extra)


def test_a_run_registers_a_model_version(study: Study) -> None:
    service = TrainingService(study, demo_admin(study))
    plan = _quick(service)
    assert plan.n_records > 10 and len(plan.snapshot_hash) == 64
    gen = service.run(plan)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            version = stop.value
            break
    kinds = {type(e) for e in events}
    assert RunStarted in kinds and BatchProgress in kinds and Finished in kinds, [e.kind for e in events]
    assert version is not None and version.task == "binary" and version.snapshot_hash == plan.snapshot_hash
    assert ModelService(study, demo_admin(study)).versions()[0].id == version.id
    run = service.runs()[0]
    assert run["status"] == "finished" and run["model_version_id"] == version.id


def test_cancel_is_recorded(study: Study) -> None:
    service = TrainingService(study, demo_admin(study))
    control = RunControl()
    gen = service.run(_quick(service, max_batches_per_epoch=None), control)
    for event in gen:
        if isinstance(event, BatchProgress):
            control.cancel()
        if isinstance(event, (Cancelled, Finished, Failed)):
            last = event
    assert isinstance(last, Cancelled)
    assert service.runs()[0]["status"] == "cancelled"
    assert ModelService(study, demo_admin(study)).versions() == []


def test_a_diverging_run_is_recorded_as_failed(study: Study) -> None:
    service = TrainingService(study, demo_admin(study))
    events = list(service.run(_quick(service, optimizer="sgd", lr=1e12, momentum=0.0)))
    failed = [e for e in events if isinstance(e, Failed)]
    assert failed and failed[0].category == "diverged"
    assert service.runs()[0]["status"] == "failed" and "diverged" in service.runs()[0]["reason"]


def test_no_reference_labels_refuses_to_start(tmp_path: Path, account) -> None:
    with Study.create(tmp_path / "empty") as empty, pytest.raises(TrainingSetupError):
        TrainingService(empty, account(empty, "Admin", "admin")).plan("binary", "tiny_cnn")


def test_rop_yes_no_is_line_first_once_a_line_model_is_active_and_validated_on_its_masks(study: Study) -> None:
    """The measured best CPU recipe for ROP yes/no reads the line a line model predicts: it is
    the default once one is active, refused without one, and its validation split, threshold
    and test figures come from that model's masks (the card names it)."""
    from rop_desktop.services.training_runs import default_architecture

    assert default_architecture("binary", cuda=False) == "resnet18_cls"
    assert default_architecture("binary", cuda=False, line_model=True) == "resnet18_hybrid"
    assert default_architecture("binary", cuda=True, line_model=True) == "rop_res_cnn"
    service = TrainingService(study, demo_admin(study))
    models = ModelService(study, demo_admin(study))
    for version in models.versions():  # the demo study's own models: start without a line model
        models.delete(version.id)
    tiny = {"epochs": 1, "batch_size": 8, "device": "cpu", "max_batches_per_epoch": 2}
    with pytest.raises(TrainingSetupError, match="line model"):
        service.plan("binary", "resnet18_hybrid", preset_overrides={"image_size": 48, "mask_channel": True}, **tiny)

    line_plan = service.plan("segmentation", "tiny_unet", preset_overrides={"image_size": 48}, **tiny)
    assert line_plan.line_bundle is None
    for _event in service.run(line_plan):
        pass
    [line] = models.versions()
    models.activate(line.id)
    plan = service.plan("binary", "resnet18_hybrid", preset_overrides={"image_size": 48, "mask_channel": True},
                        **tiny)
    assert plan.line_bundle == models.active("segmentation").bundle_dir
    gen = service.run(plan)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            version = stop.value
            break
    assert version is not None
    from training.bundle import read_card

    fed = read_card(version.bundle_dir).metrics["line_masks"]
    assert fed["source"] == "predicted" and fed["line_model"]["architecture"] == "tiny_unet"
