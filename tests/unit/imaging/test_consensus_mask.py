from __future__ import annotations

import numpy as np
import pytest

from rop_desktop.domain.consensus import ConsensusError, consensus_geometry
from rop_desktop.imaging.consensus_mask import consensus_mask, coverage_counts
from training.formats.masks import polygons_to_mask


def square(x: float, y: float, side: float) -> list[tuple[float, float]]:
    return [(x, y), (x + side, y), (x + side, y + side), (x, y + side)]


# Vertices are pixel centres and boundary pixels are inside (the snapshot's convention):
# a square from 0 to 10 covers 11 x 11 pixels.
SQUARES = {"ana": [square(0, 0, 10)], "ben": [square(5, 0, 10)], "cho": [square(0, 5, 10)], "dia": []}


def test_pixel_majority_on_squares() -> None:
    mask = consensus_mask(SQUARES, (32, 32))
    assert mask.dtype == np.uint8 and mask.shape == (32, 32)
    assert set(np.unique(mask)) == {0, 255}
    assert (mask > 0).sum() == 6 * 6  # [5, 10]² covered by ana, ben and cho
    assert mask[5:11, 5:11].all()


def test_rules_and_counts() -> None:
    counts = coverage_counts(SQUARES, (32, 32, 3))
    assert counts.shape == (32, 32) and counts.max() == 3 and counts[0, 0] == 1 and counts[20, 20] == 0
    assert (consensus_mask(SQUARES, (32, 32), rule="union", value=1) == (counts >= 1)).all()
    assert not consensus_mask(SQUARES, (32, 32), rule="intersection").any()
    assert (consensus_mask(SQUARES, (32, 32), min_votes=2) > 0).sum() == (counts >= 2).sum()


def test_bad_input_is_refused() -> None:
    with pytest.raises(ConsensusError, match="image shape"):
        consensus_mask(SQUARES, (0, 32))
    with pytest.raises(ConsensusError, match="mask value"):
        consensus_mask(SQUARES, (32, 32), value=0)
    with pytest.raises(ConsensusError, match="at least one grader"):
        consensus_mask({}, (32, 32))


def _star(rng: np.random.Generator, cx: float, cy: float, radius: float, n: int = 14) -> list[tuple[float, float]]:
    """A random simple (star-shaped) polygon around (cx, cy)."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = radius * rng.uniform(0.6, 1.0, n)
    return list(zip(cx + radii * np.cos(angles), cy + radii * np.sin(angles), strict=False))


@pytest.mark.parametrize("seed", range(6))
def test_raster_and_vector_consensus_agree(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = 160
    graders = {}
    for name in ("ana", "ben", "cho", "dia"):
        # each grader outlines roughly the same two lesions, a few pixels apart; one sometimes also a bow-tie
        polys = [_star(rng, 60 + rng.normal(0, 4), 70 + rng.normal(0, 4), 35),
                 _star(rng, 120 + rng.normal(0, 3), 120 + rng.normal(0, 3), 20)]
        if name == "dia" and seed % 2:
            polys.append([(10, 10), (40, 40), (40, 10), (10, 40)])
        graders[name] = polys
    for rule in ("majority", "union", "intersection"):
        raster = consensus_mask(graders, (size, size), rule=rule) > 0
        vector = polygons_to_mask([consensus_geometry(graders, rule)], (size, size)) > 0
        iou = (raster & vector).sum() / (raster | vector).sum()
        assert iou > 0.97, (rule, iou)
