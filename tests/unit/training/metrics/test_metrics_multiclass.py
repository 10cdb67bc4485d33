"""Multi-class evaluation (paper B, stages 1-3) against figures computed by hand.

Our copy of paper B reports the accuracies (hybrid 0.67, classifier-only 0.54,
segmentation-only 0.47) but not its confusion matrices. The matrices below are CONSTRUCTED:
plausible 3x3 matrices on 100 test images whose accuracy is exactly those values. The expected
per-class figures are worked out by hand from them (precision = diagonal / column sum, recall =
diagonal / row sum, F1 = 2 * diagonal / (row sum + column sum)).
"""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import MetricsInputError, check_table_consistency, multiclass_report, report_from_confusion

CLASSES = ["stage 1", "stage 2", "stage 3"]

# rows = true stage, columns = predicted stage
HYBRID = np.array([[25, 6, 2], [7, 22, 5], [3, 10, 20]])  # trace 67 of 100
CLASSIFIER_ONLY = np.array([[18, 10, 5], [9, 20, 5], [6, 11, 16]])  # trace 54
SEGMENTATION_ONLY = np.array([[20, 8, 5], [12, 14, 8], [9, 11, 13]])  # trace 47

# name: (matrix, accuracy, precision, recall, F1), each per class worked out by hand
BY_HAND = {
    "hybrid": (HYBRID, 0.67, (25 / 35, 22 / 38, 20 / 27), (25 / 33, 22 / 34, 20 / 33), (50 / 68, 44 / 72, 40 / 60)),
    "classifier-only": (CLASSIFIER_ONLY, 0.54, (18 / 33, 20 / 41, 16 / 26), (18 / 33, 20 / 34, 16 / 33), (36 / 66, 40 / 75, 32 / 59)),
    "segmentation-only": (SEGMENTATION_ONLY, 0.47, (20 / 41, 14 / 33, 13 / 26), (20 / 33, 14 / 34, 13 / 33), (40 / 74, 28 / 67, 26 / 59)),
}


@pytest.mark.parametrize("name", list(BY_HAND))
def test_paper_b_matrices_by_hand(name: str) -> None:
    cm, accuracy, precision, recall, f1 = BY_HAND[name]
    r = report_from_confusion(cm, CLASSES)
    assert r.accuracy == pytest.approx(accuracy)
    assert round(r.accuracy, 2) == accuracy  # the figure the paper prints
    assert r.precision == pytest.approx(precision)
    assert r.recall == pytest.approx(recall)
    assert r.f1 == pytest.approx(f1)
    assert r.support == tuple(cm.sum(axis=1))
    np.testing.assert_array_equal(r.confusion, cm)
    assert r.macro_precision == pytest.approx(sum(precision) / 3)
    assert r.weighted_recall == pytest.approx(sum(p * s for p, s in zip(recall, cm.sum(axis=1), strict=False)) / 100)
    assert r.weighted_f1 == pytest.approx(sum(p * s for p, s in zip(f1, cm.sum(axis=1), strict=False)) / 100)


def test_labels_names_indices_and_probabilities_agree() -> None:
    y_true = ["stage 1", "stage 1", "stage 2", "stage 3", "stage 3"]
    y_pred = [0, 1, 1, 2, 0]
    probs = np.eye(3)[y_pred] * 0.6 + 0.1  # argmax = y_pred
    by_index = multiclass_report(y_true, y_pred, CLASSES)
    by_probs = multiclass_report([0, 0, 1, 2, 2], probs, CLASSES)
    np.testing.assert_array_equal(by_index.confusion, [[1, 1, 0], [0, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(by_probs.confusion, by_index.confusion)
    assert by_index.class_scores("stage 2") == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}


def test_undefined_per_class_values_are_none_with_notes() -> None:
    r = multiclass_report([0, 0, 1], [0, 0, 0], CLASSES)
    assert r.precision[1] is None and r.recall[2] is None and r.f1[2] is None
    assert r.recall[1] == 0.0
    assert any("'stage 2' undefined: never predicted" in n for n in r.notes)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "fragment"),
    [
        (["stage 4"], [0], "not one of the classes"),
        ([3], [0], "indices 0..2"),
        ([0, 1], [0], "has 1 labels"),
        ([0, 1], np.ones((2, 4)), "shape"),
    ],
)
def test_bad_labels_are_refused(y_true: list, y_pred: object, fragment: str) -> None:
    with pytest.raises(MetricsInputError, match=fragment):
        multiclass_report(y_true, y_pred, CLASSES)


def _printed(name: str) -> dict:
    """The table a paper would print for one of our matrices: figures rounded to 2 decimals."""
    _, accuracy, precision, recall, f1 = BY_HAND[name]
    per_class = lambda values: {c: round(v, 2) for c, v in zip(CLASSES, values, strict=False)}  # noqa: E731
    return {"accuracy": accuracy, "precision": per_class(precision), "recall": per_class(recall), "f1": per_class(f1)}


@pytest.mark.parametrize("name", list(BY_HAND))
def test_consistent_table_passes(name: str) -> None:
    assert check_table_consistency(_printed(name), BY_HAND[name][0], CLASSES) == []


def test_wrong_figures_are_listed() -> None:
    table = _printed("hybrid")
    table["recall"]["stage 2"] = 0.70  # the matrix gives 22/34 = 0.647
    table["support"] = {"stage 3": 30}  # the matrix gives 33
    table["accuracy"] = 0.54  # the classifier-only accuracy copied into the wrong row
    problems = check_table_consistency(table, HYBRID, CLASSES)
    assert len(problems) == 3
    assert any(p.startswith("recall[stage 2]: reported 0.7") for p in problems)
    assert any(p.startswith("support[stage 3]") for p in problems)
    assert any(p.startswith("accuracy") for p in problems)
    # a figure off by less than the rounding of 2 decimals is not a disagreement
    assert check_table_consistency({"precision": {0: 0.7143 + 0.004}}, HYBRID, CLASSES) == []


def test_table_check_refuses_unknown_figures_and_bad_matrices() -> None:
    with pytest.raises(MetricsInputError, match="unknown reported figure 'sensitivity'"):
        check_table_consistency({"sensitivity": 0.5}, HYBRID, CLASSES)
    with pytest.raises(MetricsInputError, match="names class 'stage 9'"):
        check_table_consistency({"recall": {"stage 9": 0.5}}, HYBRID, CLASSES)
    with pytest.raises(MetricsInputError, match="square"):
        report_from_confusion(np.ones((2, 3)), CLASSES)
    with pytest.raises(MetricsInputError, match="whole counts"):
        report_from_confusion(HYBRID - 30, CLASSES)
