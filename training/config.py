"""Training configuration: one dataclass, paper recipes as named presets.

Every hyper-parameter the papers lost (paper A: kernel/pool sizes, learning rate, batch ratio,
L2 weight, plateau patience) is a field here with a sound default, and the model card records
the values used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

TASKS = ("binary", "stage3", "segmentation", "instance")


@dataclass(frozen=True)
class TrainConfig:
    task: str = "binary"  # binary ROP yes/no | stage3 (stages 1-3) | segmentation (line mask) | instance (Mask R-CNN)
    architecture: str = "rop_base_cnn"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    preset: str = "paper_a"
    preset_overrides: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 32
    optimizer: str = "adam"  # adam | sgd
    lr: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 0.0
    l2: float = 1e-4  # paper A: L2 on the dense layers (value lost in the paper)
    plateau_factor: float = 0.8  # paper A: LR x0.8 when validation loss stalls
    plateau_patience: int = 3  # lost in paper A
    early_stopping_patience: int | None = 10  # paper B: 10 epochs on validation loss
    class_weighted: bool = True  # paper A: class-weighted cross-entropy
    positive_fraction: float | None = 0.5  # paper A: positives per batch (ratio lost); None = plain shuffling
    oversample_stage1: int = 1  # paper B: x5 by edge crop 0-5 % and zoom 100-110 %
    mask_channel: str = "true"  # hybrid input's mask at training time: "true" (reference masks) | "none"
    target_sensitivity: float = 0.95  # binary operating threshold chosen on validation data
    split_ratios: tuple[float, float, float] = (0.6, 0.3, 0.1)  # train, test, val (paper B)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # mixed precision on CUDA only
    channels_last: bool = True  # on CUDA only
    num_workers: int = 0
    init: str = "auto"  # auto (pretrained if in cache) | random | path to a pretrained file | bundle:<dir>
    max_batches_per_epoch: int | None = None  # smoke runs and tests
    checkpoint_every: int = 1  # epochs
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {', '.join(TASKS)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if self.optimizer not in ("adam", "sgd", "adamw"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}")
        if self.lr <= 0:
            raise ValueError("the learning rate must be positive")

    def with_(self, **changes: Any) -> "TrainConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["split_ratios"] = list(self.split_ratios)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        values = dict(data)
        if "split_ratios" in values:
            values["split_ratios"] = tuple(values["split_ratios"])
        return cls(**values)


#: The papers' recipes and the laptop defaults. ``recipe(name, **overrides)`` returns a copy.
RECIPES: dict[str, TrainConfig] = {
    # Paper A: binary ROP, 300x300 RGB, Adam, LR x0.8 on plateau, ~25-30 epochs, batch 32/64.
    "paper_a_base": TrainConfig(task="binary", architecture="rop_base_cnn", preset="paper_a",
                                epochs=30, batch_size=32, optimizer="adam", lr=1e-4),
    "paper_a_res": TrainConfig(task="binary", architecture="rop_res_cnn", preset="paper_a",
                               epochs=25, batch_size=32, optimizer="adam", lr=1e-4, l2=0.0),
    # Paper B: Mask R-CNN line segmenter, SGD lr 0.002 momentum 0.9 batch 1.
    "paper_b_maskrcnn": TrainConfig(task="instance", architecture="maskrcnn_line", preset="paper_b",
                                    epochs=30, batch_size=1, optimizer="sgd", lr=0.002, momentum=0.9,
                                    class_weighted=False, positive_fraction=None, l2=0.0),
    # Paper B: Inception v3 on gray + line mask (hybrid) / gray only (classifier-only), Adam lr 0.005,
    # batch 32, early stopping patience 10, stage-1 oversampling x5.
    "paper_b_hybrid": TrainConfig(task="stage3", architecture="hybrid", preset="paper_b",
                                  preset_overrides={"mask_channel": True}, epochs=100, batch_size=32,
                                  optimizer="adam", lr=0.005, early_stopping_patience=10,
                                  oversample_stage1=5, positive_fraction=None, l2=0.0),
    "paper_b_classifier": TrainConfig(task="stage3", architecture="stage_classifier", preset="paper_b",
                                      epochs=100, batch_size=32, optimizer="adam", lr=0.005,
                                      early_stopping_patience=10, oversample_stage1=5,
                                      positive_fraction=None, l2=0.0, mask_channel="none"),
    # Laptop defaults (CPU): small models, fewer epochs.
    "fast_binary": TrainConfig(task="binary", architecture="resnet18_cls", preset="fast", epochs=15,
                               batch_size=16, optimizer="adam", lr=3e-4, l2=0.0),
    "fast_line": TrainConfig(task="segmentation", architecture="unet_small", preset="segmentation",
                             epochs=40, batch_size=4, optimizer="adam", lr=1e-3, l2=0.0,
                             class_weighted=False, positive_fraction=None),
}


def recipe(name: str, **overrides: Any) -> TrainConfig:
    try:
        base = RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}") from None
    return base.with_(**overrides)
