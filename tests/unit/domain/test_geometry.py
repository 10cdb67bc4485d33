"""Polygon geometry (validation and repair, tracing, IoU, hit tests) and the Shape value."""

from __future__ import annotations

import json
import math

import pytest
from shapely.geometry import Polygon

from rop_desktop.domain.geometry import (
    InvalidGeometry,
    nearest_vertex,
    point_on_edge,
    polygon_iou,
    simplify,
    trace_to_polygon,
    validate_polygon,
)
from rop_desktop.domain.labels import LesionType, Stage
from rop_desktop.domain.shapes import Shape, ShapeError, new_shape_id

SQUARE = ((10.0, 10.0), (30.0, 10.0), (30.0, 30.0), (10.0, 30.0))


# --------------------------------------------------------------------------- validate_polygon
def test_valid_polygon_comes_back_unchanged_in_order() -> None:
    result = validate_polygon(SQUARE, (100, 100))
    assert result.points == SQUARE
    assert result.messages == ()
    assert not result.repaired
    assert result.area == pytest.approx(400.0)


def test_closing_point_and_repeated_clicks_are_dropped() -> None:
    pts = [(10, 10), (10, 10), (30, 10), (30, 30), (10, 30), (10, 10)]
    assert validate_polygon(pts, (100, 100)).points == SQUARE


@pytest.mark.parametrize("points", [[], [(1, 1)], [(1, 1), (5, 5)], [(1, 1), (5, 5), (5, 5), (1, 1)]])
def test_fewer_than_three_distinct_points_is_refused(points: list[tuple[float, float]]) -> None:
    with pytest.raises(InvalidGeometry, match="at least 3 points"):
        validate_polygon(points, (100, 100))


@pytest.mark.parametrize("points", [
    [(0, 0), (10, 10), (20, 20)],  # collinear
    [(0, 0), (10, 0), (10, 0.01)],  # area 0.05 px²
])
def test_zero_area_is_refused(points: list[tuple[float, float]]) -> None:
    with pytest.raises(InvalidGeometry, match="no area"):
        validate_polygon(points, (100, 100))


def test_non_finite_or_non_numeric_coordinates_are_refused() -> None:
    with pytest.raises(InvalidGeometry, match="not finite"):
        validate_polygon([(0, 0), (math.nan, 1), (3, 3)])
    with pytest.raises(InvalidGeometry, match=r"points\[1\]"):
        validate_polygon([(0, 0), ("a", 1), (3, 3)])


def test_bow_tie_keeps_the_larger_lobe_and_says_so() -> None:
    # edges (10,10)->(50,50) and (50,10)->(10,20) cross at (18,18): lobes of 640 and 40 px²
    result = validate_polygon([(10, 10), (50, 50), (50, 10), (10, 20)], (100, 100))
    assert Polygon(result.points).is_valid
    assert result.area == pytest.approx(640.0)
    assert result.messages == ("self-intersection repaired: kept the largest of 2 pieces",)


def test_self_touching_loop_is_repaired_into_one_polygon() -> None:
    # a ring that runs back along itself (a spike): make_valid drops the spike
    spike = [(0, 0), (20, 0), (20, 20), (10, 20), (10, 30), (10, 20), (0, 20)]
    result = validate_polygon(spike, (100, 100))
    assert result.area == pytest.approx(400.0)
    assert result.repaired and Polygon(result.points).is_valid


def test_repair_losing_more_than_half_is_refused() -> None:
    # three equal squares joined at corners by a self-crossing ring
    three = [(0, 0), (10, 0), (10, 10), (20, 10), (20, 20), (30, 20), (30, 30), (20, 30), (20, 20),
             (10, 20), (10, 10), (0, 10)]
    with pytest.raises(InvalidGeometry, match="3 pieces"):
        validate_polygon(three, (100, 100))
    # the same with a permissive policy keeps one square
    assert validate_polygon(three, (100, 100), max_repair_loss=0.9).area == pytest.approx(100.0)


def test_vertices_outside_the_image_are_clipped() -> None:
    result = validate_polygon([(-10, -10), (50, 5), (50, 50), (5, 50)], (40, 30))
    assert result.messages == ("clipped to the image",)
    xs, ys = zip(*result.points, strict=False)
    assert min(xs) >= 0 and max(xs) <= 40 and min(ys) >= 0 and max(ys) <= 30
    assert Polygon(result.points).is_valid


def test_polygon_touching_the_border_is_not_clipped() -> None:
    pts = ((0.0, 0.0), (40.0, 0.0), (40.0, 30.0))
    assert validate_polygon(pts, (40, 30)).points == pts


def test_polygon_entirely_outside_the_image_is_refused() -> None:
    with pytest.raises(InvalidGeometry, match="outside the image"):
        validate_polygon([(50, 50), (60, 50), (60, 60)], (40, 30))


def test_holes_are_kept_and_a_degenerate_hole_is_dropped() -> None:
    outer = [(0, 0), (40, 0), (40, 40), (0, 40)]
    hole = [(10, 10), (20, 10), (20, 20), (10, 20)]
    ok = validate_polygon(outer, (50, 50), holes=[hole])
    assert ok.holes == (tuple((float(x), float(y)) for x, y in hole),)
    assert ok.area == pytest.approx(1600 - 100)
    dropped = validate_polygon(outer, (50, 50), holes=[[(1, 1), (2, 2)]])
    assert dropped.holes == () and "degenerate hole removed" in dropped.messages


# --------------------------------------------------------------------------- tracing etc.
def test_trace_to_polygon_buffers_the_line() -> None:
    band = trace_to_polygon([(10, 10), (60, 10)], 8)
    poly = Polygon(band.points)
    assert poly.is_valid
    assert poly.area == pytest.approx(50 * 8 + math.pi * 16, rel=0.03)  # round caps
    flat = Polygon(trace_to_polygon([(10, 10), (60, 10)], 8, cap="flat").points)
    assert flat.area == pytest.approx(400, rel=0.01)
    assert poly.contains(Polygon([(20, 8), (50, 8), (50, 12), (20, 12)]))


def test_trace_of_a_loop_keeps_the_hole() -> None:
    band = trace_to_polygon([(10, 10), (50, 10), (50, 50), (10, 50), (10, 10)], 4)
    assert len(band.holes) == 1
    assert validate_polygon(band.points, (100, 100), band.holes).area == pytest.approx(band.area)


@pytest.mark.parametrize(("line", "width", "match"), [
    ([(5, 5)], 4, "at least 2 points"),
    ([(5, 5), (9, 9)], 0, "positive"),
    ([(5, 5), (9, 9)], -3, "positive"),
])
def test_trace_refuses_bad_input(line: list[tuple[float, float]], width: float, match: str) -> None:
    with pytest.raises(InvalidGeometry, match=match):
        trace_to_polygon(line, width)


def test_simplify_drops_redundant_vertices() -> None:
    dense = [(float(x), 0.0) for x in range(0, 21)] + [(20.0, 20.0), (0.0, 20.0)]
    assert len(simplify(dense, 0.5)) == 4
    line = [(0.0, 0.0), (5.0, 0.1), (10.0, 0.0)]
    assert simplify(line, 0.5, closed=False) == ((0.0, 0.0), (10.0, 0.0))
    with pytest.raises(InvalidGeometry):
        simplify(dense, -1)


def test_polygon_iou() -> None:
    a = [(0, 0), (10, 0), (10, 10), (0, 10)]
    b = [(5, 0), (15, 0), (15, 10), (5, 10)]
    assert polygon_iou(a, a) == pytest.approx(1.0)
    assert polygon_iou(a, b) == pytest.approx(50 / 150)
    assert polygon_iou(a, [(20, 20), (30, 20), (30, 30)]) == 0.0
    assert polygon_iou(Shape(points=a), Shape(points=b)) == pytest.approx(1 / 3)


def test_point_on_edge_and_nearest_vertex() -> None:
    assert point_on_edge(SQUARE, (20.0, 11.0), 2.0) == (0, (20.0, 10.0))
    index, proj = point_on_edge(SQUARE, (9.0, 20.0), 2.0)  # the closing edge
    assert index == 3 and proj == pytest.approx((10.0, 20.0))
    assert point_on_edge(SQUARE, (20.0, 20.0), 2.0) is None
    assert nearest_vertex(SQUARE, (29.0, 31.0), 2.0) == 2
    assert nearest_vertex(SQUARE, (20.0, 20.0), 2.0) is None


# --------------------------------------------------------------------------- Shape
def test_shape_dict_round_trip_is_json_able() -> None:
    shape = Shape(id=new_shape_id(), points=SQUARE, holes=(((12, 12), (14, 12), (14, 14)),),
                  lesion_type=LesionType.RIDGE, stage=Stage.S3, source="traced")
    data = json.loads(json.dumps(shape.to_dict()))
    assert data["lesion_type"] == "ridge" and data["stage"] == "3"
    assert Shape.from_dict(data) == shape


def test_shape_normalises_and_checks_its_fields() -> None:
    shape = Shape(id=7, points=[[1, 2], [3, 4], [5, 0]], lesion_type="ridge", stage="2")
    assert shape.points == ((1.0, 2.0), (3.0, 4.0), (5.0, 0.0))
    assert shape.lesion_type is LesionType.RIDGE and shape.stage is Stage.S2
    with pytest.raises(ShapeError, match="source"):
        Shape(points=SQUARE, source="magic")
    with pytest.raises(ShapeError, match="LesionType"):
        Shape(points=SQUARE, lesion_type="vessel")
    with pytest.raises(ShapeError, match=r"points\[1\]"):
        Shape(points=[(0, 0), (1,), (2, 2)])
    with pytest.raises(ShapeError, match="no 'points'"):
        Shape.from_dict({"lesion_type": "ridge"})


def test_shape_edit_helpers_return_new_values() -> None:
    shape = Shape(id="a", points=SQUARE, holes=(((12, 12), (14, 12), (14, 14)),))
    moved = shape.translated(1, -1)
    assert moved.points[0] == (11.0, 9.0) and moved.holes[0][0] == (13.0, 11.0)
    assert shape.with_vertex_moved(1, (31, 9)).points[1] == (31.0, 9.0)
    assert shape.with_vertex_inserted(1, (20, 10)).points[:3] == ((10.0, 10.0), (20.0, 10.0), (30.0, 10.0))
    assert len(shape.with_vertex_removed(0).points) == 3
    assert shape.points == SQUARE  # unchanged
