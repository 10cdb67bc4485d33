"""The pixel-centre ↔ pixel-corner shift (rop_desktop.domain.coordinates)."""

from __future__ import annotations

import numpy as np
from shapely.geometry import Polygon

from rop_desktop.domain.coordinates import centre_to_corner, corner_to_centre, ring_to_centres, ring_to_corners
from training.formats.masks import mask_to_polygons, polygon_rings


def test_a_pixel_centre_is_half_a_pixel_into_the_app_pixel() -> None:
    assert centre_to_corner((0, 0)) == (0.5, 0.5)
    assert corner_to_centre((0.5, 0.5)) == (0.0, 0.0)
    ring = [(1.0, 2.0), (3.5, 2.0), (3.5, 7.25)]
    assert ring_to_centres(ring_to_corners(ring)) == ring


def test_a_traced_mask_runs_through_its_pixels_centres_in_app_coordinates() -> None:
    """Rows 2-4, columns 3-6 traced (file convention) and shifted: the outline runs through the
    app-coordinate centres of the block's edge pixels, (3.5, 2.5) to (6.5, 4.5)."""
    mask = np.zeros((10, 10), np.uint8)
    mask[2:5, 3:7] = 255
    (polygon,) = mask_to_polygons(mask, min_area=0)
    app = Polygon(ring_to_corners(polygon_rings(polygon)[0]))
    assert app.bounds == (3.5, 2.5, 6.5, 4.5)
