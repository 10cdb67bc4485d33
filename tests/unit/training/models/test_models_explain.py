"""Grad-CAM (cross-checked against captum) and feature maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

from training.explain import (
    ExplainError,
    GradCAM,
    default_target_layer,
    feature_grid,
    feature_maps,
    get_layer,
    list_layers,
)
from training.models import create_model


def _captum_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: torch.Tensor | int) -> np.ndarray:
    """captum's LayerGradCam, upsampled and min-max normalised per image like ``GradCAM``."""
    attr = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
    attr = LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), interpolate_mode="bilinear")[:, 0].detach()
    flat = attr.reshape(attr.shape[0], -1)
    lo, hi = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    return ((attr - lo) / (hi - lo)).numpy()


@pytest.mark.parametrize(
    "name,kwargs,size",
    [("rop_base_cnn", {"image_size": 96}, 96), ("tiny_cnn", {"num_classes": 3}, 40), ("resnet18_cls", {}, 64)],
)
def test_gradcam_equals_captum(name: str, kwargs: dict, size: int) -> None:
    torch.manual_seed(0)
    model = create_model(name, pretrained=False, **kwargs).eval()
    x = torch.randn(3, 3, size, size)
    with torch.no_grad():
        logits = model(x)
    captum_target = 0 if logits.shape[1] == 1 else logits.argmax(dim=1)
    expected = _captum_cam(model, get_layer(model, default_target_layer(model)), x, captum_target)
    with GradCAM(model) as cam:
        saliency = cam(x)
    assert saliency.shape == (3, size, size) and saliency.dtype == np.float32
    assert saliency.min() == 0.0 and np.allclose(saliency.max(axis=(1, 2)), 1.0)
    np.testing.assert_allclose(saliency, expected, atol=1e-5)
    assert torch.allclose(cam.last_logits, logits)


def test_gradcam_explicit_targets_and_module_layer() -> None:
    torch.manual_seed(1)
    model = create_model("tiny_cnn", num_classes=3, pretrained=False).eval()
    x = torch.randn(2, 3, 32, 32)
    targets = torch.tensor([2, 0])
    expected = _captum_cam(model, model.features.conv2, x, targets)
    with GradCAM(model, model.features.conv2) as cam:
        np.testing.assert_allclose(cam(x, target=[2, 0]), expected, atol=1e-5)
        assert cam(x, target=1).shape == (2, 32, 32)
        with pytest.raises(ExplainError, match=r"out of range 0..2"):
            cam(x, target=3)
        with pytest.raises(ExplainError, match="one per image"):
            cam(x, target=[0, 1, 2])


def test_gradcam_leaves_the_model_as_it_was() -> None:
    model = create_model("tiny_cnn", pretrained=False)
    for p in model.parameters():
        p.requires_grad_(False)  # a frozen model still gets a saliency
    model.train()
    cam = GradCAM(model)
    saliency = cam(torch.randn(1, 3, 32, 32))
    assert saliency.max() == pytest.approx(1.0)
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())
    cam.close()
    assert not any(m._forward_hooks for m in model.modules())
    with pytest.raises(ExplainError, match="closed"):
        cam(torch.randn(1, 3, 32, 32))


def test_gradcam_on_inception_at_paper_b_layer() -> None:
    model = create_model("hybrid", pretrained=False, aux_logits=True).train()
    with GradCAM(model, "Mixed_6e") as cam:  # Mixed_7c is 1x1 at test sizes; Mixed_6e is 4x4
        saliency = cam(torch.randn(2, 2, 96, 96))
    assert saliency.shape == (2, 96, 96) and model.training
    assert np.isfinite(saliency).all() and saliency.max() <= 1.0


def test_gradcam_refuses_what_it_cannot_explain() -> None:
    model = create_model("tiny_unet", pretrained=False)
    with pytest.raises(ExplainError, match=r"did you mean.*features\.conv1"):
        GradCAM(create_model("tiny_cnn", pretrained=False), "features.conv")
    with GradCAM(model) as cam, pytest.raises(ExplainError, match="classifier returning"):
        cam(torch.randn(1, 3, 32, 32))
    with pytest.raises(ExplainError, match="no default target layer"):
        GradCAM(nn.Sequential(nn.Conv2d(1, 1, 3)))


def test_feature_maps_shapes_and_values() -> None:
    model = create_model("rop_base_cnn", image_size=300, pretrained=False)
    x = torch.rand(2, 3, 300, 300)
    maps = feature_maps(model, x, ["features.conv1", "features.pool2"])
    assert maps["features.conv1"].shape == (32, 149, 149)
    assert maps["features.pool2"].shape == (64, 18, 18)
    with torch.no_grad():
        first = model.eval().features.conv1(x[:1])[0].numpy()
    np.testing.assert_allclose(maps["features.conv1"], first, rtol=1e-5, atol=1e-6)
    assert not any(m._forward_hooks for m in model.modules())
    with pytest.raises(ExplainError, match="no layer"):
        feature_maps(model, x, ["features.conv9"])


def test_feature_maps_are_copied_before_inplace_relu() -> None:
    model = create_model("resnet18_cls", pretrained=False)  # torchvision's ReLU(inplace=True) follows bn1
    maps = feature_maps(model, torch.randn(1, 3, 64, 64), ["bn1"])
    assert (maps["bn1"] < 0).any()


def test_feature_grid_orders_strongest_channels() -> None:
    maps = np.zeros((20, 4, 5), dtype=np.float32)
    for c in range(20):
        maps[c] = c
        maps[c, 0, 0] = 0  # each channel has contrast
    grid = feature_grid(maps, max_channels=16)
    assert grid.dtype == np.uint8 and grid.shape == (4 * 4 + 3, 4 * 5 + 3)
    assert grid[0, 0] == 0 and grid[1, 1] == 255  # the strongest channel (19) first, scaled to 0..255
    assert grid[4, :].max() == 0  # 1 px gap between rows
    assert feature_grid(maps[:3], max_channels=16).shape == (2 * 4 + 1, 2 * 5 + 1)
    assert feature_grid(np.ones((1, 3, 3), np.float32)).max() == 0  # a constant map has no contrast
    with pytest.raises(ExplainError, match=r"\(C, h, w\)"):
        feature_grid(np.zeros((4, 4)))


def test_list_layers_names_convolutions_in_order() -> None:
    model = create_model("rop_base_cnn", image_size=64, pretrained=False)
    assert list_layers(model) == ["features.conv1", "features.conv2"]
    assert list_layers(model, kinds=(nn.Linear,)) == ["classifier.dense1", "classifier.dense2", "classifier.logit"]
