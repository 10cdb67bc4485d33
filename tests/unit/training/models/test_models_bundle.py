"""Model bundles: safetensors + card.json round trip, and every way a bundle can be wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from torch import nn

from training.bundle import (
    BUNDLE_FORMAT_VERSION,
    BundleError,
    ModelCard,
    load_bundle,
    read_card,
    save_bundle,
    write_model_card_markdown,
)
from training.models import create_model, registry


def _trained(name: str, **kwargs: Any) -> nn.Module:
    """A model whose weights and BatchNorm statistics differ from a fresh one."""
    torch.manual_seed(3)
    model = create_model(name, pretrained=False, **kwargs)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(4, model.model_kwargs["in_channels"], 32, 32)
    model.train()
    model(x).mean().backward()
    optimiser.step()
    return model.eval()


@pytest.mark.parametrize(
    "name,kwargs", [("tiny_cnn", {"num_classes": 3, "in_channels": 1}), ("unet_small", {"base": 4})]
)
def test_round_trip_gives_identical_outputs(tmp_path: Path, name: str, kwargs: dict[str, Any]) -> None:
    model = _trained(name, **kwargs)
    card = ModelCard.for_model(model, "line v1", classes=["a", "b", "c"], threshold=0.42,
                               preset={"name": "paper_b", "size": 299}, metrics={"f1": 0.8},
                               config={"lr": 1e-4}, snapshot_hash="abc123")
    folder = save_bundle(tmp_path / "bundle", model, card)
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "weights.safetensors"]
    loaded, loaded_card = load_bundle(folder)
    assert loaded_card == card and not loaded.training
    x = torch.randn(2, model.model_kwargs["in_channels"], 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_card_for_paper_model_carries_lost_hyperparameters_and_versions(tmp_path: Path) -> None:
    model = create_model("rop_base_cnn", image_size=64, pretrained=False)
    card = ModelCard.for_model(model, "paper A", classes=["no ROP", "ROP"], threshold=0.5, notes=["trained on demo"])
    assert card.task == "binary" and card.model_kwargs["kernel_size"] == 3 and card.model_kwargs["l2_weight"] == 1e-4
    assert any("lost" in n for n in card.notes) and card.notes[-1] == "trained on demo"
    assert {"torch", "torchvision", "numpy", "python", "app"} <= set(card.library_versions)
    assert card.pretrained_source is None
    text = write_model_card_markdown(card)
    assert text.startswith("# paper A\n") and "`rop_base_cnn`" in text and "random initialisation" in text
    assert "Operating threshold**: 0.5" in text and "- trained on demo" in text
    assert ModelCard.for_model(create_model("tiny_cnn", num_classes=4, pretrained=False), "t").task == "multiclass"


def test_unknown_card_keys_survive_a_round_trip(tmp_path: Path) -> None:
    model = create_model("tiny_cnn", pretrained=False)
    folder = save_bundle(tmp_path / "b", model, ModelCard.for_model(model, "t"))
    data = json.loads((folder / "card.json").read_text())
    assert data["format_version"] == BUNDLE_FORMAT_VERSION
    data["reviewed_by"] = "Dr. X"
    (folder / "card.json").write_text(json.dumps(data))
    card = read_card(folder)
    assert card.extra == {"reviewed_by": "Dr. X"}
    assert card.to_dict()["reviewed_by"] == "Dr. X"


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(4, 4, bias=False)
        self.out = nn.Linear(4, 4, bias=False)
        self.out.weight = self.embed.weight  # tied weights share one tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(x))


def test_shared_tensors_are_saved_once_and_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # the test model is forgotten after

    @registry.register_model("tied_test", task="multiclass", default_target_layer=None, input_channels=4,
                             default_image_size=1, description="test only")
    def tied(*, num_classes: int, in_channels: int, pretrained: Any) -> nn.Module:
        return _Tied()

    model = create_model("tied_test")
    folder = save_bundle(tmp_path / "tied", model, ModelCard.for_model(model, "tied"))
    with safe_open(str(folder / "weights.safetensors"), framework="pt") as handle:
        assert list(handle.keys()) == ["embed.weight"]
    loaded, _ = load_bundle(folder)
    assert torch.equal(loaded.out.weight, loaded.embed.weight)
    x = torch.randn(2, 4)
    assert torch.equal(loaded(x), model(x))


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    model = create_model("tiny_cnn", num_classes=2, pretrained=False)
    return save_bundle(tmp_path / "bundle", model, ModelCard.for_model(model, "tiny"))


def _edit_card(folder: Path, **changes: Any) -> None:
    data = json.loads((folder / "card.json").read_text())
    data.update(changes)
    (folder / "card.json").write_text(json.dumps(data))


def test_missing_folder_and_files(tmp_path: Path, bundle: Path) -> None:
    with pytest.raises(BundleError, match="folder does not exist"):
        load_bundle(tmp_path / "nowhere")
    (bundle / "weights.safetensors").unlink()
    with pytest.raises(BundleError, match=r"missing weights.safetensors"):
        load_bundle(bundle)
    (bundle / "card.json").unlink()
    with pytest.raises(BundleError, match=r"missing card.json"):
        load_bundle(bundle)
    loose = tmp_path / "weights.safetensors"
    loose.write_bytes(b"x")
    with pytest.raises(BundleError, match="a model bundle is a folder"):
        load_bundle(loose)


def test_malformed_json_and_bad_fields(bundle: Path) -> None:
    (bundle / "card.json").write_text('{"name": "x", "architecture": ')
    with pytest.raises(BundleError, match=r"card.json is not valid JSON: .* line 1 column"):
        load_bundle(bundle)
    (bundle / "card.json").write_text("[1, 2]")
    with pytest.raises(BundleError, match="must hold a JSON object"):
        load_bundle(bundle)
    (bundle / "card.json").write_text(json.dumps({"format_version": 1, "name": "x"}))
    with pytest.raises(BundleError, match="'architecture' missing"):
        load_bundle(bundle)
    (bundle / "card.json").write_text(json.dumps({"format_version": 1, "name": "x", "architecture": "tiny_cnn",
                                                  "classes": "a,b"}))
    with pytest.raises(BundleError, match="'classes' has the wrong type"):
        load_bundle(bundle)


def test_unknown_architecture_and_bad_kwargs(bundle: Path) -> None:
    _edit_card(bundle, architecture="vit_huge")
    with pytest.raises(BundleError, match=r"unknown architecture 'vit_huge'.*tiny_cnn"):
        load_bundle(bundle)
    _edit_card(bundle, architecture="tiny_cnn", model_kwargs={"num_classes": 2, "dropout": 0.3})
    with pytest.raises(BundleError, match=r"model_kwargs do not fit architecture tiny_cnn.*dropout"):
        load_bundle(bundle)


def test_newer_format_version_is_refused(bundle: Path) -> None:
    _edit_card(bundle, format_version=BUNDLE_FORMAT_VERSION + 1)
    with pytest.raises(BundleError, match=f"format version {BUNDLE_FORMAT_VERSION + 1} is newer"):
        load_bundle(bundle)
    _edit_card(bundle, format_version="one")
    with pytest.raises(BundleError, match="format_version must be a positive integer"):
        load_bundle(bundle)


def test_weights_that_do_not_match_the_architecture(bundle: Path) -> None:
    _edit_card(bundle, model_kwargs={"num_classes": 5, "in_channels": 3, "width": 8})
    with pytest.raises(BundleError, match=r"weights do not match architecture tiny_cnn: missing none; "
                                          r"unexpected none; wrong shape fc\.bias \(2,\) != \(5,\)"):
        load_bundle(bundle)
    _edit_card(bundle, architecture="tiny_unet", model_kwargs={})
    with pytest.raises(BundleError, match=r"weights do not match architecture tiny_unet: missing bottleneck.*"
                                          r"unexpected fc\.bias, fc\.weight, features\.bn1.*\(\+\d+ more\)"):
        load_bundle(bundle)


def test_corrupt_safetensors(bundle: Path) -> None:
    (bundle / "weights.safetensors").write_bytes(b"\x00\x01garbage")
    with pytest.raises(BundleError, match=r"weights.safetensors cannot be read"):
        load_bundle(bundle)


def test_pickle_files_are_refused(tmp_path: Path) -> None:
    model = create_model("tiny_cnn", pretrained=False)
    pt = tmp_path / "model.pth"
    torch.save(model.state_dict(), pt)
    with pytest.raises(BundleError, match="pickle files are not loaded; export weights as safetensors"):
        load_bundle(pt)
    folder = tmp_path / "from_elsewhere"
    folder.mkdir()
    torch.save(model, folder / "model.pt")
    with pytest.raises(BundleError, match="pickle files are not loaded") as info:
        load_bundle(folder)
    assert info.value.path == folder / "model.pt"


def test_save_refuses_a_card_that_does_not_describe_the_model(tmp_path: Path) -> None:
    model = create_model("tiny_cnn", pretrained=False)
    with pytest.raises(BundleError, match="card says architecture 'tiny_unet' but the model is 'tiny_cnn'"):
        save_bundle(tmp_path / "b", model, ModelCard(name="x", architecture="tiny_unet"))
    with pytest.raises(BundleError, match="not JSON-serialisable"):
        save_bundle(tmp_path / "b", model, ModelCard.for_model(model, "x", config={"device": torch.device("cpu")}))
    assert not (tmp_path / "b").exists()
    with pytest.raises(BundleError, match=r"was not made by training.models.create_model"):
        ModelCard.for_model(nn.Linear(1, 1), "x")
