"""The model registry: every architecture builds and keeps its documented output contract."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models import InceptionOutputs

from training.models import (
    ModelError,
    create_model,
    layer_table,
    list_models,
    main_logits,
    model_info,
    seg_only_stage,
)
from training.models.origin import ModelOrigin, origin_of, set_pretrained_source

TINY_DETECTION = {"min_size": 64, "max_size": 64, "pretrained": False}

# name -> (create kwargs, input shape (N, C, H, W), expected eval output shape)
CLASSIFIERS = {
    "rop_base_cnn": ({"image_size": 64}, (2, 3, 64, 64), (2, 1)),
    "rop_res_cnn": ({}, (2, 3, 64, 64), (2, 1)),
    "stage_classifier": ({}, (2, 1, 80, 80), (2, 3)),
    "hybrid": ({}, (2, 2, 80, 80), (2, 3)),
    "resnet18_cls": ({"num_classes": 4, "in_channels": 1}, (2, 1, 48, 48), (2, 4)),
    "resnet18_hybrid": ({}, (2, 2, 48, 48), (2, 3)),
    "mobilenetv3_cls": ({"variant": "small"}, (2, 3, 48, 48), (2, 1)),
    "tiny_cnn": ({"num_classes": 3, "in_channels": 2}, (2, 2, 32, 32), (2, 3)),
}
SEGMENTERS = {
    "unet_small": ({"in_channels": 1}, (2, 1, 37, 45), (2, 1, 37, 45)),
    "tiny_unet": ({}, (2, 3, 32, 32), (2, 1, 32, 32)),
    "lraspp_line": ({}, (2, 3, 64, 64), (2, 1, 64, 64)),
}
DETECTORS = ("maskrcnn_line", "seg_only_baseline")


def test_every_registered_model_is_covered_by_a_shape_test() -> None:
    assert set(list_models()) == set(CLASSIFIERS) | set(SEGMENTERS) | set(DETECTORS)


def test_list_models_filters_by_task() -> None:
    assert set(list_models("instance_segmentation")) == set(DETECTORS)
    assert set(list_models("segmentation")) == set(SEGMENTERS)
    assert set(list_models("multiclass")) == {"stage_classifier", "hybrid", "resnet18_hybrid"}
    with pytest.raises(ModelError, match="unknown task"):
        list_models("regression")  # type: ignore[arg-type]


def test_model_info_describes_the_papers_models() -> None:
    base = model_info("rop_base_cnn")
    assert (base.task, base.default_image_size, base.input_channels, base.paper_exact) == ("binary", 300, 3, True)
    assert any("lost" in note for note in base.notes)
    assert model_info("hybrid").input_channels == 2 and model_info("hybrid").default_num_classes == 3
    assert model_info("maskrcnn_line").default_num_classes == 2
    assert model_info("tiny_cnn").cpu_friendly and not model_info("tiny_cnn").paper_exact
    assert "variant" in model_info("mobilenetv3_cls").accepted_kwargs()


@pytest.mark.parametrize("name", sorted(CLASSIFIERS) + sorted(SEGMENTERS))
def test_model_builds_and_gives_documented_output_shape(name: str) -> None:
    kwargs, shape, expected = {**CLASSIFIERS, **SEGMENTERS}[name]
    model = create_model(name, pretrained=False, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.randn(*shape))
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == expected
    assert model.registry_name == name and model.pretrained_source is None
    # model_kwargs re-create the same architecture (same state-dict keys and shapes)
    again = create_model(name, pretrained=False, **model.model_kwargs)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_model_kwargs_record_defaults() -> None:
    model = create_model("unet_small", pretrained=False)
    assert model.model_kwargs == {"num_classes": 1, "in_channels": 3, "base": 16, "depth": 4}


def test_origin_reads_what_create_model_stamped_and_survives_a_copy() -> None:
    model = create_model("maskrcnn_line", **TINY_DETECTION)
    origin = origin_of(copy.deepcopy(model))
    assert origin.registry_name == "maskrcnn_line" and origin.pretrained_source is None
    # the factory's resolved choice (random init: plain BatchNorm, all stages train) is recorded
    assert origin.model_kwargs["frozen_bn"] is False and origin.model_kwargs["trainable_backbone_layers"] == 5
    set_pretrained_source(model, Path("weights.pt"))
    assert origin_of(model).pretrained_source == "weights.pt" == model.pretrained_source
    assert origin_of(nn.Linear(2, 1)) == ModelOrigin()  # built outside the registry: nothing recorded


def test_rop_base_cnn_layer_table_matches_paper_a() -> None:
    model = create_model("rop_base_cnn", pretrained=False)
    rows = [(r.kind, r.output_shape) for r in layer_table(model, (3, 300, 300))]
    assert rows == [
        ("Conv2d", (32, 149, 149)), ("ReLU", (32, 149, 149)), ("MaxPool2d", (32, 74, 74)),
        ("Conv2d", (64, 36, 36)), ("ReLU", (64, 36, 36)), ("MaxPool2d", (64, 18, 18)),
        ("Dropout", (64, 18, 18)), ("Flatten", (64 * 18 * 18,)),
        ("Linear", (128,)), ("ReLU", (128,)), ("Dropout", (128,)),
        ("Linear", (64,)), ("ReLU", (64,)), ("Linear", (1,)),
    ]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(32, (3, 3), (2, 2)), (64, (3, 3), (2, 2))]
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.25, 0.5]


def test_rop_res_cnn_is_paper_a_resnet50() -> None:
    """Paper A's ROPResCNN: a ResNet-50 (stages of 3, 4, 6, 3 bottleneck residual blocks, 64 to 512
    channels expanded 4x), a 7x7/2 stem, global average pooling and one logit from 2048 features."""
    model = create_model("rop_res_cnn", pretrained=False)
    stages = [model.layer1, model.layer2, model.layer3, model.layer4]
    assert [len(stage) for stage in stages] == [3, 4, 6, 3]
    for stage, width in zip(stages, (64, 128, 256, 512), strict=True):
        for block in stage:
            assert [c.kernel_size for c in (block.conv1, block.conv2, block.conv3)] == [(1, 1), (3, 3), (1, 1)]
            assert (block.conv1.out_channels, block.conv3.out_channels) == (width, 4 * width)
        assert stage[0].downsample is not None  # the projection shortcut of each stage's first block
    assert (model.conv1.in_channels, model.conv1.kernel_size, model.conv1.stride) == (3, (7, 7), (2, 2))
    assert isinstance(model.avgpool, nn.AdaptiveAvgPool2d) and model.avgpool.output_size == (1, 1)
    assert (model.fc.in_features, model.fc.out_features) == (2048, 1)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 1 + 3 * 16 + 4  # stem, 16 blocks, 4 shortcuts
    features: dict[str, torch.Tensor] = {}
    model.layer1[0].register_forward_hook(lambda _m, inputs, _output: features.update(x=inputs[0]))
    model.eval()(torch.zeros(1, 3, 64, 64))
    # a residual block adds its input (projected) to its branch: zero the branch and the shortcut remains
    block = model.layer1[0]
    with torch.no_grad():
        block.bn3.weight.zero_()
        block.bn3.bias.zero_()
        assert torch.allclose(block(features["x"]), torch.relu(block.downsample(features["x"])))
    gray = create_model("rop_res_cnn", pretrained=False, in_channels=1)
    assert gray.conv1.in_channels == 1 and gray.conv1.kernel_size == (7, 7)


def test_rop_base_cnn_l2_covers_the_two_hidden_dense_layers() -> None:
    model = create_model("rop_base_cnn", pretrained=False, image_size=64, l2_weight=0.01)
    params = model.l2_parameters()
    assert [tuple(p.shape) for p in params] == [(128, model.classifier.dense1.in_features), (64, 128)]
    expected = 0.01 * (params[0].pow(2).sum() + params[1].pow(2).sum())
    assert torch.allclose(model.l2_penalty(), expected)
    model.l2_penalty().backward()
    assert model.classifier.dense1.weight.grad is not None and model.classifier.logit.weight.grad is None


@pytest.mark.parametrize("name", ["stage_classifier", "hybrid"])
def test_inception_with_two_channels_in_train_and_eval(name: str) -> None:
    model = create_model(name, in_channels=2, pretrained=False)
    assert model.Conv2d_1a_3x3.conv.in_channels == 2 and model.transform_input is False
    x = torch.randn(2, 2, 96, 96)
    out = model.train()(x)
    assert isinstance(out, InceptionOutputs)
    assert out.logits.shape == (2, 3) and out.aux_logits.shape == (2, 3)
    assert main_logits(out) is out.logits
    (out.logits.sum() + 0.4 * out.aux_logits.sum()).backward()
    with torch.no_grad():
        assert model.eval()(x).shape == (2, 3)
    no_aux = create_model(name, pretrained=False, aux_logits=False).train()
    assert isinstance(no_aux(torch.randn(2, no_aux.model_kwargs["in_channels"], 80, 80)), torch.Tensor)


@pytest.mark.parametrize("name,classes", [("maskrcnn_line", 2), ("seg_only_baseline", 4)])
def test_mask_rcnn_trains_and_predicts_at_tiny_size(name: str, classes: int) -> None:
    model = create_model(name, **TINY_DETECTION)
    assert model.roi_heads.box_predictor.cls_score.out_features == classes
    assert model.roi_heads.score_thresh == 0.8
    assert model.model_kwargs["frozen_bn"] is False  # random init: plain BatchNorm, all stages train
    image = torch.rand(3, 64, 64)
    mask = torch.zeros(1, 64, 64, dtype=torch.uint8)
    mask[0, 20:30, 10:50] = 1
    target = {"boxes": torch.tensor([[10.0, 20.0, 50.0, 30.0]]), "labels": torch.tensor([1]), "masks": mask}
    losses = model.train()([image, image], [target, target])
    assert {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"} <= set(losses)
    with torch.no_grad():
        (pred,) = model.eval()([image])
    assert set(pred) == {"boxes", "labels", "scores", "masks"}
    assert bool((pred["scores"] >= 0.8).all())


def test_mask_rcnn_resnet101_backbone_and_gray_input() -> None:
    model = create_model("maskrcnn_line", backbone="resnet101", in_channels=1, box_score_thresh=0.0, **TINY_DETECTION)
    assert len(model.backbone.body.layer3) == 23  # ResNet-101
    with torch.no_grad():
        (pred,) = model.eval()([torch.rand(1, 48, 64)])
    assert pred["masks"].shape[1:] == (1, 48, 64)
    with pytest.raises(ModelError, match="backbone must be one of"):
        create_model("maskrcnn_line", backbone="vgg16", **TINY_DETECTION)


def _prediction(labels: list[int], boxes: list[tuple[int, int, int, int]]) -> dict[str, torch.Tensor]:
    masks = torch.zeros(len(labels), 1, 20, 20)
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        masks[i, 0, y0:y1, x0:x1] = 0.9
    return {"labels": torch.tensor(labels, dtype=torch.int64), "masks": masks, "scores": torch.ones(len(labels))}


def test_seg_only_stage_largest_area_wins_and_no_line_is_rop_free() -> None:
    assert seg_only_stage(_prediction([], [])) == 0
    assert seg_only_stage(_prediction([1, 3], [(0, 5, 0, 5), (0, 10, 0, 10)])) == 3
    # two stage-2 detections add up (union) to more than one larger stage-1 detection
    assert seg_only_stage(_prediction([2, 2, 1], [(0, 6, 0, 6), (10, 16, 10, 16), (0, 8, 10, 18)])) == 2
    # overlapping instances of one stage count once (union, not sum)
    assert seg_only_stage(_prediction([2, 2, 1], [(0, 6, 0, 6), (0, 6, 0, 6), (10, 17, 10, 17)])) == 1
    as_numpy = {k: v.numpy() for k, v in _prediction([1], [(0, 3, 0, 3)]).items()}
    assert seg_only_stage(as_numpy) == 1
    assert seg_only_stage({"labels": torch.tensor([2]), "masks": torch.zeros(1, 1, 4, 4)}) == 0


def test_bad_requests_get_precise_errors() -> None:
    with pytest.raises(ModelError, match=r"unknown model 'resnet9000'.*tiny_cnn"):
        create_model("resnet9000")
    with pytest.raises(ModelError, match=r"unknown argument.*depthh.*accepted: base, depth"):
        create_model("tiny_unet", depthh=3)
    with pytest.raises(ModelError, match="num_classes must be >= 1"):
        create_model("tiny_cnn", num_classes=0)
    with pytest.raises(ModelError, match="variant must be"):
        create_model("mobilenetv3_cls", variant="medium", pretrained=False)
