from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from shapely.geometry import MultiPolygon, Polygon, box

from rop_desktop.domain.consensus import ConsensusError, agreement_iou, consensus_geometry, votes_needed


def square(x: float, y: float, side: float) -> list[tuple[float, float]]:
    return [(x, y), (x + side, y), (x + side, y + side), (x, y + side)]


# a = [0,10]², b = [5,15]x[0,10], c = [0,10]x[5,15]; dia drew nothing.
THREE_SQUARES = {"ana": [square(0, 0, 10)], "ben": [square(5, 0, 10)], "cho": [square(0, 5, 10)], "dia": []}


@pytest.mark.parametrize("rule,min_votes,area", [
    ("majority", None, 25.0),   # 3 of 4: only [5,10]² is covered by ana, ben and cho
    ("majority", 2, 75.0),      # the pairwise overlaps
    ("majority", 1, 200.0),
    ("union", None, 200.0),     # 3 x 100 - (50 + 50 + 25) + 25
    ("intersection", None, 0.0),  # dia drew nothing
])
def test_consensus_on_squares_with_known_areas(rule: str, min_votes: int | None, area: float) -> None:
    result = consensus_geometry(THREE_SQUARES, rule, min_votes)
    assert isinstance(result, Polygon | MultiPolygon)
    assert result.area == pytest.approx(area)
    assert result.is_valid


def test_majority_of_three_overlapping_graders() -> None:
    three = {k: v for k, v in THREE_SQUARES.items() if k != "dia"}  # 2 of 3 now
    assert consensus_geometry(three).area == pytest.approx(75.0)
    assert consensus_geometry(three, "intersection").equals(box(5, 5, 10, 10))


def test_disjoint_majority_gives_a_multipolygon() -> None:
    graders = {"a": [square(0, 0, 4), square(10, 0, 4)], "b": [square(0, 0, 4)], "c": [square(10, 0, 4)]}
    result = consensus_geometry(graders)
    assert isinstance(result, MultiPolygon) and result.area == pytest.approx(32.0)


def test_a_grader_overlapping_their_own_outlines_votes_once() -> None:
    graders = {"a": [square(0, 0, 10), square(2, 2, 10)], "b": [], "c": []}
    assert consensus_geometry(graders).is_empty


def test_holes_are_honoured() -> None:
    ring_with_hole = [square(0, 0, 10), square(3, 3, 4)]  # [exterior, hole]
    graders = {"a": [ring_with_hole], "b": [ring_with_hole], "c": [square(0, 0, 10)]}
    assert consensus_geometry(graders).area == pytest.approx(84.0)
    assert consensus_geometry(graders, "union").area == pytest.approx(100.0)


def test_invalid_and_degenerate_outlines_are_repaired_or_skipped() -> None:
    bow_tie = [(0, 0), (10, 10), (10, 0), (0, 10)]  # two triangles of 25 each
    graders = {"a": [bow_tie, [(1, 1), (2, 2)]], "b": [box(0, 0, 10, 10)], "c": []}
    result = consensus_geometry(graders)
    assert result.is_valid and result.area == pytest.approx(50.0)


def test_shape_like_objects_and_geometries_are_accepted() -> None:
    @dataclass
    class Outline:
        points: list[tuple[float, float]]
        holes: tuple[list[tuple[float, float]], ...] = ()

    graders = {"a": [Outline(square(0, 0, 10), (square(3, 3, 4),))], "b": box(0, 0, 10, 10), "c": None}
    assert consensus_geometry(graders).area == pytest.approx(84.0)


def test_nobody_drew_gives_an_empty_polygon() -> None:
    result = consensus_geometry({"a": [], "b": []})
    assert isinstance(result, Polygon) and result.is_empty


def test_votes_needed() -> None:
    assert [votes_needed(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]
    assert votes_needed(4, "union") == 1 and votes_needed(4, "intersection") == 4 and votes_needed(4, min_votes=2) == 2


@pytest.mark.parametrize("call,message", [
    (lambda: consensus_geometry(THREE_SQUARES, "mode"), "not one of majority, union, intersection"),
    (lambda: consensus_geometry(THREE_SQUARES, min_votes=5), "min_votes must be 1–4"),
    (lambda: consensus_geometry(THREE_SQUARES, "union", min_votes=2), "only applies to the 'majority' rule"),
    (lambda: consensus_geometry({}), "at least one grader"),
    (lambda: consensus_geometry({"a": [[("x", 0), (1, 0), (1, 1)]]}), "grader 'a', polygon 0, ring 0"),
    (lambda: consensus_geometry({"a": [[(0, 0), (1, float("nan")), (1, 1)]]}), "finite"),
    (lambda: consensus_geometry({"a": [42]}), "expected a polygon"),
    (lambda: consensus_geometry([square(0, 0, 1)]), "expected a mapping"),  # type: ignore[arg-type]
])
def test_bad_input_is_refused_with_a_reason(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConsensusError, match=message):
        call()


def test_agreement_iou_matrix() -> None:
    m = agreement_iou(THREE_SQUARES)
    assert m.graders == ("ana", "ben", "cho", "dia")
    assert m.iou("ana", "ben") == pytest.approx(50 / 150)
    assert m.iou("ben", "cho") == pytest.approx(25 / 175)
    assert m.iou("ana", "dia") == 0.0 and m.iou("dia", "dia") == 1.0
    assert (m.values == m.values.T).all()
    assert m.mean_pairwise() == pytest.approx((1 / 3 + 1 / 3 + 1 / 7) / 6)
    assert json.loads(json.dumps(m.as_dict()))["ana"]["cho"] == pytest.approx(1 / 3)
    assert agreement_iou({"a": [], "b": []}).iou("a", "b") == 1.0  # both saw no line: full agreement
