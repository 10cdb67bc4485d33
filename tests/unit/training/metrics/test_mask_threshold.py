"""The line segmenter's mask threshold: the validation split's best cut-off only when it beats 0.5
beyond the bootstrap noise (training.metrics.choose_mask_threshold)."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import MetricsInputError, choose_mask_threshold


def _image(rng: np.random.Generator, line: float, background: float, jitter: float) -> tuple[np.ndarray, np.ndarray]:
    """A 32x32 image with a horizontal line; the model's probability is ``line`` on it and
    ``background`` off it, plus noise."""
    truth = np.zeros((32, 32), np.uint8)
    truth[14:18, 4:28] = 1
    prob = np.where(truth > 0, line, background) + rng.normal(0.0, jitter, truth.shape)
    return np.clip(prob, 0.0, 1.0).astype(np.float32), truth


def test_a_clear_gain_moves_the_threshold() -> None:
    # The background sits at 0.6: cutting at 0.5 marks it all, 0.7 and above keeps the line only.
    rng = np.random.default_rng(0)
    pairs = [_image(rng, 0.95, 0.6, 0.02) for _ in range(8)]
    choice = choose_mask_threshold(pairs)
    assert choice.best >= 0.7 and choice.threshold == choice.best and choice.gain_low > 0.5
    at_half = dict(zip(choice.thresholds, choice.mean_dice_per_threshold, strict=True))[0.5]
    assert choice.mean_dice > 0.95 > at_half
    assert "beyond the bootstrap noise" in choice.describe()


def test_a_noisy_best_of_19_on_8_images_keeps_0_5() -> None:
    # Five faint lines (0.32 on a 0.05 background) want a cut-off <= 0.3; three strong ones on a
    # bright background (0.9 on 0.45) want > 0.45. 0.3 wins on these 8 images, but which kind a
    # split happens to hold decides that: the paired bootstrap sees it.
    rng = np.random.default_rng(1)
    pairs = [_image(rng, 0.32, 0.05, 0.01) for _ in range(5)] + [_image(rng, 0.9, 0.45, 0.01) for _ in range(3)]
    plain = choose_mask_threshold(pairs, default=None)
    choice = choose_mask_threshold(pairs)
    assert plain.threshold != 0.5  # the old rule: whatever scored highest on these 8 images
    assert choice.threshold == 0.5 and choice.best == plain.threshold and choice.gain_low <= 0
    assert choice.describe().startswith("validation split (8 images): 0.5 kept — the best candidate")


def test_bad_input_is_refused() -> None:
    with pytest.raises(MetricsInputError, match="no images"):
        choose_mask_threshold([])
    with pytest.raises(MetricsInputError, match="default threshold"):
        choose_mask_threshold([], thresholds=(0.3, 0.7))
