"""Annotation formats ↔ dataset snapshots: masks/polygons, image folders, VIA 2, labelme.

Readers raise :class:`FormatError` only for a file that is unusable as a whole; everything
inside a readable file is reported per item as a :class:`Problem`, and the rest is imported.
"""

from training.formats.convert import AnnotatedImage, ConversionResult, read_fields_csv
from training.formats.errors import FormatError, Problem
from training.formats.image_folder import image_folder_to_snapshot
from training.formats.labelme import (
    LabelmeFile,
    LabelmeShape,
    labelme_to_snapshot,
    read_labelme,
    snapshot_to_labelme,
    write_labelme,
)
from training.formats.masks import mask_to_polygons, polygons_to_mask, to_snapshot_polygons
from training.formats.via import ViaImage, ViaProject, ViaRegion, read_via, snapshot_to_via, via_to_snapshot, write_via

__all__ = [
    "AnnotatedImage",
    "ConversionResult",
    "FormatError",
    "LabelmeFile",
    "LabelmeShape",
    "Problem",
    "ViaImage",
    "ViaProject",
    "ViaRegion",
    "image_folder_to_snapshot",
    "labelme_to_snapshot",
    "mask_to_polygons",
    "polygons_to_mask",
    "read_fields_csv",
    "read_labelme",
    "read_via",
    "snapshot_to_labelme",
    "snapshot_to_via",
    "to_snapshot_polygons",
    "via_to_snapshot",
    "write_labelme",
    "write_via",
]
