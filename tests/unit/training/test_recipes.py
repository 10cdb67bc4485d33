"""The recipes: the README's table is generated from them; the measured defaults are what the CLI uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from training.config import (
    DEFAULT_RECIPES,
    DEFAULT_SPLIT_RATIOS,
    PAPER_B_SPLIT_RATIOS,
    RECIPES,
    TrainConfig,
    recipe,
    recipe_table,
)
from training.presets import get_preset

README = Path(__file__).resolve().parents[3] / "training" / "README.md"


def test_readme_recipe_table_is_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- recipe-table:begin[^>]*-->\n(.*?)<!-- recipe-table:end -->", text, re.S)
    assert found, "training/README.md has no generated recipe table"
    assert found.group(1) == recipe_table(), "regenerate the table with training.config.recipe_table()"


def test_every_recipe_names_its_model_and_preset() -> None:
    table = recipe_table()
    for name, config in RECIPES.items():
        assert f"| {name} " in table or f"**{name}**" in table
        assert f"| {config.architecture} |" in table
        get_preset(config.preset, **config.preset_overrides)  # a valid preset


def test_the_line_default_is_the_measured_cpu_recipe() -> None:
    line = recipe(DEFAULT_RECIPES["segmentation"])
    preset = get_preset(line.preset, **line.preset_overrides)
    assert (line.architecture, line.batch_size, line.lr) == ("unet_small", 2, 2e-3)
    assert (preset.image_size, preset.color, preset.normalize, preset.fov_mask) == (320, "paper_b", "standardize", True)
    assert line.class_weighted and line.lr_schedule == "cosine"


def test_validation_split_is_at_least_a_fifth_except_paper_b() -> None:
    assert TrainConfig().split_ratios == DEFAULT_SPLIT_RATIOS and DEFAULT_SPLIT_RATIOS[2] >= 0.2
    for name, config in RECIPES.items():
        expected = PAPER_B_SPLIT_RATIOS if name.startswith("paper_b") else DEFAULT_SPLIT_RATIOS
        assert config.split_ratios == expected, name


def test_mask_rcnn_recipe_is_rgb_normalised_once_and_tamed_from_scratch() -> None:
    config = recipe("paper_b_maskrcnn")
    preset = get_preset(config.preset, **config.preset_overrides)
    assert preset.in_channels == 3 and preset.normalize == "unit"  # Mask R-CNN normalises itself
    assert config.warmup_batches > 0 and config.grad_clip and config.lr_from_scratch < config.lr


@pytest.mark.parametrize("bad", [{"lr_schedule": "step"}, {"max_minutes": 0}, {"divergence_lr_factor": 1.0},
                                 {"warmup_batches": -1}, {"lr_from_scratch": 0.0}])
def test_config_refuses_bad_schedule_settings(bad: dict) -> None:
    with pytest.raises(ValueError):
        TrainConfig(**bad)


def test_only_the_line_first_binary_recipe_drops_masks() -> None:
    # fast_binary_line is fed a line model's masks in use: half its training masks are emptied or cut
    assert recipe("fast_binary_line").mask_dropout == 0.5
    assert TrainConfig().mask_dropout == 0.0
    assert all(c.mask_dropout == 0.0 for name, c in RECIPES.items() if name != "fast_binary_line")


def test_with_a_line_model_the_binary_default_is_line_first() -> None:
    from training.cli import build_config, build_parser

    def config(*extra: str) -> TrainConfig:
        return build_config(build_parser().parse_args(["train", "--snapshot", "snap", "--task", "binary", *extra]))

    assert config() == recipe("fast_binary")  # no line model: image-only
    assert config("--line-bundle", "runs/line/bundle") == recipe("fast_binary_line")
    assert config("--line-bundle", "runs/line/bundle", "--arch", "resnet18_cls").architecture == "resnet18_cls"
