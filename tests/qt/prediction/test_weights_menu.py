"""*Models → Import pretrained weights…*: the same logic as ``rop-train weights import FILE``
(a file whose SHA-256 is not a known checkpoint's is refused with the reason), for the accounts
that manage models only. The known-hash table gets a generated file through the documented hook
``training.weights.register_known_weights``, for this test only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rop_desktop.services.demo_study import DEMO_ADJUDICATOR
from rop_desktop.services.models import ModelService
from rop_desktop.services.policy import AccessDenied
from training.weights import KnownWeights, find_pretrained, hub_checkpoint_dir, register_known_weights, sha256_of


@pytest.fixture
def checkpoint(tmp_path: Path):
    source = tmp_path / "downloaded" / "my-resnet18.pth"
    source.parent.mkdir()
    torch.save({"conv1.weight": torch.ones(64, 3, 7, 7)}, source)
    digest = sha256_of(source)
    name = f"resnet18-{digest[:8]}.pth"
    unregister = register_known_weights(KnownWeights(name, "resnet18", "ImageNet", "file:///test", digest, False))
    yield source, name
    unregister()


def test_the_models_menu_imports_a_verified_file_and_refuses_another(
    qtbot, open_window, checkpoint, tmp_path: Path
) -> None:
    source, name = checkpoint
    mw = open_window(DEMO_ADJUDICATOR)
    menu = mw.controller.weights_menu
    assert menu.menu.menuAction().isVisible() and menu.menu.title() == "&Models"
    assert find_pretrained("resnet18") is None
    menu.ask_file = lambda: str(source)
    menu.menu.popup(mw.window.mapToGlobal(mw.window.rect().center()))
    menu.import_action.trigger()  # as a click on the menu item
    menu.menu.hide()
    text = menu.last_notice.text()
    assert text.startswith(f"{name} (ImageNet resnet18): its SHA-256 matches the published")
    assert "Models that now start pretrained: " in text and "resnet18_cls" in text
    assert (hub_checkpoint_dir() / name).read_bytes() == source.read_bytes()
    assert find_pretrained("resnet18") == hub_checkpoint_dir() / name
    assert mw.controller.versions_panel.message.text() == text
    menu.last_notice.close()

    damaged = tmp_path / name  # the right name, other bytes: refused, nothing stored
    damaged.write_bytes(source.read_bytes()[:-10] + b"0123456789")
    (hub_checkpoint_dir() / name).unlink()
    menu.ask_file = lambda: str(damaged)
    menu.import_action.trigger()
    refused = menu.last_notice.text()
    assert refused.startswith("Not imported: ") and "is not that of any known torchvision checkpoint" in refused
    assert "damaged or another version" in refused and not (hub_checkpoint_dir() / name).exists()
    menu.last_notice.close()
    menu.ask_file = lambda: None  # cancelled: nothing happens
    assert menu.choose_and_import() is None


def test_a_grader_has_no_models_menu_and_the_service_refuses(qtbot, open_window, checkpoint) -> None:
    source, name = checkpoint
    mw = open_window()  # a grader
    assert not mw.controller.weights_menu.menu.menuAction().isVisible()
    with pytest.raises(AccessDenied):
        ModelService(mw.study, mw.actor).import_pretrained(source)
    assert not (hub_checkpoint_dir() / name).exists()
