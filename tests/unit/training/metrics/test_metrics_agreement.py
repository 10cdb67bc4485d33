"""Agreement statistics against textbook examples and hand computation."""

from __future__ import annotations

from collections import Counter

import pytest

from training.metrics import (
    MetricsInputError,
    cohen_kappa,
    fleiss_kappa,
    leave_one_out_performance,
    pairwise_kappa,
    percent_agreement,
)

# 50 images, two raters: yes/yes 20, yes/no 5, no/yes 10, no/no 15.
A = ["yes"] * 25 + ["no"] * 25
B = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15


def test_cohen_kappa_by_hand() -> None:
    po = (20 + 15) / 50
    pe = (25 / 50) * (30 / 50) + (25 / 50) * (20 / 50)
    assert cohen_kappa(A, B) == pytest.approx((po - pe) / (1 - pe))  # = 0.4
    assert percent_agreement(A, B) == pytest.approx(po)
    # unrated items (None) are left out
    assert cohen_kappa([*A, None, "yes"], [*B, "no", None]) == pytest.approx(0.4)
    assert percent_agreement([*A, None], [*B, "yes"]) == pytest.approx(po)


# Ordinal 0/1/2, six items. Observed (rows a, cols b): [[2,0,0],[0,1,1],[0,1,1]]; both marginals
# (2,2,2), so every expected cell is 2*2/6. Disagreement weights (i-j)^2 or |i-j|.
ORD_A = [0, 1, 2, 2, 1, 0]
ORD_B = [0, 2, 2, 1, 1, 0]


def test_weighted_kappa_by_hand() -> None:
    expected_cell = 2 * 2 / 6
    quadratic = 1 - (1 + 1) / (expected_cell * (0 + 1 + 4 + 1 + 0 + 1 + 4 + 1 + 0))
    linear = 1 - (1 + 1) / (expected_cell * (0 + 1 + 2 + 1 + 0 + 1 + 2 + 1 + 0))
    unweighted = (4 / 6 - 1 / 3) / (1 - 1 / 3)
    assert cohen_kappa(ORD_A, ORD_B, weights="quadratic") == pytest.approx(quadratic)  # 0.75
    assert cohen_kappa(ORD_A, ORD_B, weights="linear") == pytest.approx(linear)  # 0.625
    assert cohen_kappa(ORD_A, ORD_B) == pytest.approx(unweighted)  # 0.5


def test_weighted_kappa_follows_the_given_category_order() -> None:
    names = {0: "none", 1: "mild", 2: "severe"}  # alphabetical order would put "mild" first
    a = [names[v] for v in ORD_A]
    b = [names[v] for v in ORD_B]
    assert cohen_kappa(a, b, "quadratic", categories=["none", "mild", "severe"]) == pytest.approx(0.75)
    assert cohen_kappa(a, b, "quadratic") != pytest.approx(0.75)
    with pytest.raises(MetricsInputError, match="not in the categories"):
        cohen_kappa(a, b, categories=["none", "mild"])


def test_undefined_kappa_and_no_overlap_are_none() -> None:
    assert cohen_kappa(["yes", "yes"], ["yes", "yes"]) is None
    assert cohen_kappa([1, None], [None, 0]) is None
    assert percent_agreement([1, None], [None, 0]) is None
    with pytest.raises(MetricsInputError, match="rates 2 items but b rates 3"):
        cohen_kappa([1, 0], [1, 0, 1])
    with pytest.raises(MetricsInputError, match="weights"):
        cohen_kappa([1, 0], [1, 0], weights="cubic")  # type: ignore[arg-type]


def test_fleiss_kappa_wikipedia_example() -> None:
    # en.wikipedia.org/wiki/Fleiss'_kappa, worked example: 10 subjects, 14 raters, 5 categories.
    counts = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(counts) == pytest.approx(0.210, abs=1e-3)
    with pytest.raises(MetricsInputError, match="same number"):
        fleiss_kappa([[1, 2], [3, 1]])


def test_pairwise_kappa_uses_items_both_rated() -> None:
    raters = {
        "r1": [*ORD_A, 2, 0],
        "r2": [*ORD_A, 2, 0],
        "r3": [*ORD_B, None, 1],
    }
    k = pairwise_kappa(raters, weights="quadratic")
    assert list(k) == [("r1", "r2"), ("r1", "r3"), ("r2", "r3")]
    assert k[("r1", "r2")] == pytest.approx(1.0)
    # r1 vs r3 on the 7 items both rated, computed on the filtered lists
    assert k[("r1", "r3")] == pytest.approx(cohen_kappa([*ORD_A, 0], [*ORD_B, 1], "quadratic"))
    with pytest.raises(MetricsInputError, match="lengths"):
        pairwise_kappa({"r1": [0, 1], "r2": [0]})


def _majority(labels: list) -> object | None:
    """Strict majority of the given labels; None on a tie or no label."""
    top = Counter(labels).most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def test_leave_one_out_on_four_raters_by_hand() -> None:
    raters = {
        "A": [1, 1, 0, 0, 1, 0],
        "B": [1, 1, 0, 0, 0, 0],
        "C": [1, 0, 0, 1, 1, 0],
        "D": [1, 1, None, 0, 1, 1],
    }
    # References of the three others, by hand:
    #   for A: [1, 1, 0, 0, 1, 0]  for B: [1, 1, 0, 0, 1, 0]  for C and D: [1, 1, 0, 0, 1, 0]
    # (item 2 for A/B/C has only two other votes, both 0). D did not rate item 2.
    r = leave_one_out_performance(raters, _majority)
    assert (r["A"].tp, r["A"].fp, r["A"].tn, r["A"].fn, r["A"].accuracy) == (3, 0, 3, 0, 1.0)
    assert (r["B"].tp, r["B"].fn, r["B"].sensitivity, r["B"].specificity) == (2, 1, pytest.approx(2 / 3), 1.0)
    assert r["B"].accuracy == pytest.approx(5 / 6)
    assert (r["C"].tp, r["C"].fp, r["C"].tn, r["C"].fn) == (2, 1, 2, 1)
    assert (r["C"].sensitivity, r["C"].specificity, r["C"].accuracy) == (pytest.approx(2 / 3), pytest.approx(2 / 3), pytest.approx(4 / 6))
    assert r["D"].n_items == 5
    assert (r["D"].sensitivity, r["D"].specificity, r["D"].accuracy) == (1.0, 0.5, pytest.approx(4 / 5))


def test_leave_one_out_excludes_the_raters_own_vote_and_undecided_items() -> None:
    seen: list[list] = []

    def reference(labels: list) -> object | None:
        seen.append(list(labels))
        return _majority(labels)

    # X disagrees with Y and Z on item 0; with X's vote the reference would tie. Item 1: the
    # others of X tie (Y=1, Z=0), so item 1 does not count for X.
    r = leave_one_out_performance({"X": [1, 1], "Y": [0, 1], "Z": [0, 0]}, reference)
    assert [0, 0] in seen and [1, 0] in seen
    assert r["X"].n_items == 1 and r["X"].fp == 1 and r["X"].specificity == 0.0
    assert r["X"].sensitivity is None and "sensitivity undefined" in r["X"].notes[0]


def test_leave_one_out_with_stage_labels_needs_positive() -> None:
    raters = {
        "A": ["no ROP", "stage 1", "stage 2"],
        "B": ["no ROP", "stage 2", "stage 2"],
        "C": ["no ROP", "stage 1", "stage 1"],
    }
    with pytest.raises(MetricsInputError, match="positive="):
        leave_one_out_performance(raters, _majority)
    r = leave_one_out_performance(raters, _majority, positive={"stage 1", "stage 2", "stage 3"}, categories=["no ROP", "stage 1", "stage 2", "stage 3"])
    # A vs the others: item 0 "no ROP" agreed; items 1 and 2 tie between B and C → undecided.
    assert r["A"].n_items == 1 and r["A"].tn == 1 and r["A"].accuracy == 1.0
    # B vs A and C: item 1 → "stage 1" (B says stage 2: positive both ways, wrong stage); item 2 ties.
    assert (r["B"].n_items, r["B"].tp, r["B"].sensitivity, r["B"].accuracy) == (2, 1, 1.0, 0.5)
