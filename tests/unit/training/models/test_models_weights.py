"""Pretrained weights: found in the local torch cache or a given file, never downloaded."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torchvision.models import resnet18, resnet50

from training.models import create_model
from training.weights import (
    PretrainedWeightsError,
    candidate_file_names,
    find_pretrained,
    hub_checkpoint_dir,
    load_pretrained,
)


def _cache_file(torch_home: Path, name: str) -> Path:
    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def test_candidate_names_are_torchvisions() -> None:
    assert candidate_file_names("resnet50")[0] == "resnet50-11ad3fa6.pth"  # torchvision's DEFAULT
    assert "resnet50-0676ba61.pth" in candidate_file_names("resnet50")
    assert candidate_file_names("maskrcnn_resnet50_fpn") == ["maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"]
    with pytest.raises(PretrainedWeightsError, match="no pretrained weights are known for 'vit'"):
        candidate_file_names("vit")


def test_auto_with_empty_cache_logs_random_init(torch_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert hub_checkpoint_dir() == torch_home / "hub" / "checkpoints"
    assert find_pretrained("resnet50") is None
    with caplog.at_level(logging.INFO, logger="training"):
        model = create_model("rop_res_cnn")  # pretrained="auto"; the fixture fails any network access
    assert model.pretrained_source is None
    assert (f"ImageNet weights for resnet50 not found in {hub_checkpoint_dir()}; starting from random weights"
            in caplog.text)
    with pytest.raises(PretrainedWeightsError, match=r"ImageNet weights for resnet18 not found.*resnet18-f37072fd.pth"):
        create_model("resnet18_cls", pretrained=True)


def test_cached_weights_are_found_and_loaded_with_adapted_first_conv(torch_home: Path) -> None:
    torch.manual_seed(1)
    source = resnet18(weights=None).state_dict()
    source["bn1.running_var"] = torch.rand(64) + 0.5
    path = _cache_file(torch_home, "resnet18-f37072fd.pth")
    torch.save(source, path)
    assert find_pretrained("resnet18") == path
    model = create_model("resnet18_cls", in_channels=1, num_classes=2)
    assert model.pretrained_source == str(path)
    state = model.state_dict()
    assert torch.equal(state["layer3.1.conv2.weight"], source["layer3.1.conv2.weight"])
    assert torch.equal(state["bn1.running_var"], source["bn1.running_var"])
    assert torch.allclose(state["conv1.weight"], source["conv1.weight"].mean(dim=1, keepdim=True))
    assert state["fc.weight"].shape == (2, 512)  # the ImageNet head was skipped, ours kept
    assert not create_model("resnet18_cls", pretrained=False).pretrained_source


def test_load_pretrained_reports_what_it_did(tmp_path: Path) -> None:
    source = resnet18(weights=None).state_dict()
    source["extra.weight"] = torch.zeros(3)
    path = tmp_path / "r18.safetensors"
    save_file(source, str(path))
    model = create_model("resnet18_cls", in_channels=2, pretrained=False)
    report = load_pretrained(model, path)
    assert report.adapted == ["conv1.weight"]
    assert report.skipped == ["fc.weight", "fc.bias"]
    assert report.unexpected == ["extra.weight"] and report.missing == []
    assert torch.equal(model.conv1.weight[:, 0], model.conv1.weight[:, 1])
    assert "2 skipped" in report.summary()


def test_explicit_file_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "mine.pth"
    tiny = create_model("tiny_cnn", pretrained=False)
    torch.save({"state_dict": tiny.state_dict()}, path)  # checkpoint-style wrapping is unwrapped
    model = create_model("tiny_cnn", pretrained=path)
    assert model.pretrained_source == str(path)
    assert torch.equal(model.features.conv2.weight, tiny.features.conv2.weight)
    with pytest.raises(PretrainedWeightsError, match="does not exist"):
        create_model("tiny_cnn", pretrained=tmp_path / "absent.pth")
    torch.save({"a": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(PretrainedWeightsError, match=r"no tensor of .* fits the model"):
        create_model("tiny_cnn", pretrained=tmp_path / "other.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(PretrainedWeightsError, match="cannot read weights"):
        create_model("tiny_cnn", pretrained=tmp_path / "junk.pth")
    with pytest.raises(PretrainedWeightsError, match="has no published pretrained weights"):
        create_model("tiny_cnn", pretrained=True)


def test_mask_rcnn_falls_back_to_cached_imagenet_backbone(torch_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(2)
    source = resnet50(weights=None).state_dict()
    path = _cache_file(torch_home, "resnet50-0676ba61.pth")
    torch.save(source, path)
    with caplog.at_level(logging.INFO, logger="training"):
        model = create_model("maskrcnn_line", min_size=64, max_size=64)
    assert "COCO weights for maskrcnn_resnet50_fpn not found" in caplog.text
    assert model.pretrained_source == str(path)
    assert model.model_kwargs["frozen_bn"] is True and model.model_kwargs["trainable_backbone_layers"] == 3
    assert torch.equal(model.backbone.body.layer2[0].conv1.weight, source["layer2.0.conv1.weight"])
    assert not model.backbone.body.layer1[0].conv1.weight.requires_grad  # torchvision's 3 trainable stages


def _fake_known(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, str]:
    """A small resnet18 state dict saved to a file, and the 'published' table naming its SHA-256."""
    import torchvision

    from training import weights

    source = tmp_path / "downloaded" / "renamed-by-the-browser.pth"
    source.parent.mkdir()
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), source)
    digest = weights.sha256_of(source)
    name = f"resnet18-{digest[:8]}.pth"
    table = [weights.KnownWeights(name, "resnet18", "ImageNet", f"https://example.invalid/{name}", digest[:8], True)]
    monkeypatch.setattr(weights, "known_weights", lambda: table)
    return source, name


def test_weights_import_verifies_the_hash_and_makes_models_start_pretrained(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from training.cli import main
    from training.models import create_model
    from training.weights import find_pretrained, hub_checkpoint_dir

    source, name = _fake_known(monkeypatch, tmp_path)
    assert create_model("resnet18_cls", pretrained="auto").pretrained_source is None
    assert main(["weights", "import", str(source)]) == 0
    out = capsys.readouterr().out
    assert f"stored as {hub_checkpoint_dir() / name}" in out and "resnet18_cls" in out
    assert find_pretrained("resnet18") == hub_checkpoint_dir() / name
    assert create_model("resnet18_cls", pretrained="auto").pretrained_source == str(hub_checkpoint_dir() / name)
    assert main(["weights", "import", str(source)]) == 0 and "already present" in capsys.readouterr().out


def test_weights_import_refuses_a_file_whose_hash_is_not_published(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from training.cli import main
    from training.weights import hub_checkpoint_dir

    source, name = _fake_known(monkeypatch, tmp_path)
    damaged = tmp_path / name
    damaged.write_bytes(source.read_bytes()[:-10] + b"0123456789")
    assert main(["weights", "import", str(damaged)]) == 2
    err = capsys.readouterr().err
    assert "not that of any known torchvision checkpoint" in err and "damaged" in err
    assert not (hub_checkpoint_dir() / name).exists()


def test_weights_list_names_the_published_files(capsys: pytest.CaptureFixture[str]) -> None:
    from training.cli import main
    from training.weights import known_weights

    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "| resnet18-f37072fd.pth | resnet18 (default) | ImageNet |  |" in out  # not present in the empty cache
    assert all(k.sha256_prefix in k.file_name for k in known_weights())
    assert main(["weights", "import"]) == 2
