"""Training configuration: one dataclass, paper recipes and the measured CPU defaults as named recipes.

Every hyper-parameter the papers lost (paper A: kernel/pool sizes, learning rate, batch ratio,
L2 weight, plateau patience) is a field here with a sound default, and the model card records
the values used. The README's recipe table is generated from :data:`RECIPES` by
:func:`recipe_table` (a test compares them), never typed by hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

TASKS = ("binary", "stage3", "segmentation", "instance")
LR_SCHEDULES = ("plateau", "cosine")
#: Default (train, test, val) split: at least a fifth of the patients validate (thresholds need them).
DEFAULT_SPLIT_RATIOS: tuple[float, float, float] = (0.6, 0.2, 0.2)
#: Paper B's 6:3:1 (train, test, val), kept by paper B's recipes.
PAPER_B_SPLIT_RATIOS: tuple[float, float, float] = (0.6, 0.3, 0.1)


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
    mask_dropout: float = 0.0  # hybrids: share of training samples whose mask is emptied / partly erased
    target_sensitivity: float = 0.95  # binary operating threshold chosen on validation data
    threshold_rule: str = (
        "tolerance"  # tolerance: binormal lower bound with a margin | empirical (training.metrics.operating_point)
    )
    threshold_confidence: float = 0.9  # tolerance rule: confidence that target_sensitivity of all ROP images lie above
    threshold_min_specificity: float | None = (
        0.9  # tolerance rule: the margin never costs validation specificity below this
    )
    split_ratios: tuple[float, float, float] = DEFAULT_SPLIT_RATIOS  # train, test, val (by patient)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # mixed precision on CUDA only
    channels_last: bool = True  # on CUDA only
    num_workers: int = 0
    init: str = "auto"  # auto (pretrained if in cache) | random | path to a pretrained file | bundle:<dir>
    max_batches_per_epoch: int | None = None  # smoke runs and tests
    checkpoint_every: int = 1  # epochs
    grad_clip: float | None = None  # clip the gradient norm to this (None: no clipping)
    max_minutes: float | None = None  # wall-clock budget: training stops in time, the best weights are kept
    lr_schedule: str = "plateau"  # plateau: x plateau_factor when validation loss stalls | cosine: anneal over the run
    min_lr_fraction: float = 0.01  # cosine: the last learning rate is lr x this
    warmup_batches: int = 0  # linear learning-rate warm-up over the first batches of the run
    lr_from_scratch: float | None = None  # learning rate when the model starts from random weights (None: lr)
    divergence_retries: int = 3  # non-finite loss: back to the last good state with a lower LR, this many times
    divergence_lr_factor: float = 0.1  # ... the learning rate multiplied by this on every retry
    ema_decay: float | None = None  # per-step decay of a weights + BatchNorm average validated, kept and saved

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {', '.join(TASKS)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if self.optimizer not in ("adam", "sgd", "adamw"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}")
        if self.lr <= 0 or (self.lr_from_scratch is not None and self.lr_from_scratch <= 0):
            raise ValueError("the learning rate must be positive")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; expected one of {', '.join(LR_SCHEDULES)}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be positive, got {self.max_minutes}")
        if not 0.0 <= self.min_lr_fraction <= 1.0 or not 0.0 < self.divergence_lr_factor < 1.0:
            raise ValueError("min_lr_fraction must be in [0, 1] and divergence_lr_factor in (0, 1)")
        if self.threshold_rule not in ("tolerance", "empirical"):
            raise ValueError(f"unknown threshold_rule {self.threshold_rule!r}; expected tolerance or empirical")
        if self.warmup_batches < 0 or self.divergence_retries < 0:
            raise ValueError("warmup_batches and divergence_retries must be 0 or more")
        if not 0.0 <= self.mask_dropout <= 1.0:
            raise ValueError(f"mask_dropout must be between 0 and 1, got {self.mask_dropout}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be between 0 and 1 (exclusive), got {self.ema_decay}")

    def with_(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["split_ratios"] = list(self.split_ratios)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
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
    "paper_a_base": TrainConfig(
        task="binary",
        architecture="rop_base_cnn",
        preset="paper_a",
        epochs=30,
        batch_size=32,
        optimizer="adam",
        lr=1e-4,
    ),
    "paper_a_res": TrainConfig(
        task="binary",
        architecture="rop_res_cnn",
        preset="paper_a",
        epochs=25,
        batch_size=32,
        optimizer="adam",
        lr=1e-4,
        l2=0.0,
    ),
    # Paper B: Mask R-CNN line segmenter, SGD lr 0.002 momentum 0.9 batch 1 (COCO-pretrained). From random
    # weights that learning rate diverges: warm-up, gradient clipping and a lower rate (lr_from_scratch).
    # RGB in [0, 1]: Mask R-CNN normalises its input itself.
    "paper_b_maskrcnn": TrainConfig(
        task="instance",
        architecture="maskrcnn_line",
        preset="segmentation",
        preset_overrides={"image_size": 512},
        epochs=30,
        batch_size=1,
        optimizer="sgd",
        lr=0.002,
        lr_from_scratch=5e-4,
        momentum=0.9,
        warmup_batches=100,
        grad_clip=5.0,
        class_weighted=False,
        positive_fraction=None,
        l2=0.0,
        split_ratios=PAPER_B_SPLIT_RATIOS,
    ),
    # Paper B: Inception v3 on gray + line mask (hybrid) / gray only (classifier-only), Adam lr 0.005,
    # batch 32, early stopping patience 10, stage-1 oversampling x5.
    "paper_b_hybrid": TrainConfig(
        task="stage3",
        architecture="hybrid",
        preset="paper_b",
        preset_overrides={"mask_channel": True},
        epochs=100,
        batch_size=32,
        optimizer="adam",
        lr=0.005,
        early_stopping_patience=10,
        oversample_stage1=5,
        positive_fraction=None,
        l2=0.0,
        split_ratios=PAPER_B_SPLIT_RATIOS,
    ),
    "paper_b_classifier": TrainConfig(
        task="stage3",
        architecture="stage_classifier",
        preset="paper_b",
        epochs=100,
        batch_size=32,
        optimizer="adam",
        lr=0.005,
        early_stopping_patience=10,
        oversample_stage1=5,
        positive_fraction=None,
        l2=0.0,
        mask_channel="none",
        split_ratios=PAPER_B_SPLIT_RATIOS,
    ),
    # Laptop defaults (CPU): small models. Binary: ResNet-18 from scratch on paper B's contrast grey at
    # 320 px (the demarcation line stays a few pixels wide; RGB at 224 px reached AUROC 0.85 only),
    # paper A's ratio batches and class weighting, lr 1e-3 annealed over the run or its --minutes.
    "fast_binary": TrainConfig(
        task="binary",
        architecture="resnet18_cls",
        preset="paper_b",
        preset_overrides={"image_size": 320, "hflip": 0.5, "vflip": 0.5},
        epochs=60,
        batch_size=16,
        optimizer="adam",
        lr=1e-3,
        lr_schedule="cosine",
        early_stopping_patience=None,
        l2=0.0,
    ),
    # The measured best CPU line recipe (benchmarks/training_bench.py segment, HVDROPDB ridge masks):
    # 320 px letterbox, paper B's contrast colour inside the field of view, batch 2, lr 2e-3 annealed
    # (cosine) over the run or its --minutes budget, line pixels up-weighted in BCE + soft Dice.
    "fast_line": TrainConfig(
        task="segmentation",
        architecture="unet_small",
        preset="line",
        epochs=60,
        batch_size=2,
        optimizer="adam",
        lr=2e-3,
        l2=0.0,
        lr_schedule="cosine",
        early_stopping_patience=None,
        class_weighted=True,
        positive_fraction=None,
    ),
    # Paper A's question, line-first: fast_binary's network and schedule on grey + the line mask (trained on
    # the reference masks; validated and tested on fast_line's predicted masks with --line-bundle).
    # mask_dropout 0.5: trained on complete reference lines only, the hybrid read "line in the mask => ROP"
    # and scored a stage-1 eye whose line the line model found in part 0.01. Half the training samples
    # get an emptied or partly erased mask (training.data.mask_dropout), so the image must carry the
    # answer as often as the mask does; the other half keep the complete line, which the line model
    # finds on most images. 0.5 is the usual modality-dropout rate, set before the run, not tuned.
    "fast_binary_line": TrainConfig(
        task="binary",
        architecture="resnet18_hybrid",
        preset="paper_b",
        preset_overrides={"image_size": 320, "mask_channel": True, "hflip": 0.5, "vflip": 0.5},
        epochs=60,
        batch_size=16,
        optimizer="adam",
        lr=1e-3,
        lr_schedule="cosine",
        early_stopping_patience=None,
        l2=0.0,
        mask_dropout=0.5,
    ),
    # Paper B's line-first idea on a CPU: a small classifier on grey + the line mask (from fast_line's
    # U-Net at prediction time), and the same classifier without the mask (classifier-only).
    "fast_hybrid": TrainConfig(
        task="stage3",
        architecture="resnet18_hybrid",
        preset="paper_b",
        preset_overrides={"image_size": 224, "mask_channel": True, "hflip": 0.5, "vflip": 0.5},
        epochs=30,
        batch_size=16,
        optimizer="adam",
        lr=1e-3,
        lr_schedule="cosine",
        early_stopping_patience=None,
        oversample_stage1=5,
        positive_fraction=None,
        l2=0.0,
    ),
    "fast_stage": TrainConfig(
        task="stage3",
        architecture="resnet18_cls",
        preset="paper_b",
        preset_overrides={"image_size": 224, "hflip": 0.5, "vflip": 0.5},
        epochs=30,
        batch_size=16,
        optimizer="adam",
        lr=1e-3,
        lr_schedule="cosine",
        early_stopping_patience=None,
        oversample_stage1=5,
        positive_fraction=None,
        l2=0.0,
        mask_channel="none",
    ),
}
#: The recipe a task starts from when none is named (``rop-train train --task T``, the app's CPU default).
DEFAULT_RECIPES: dict[str, str] = {
    "binary": "fast_binary",
    "stage3": "fast_stage",
    "segmentation": "fast_line",
    "instance": "paper_b_maskrcnn",
}

#: The default when a line model is given (``rop-train train --task T --line-bundle DIR``): line-first
#: beat image-only at the operating point on the synthetic study (training/README.md, *Benchmarks*).
LINE_FIRST_RECIPES: dict[str, str] = {"binary": "fast_binary_line"}


def recipe(name: str, **overrides: Any) -> TrainConfig:
    try:
        base = RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}") from None
    return base.with_(**overrides)


def recipe_table() -> str:
    """The README's recipe table (Markdown), generated from :data:`RECIPES` and their presets."""
    from training.presets import get_preset

    defaults = {name: task for task, name in DEFAULT_RECIPES.items()}
    line_first = {name: task for task, name in LINE_FIRST_RECIPES.items()}
    lines = [
        "| recipe | task | model | input | epochs | batch | optimiser, lr | schedule | class weighting "
        "| split train/test/val |",
        "| --- | --- | --- | --- | ---: | ---: | --- | --- | --- | --- |",
    ]
    for name, c in RECIPES.items():
        preset = get_preset(c.preset, **c.preset_overrides)
        colour = {"rgb": "RGB", "gray": "grey", "paper_b": "paper-B grey"}[preset.color]
        mask = ["+ line mask" + (f" (dropout {c.mask_dropout:g})" if c.mask_dropout else "")]
        extras = [colour] + (mask if preset.mask_channel else []) + (["FOV"] if preset.fov_mask else [])
        lr = f"{c.optimizer} {c.lr:g}" + (f" ({c.lr_from_scratch:g} from scratch)" if c.lr_from_scratch else "")
        schedule = "cosine" if c.lr_schedule == "cosine" else f"x{c.plateau_factor:g} on plateau"
        if c.warmup_batches:
            schedule += f", warm-up {c.warmup_batches}"
        if c.grad_clip:
            schedule += f", clip {c.grad_clip:g}"
        weighting = ("yes" if c.class_weighted else "no") + (
            f", batches {c.positive_fraction:g} positive"
            if c.positive_fraction is not None and c.task == "binary"
            else ""
        )
        label = f"**{name}** (default {defaults[name]})" if name in defaults else name
        if name in line_first:
            label = f"**{name}** (default {line_first[name]} with a line model)"
        split = "/".join(f"{r:g}" for r in c.split_ratios)
        lines.append(
            f"| {label} | {c.task} | {c.architecture} | {preset.image_size} px {' '.join(extras)} "
            f"| {c.epochs} | {c.batch_size} | {lr} | {schedule} | {weighting} | {split} |"
        )
    return "\n".join(lines) + "\n"
