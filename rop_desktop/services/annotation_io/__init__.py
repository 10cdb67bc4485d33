"""Annotation interoperability: VIA 2, labelme, COCO instance segmentation, mask PNG folders and
grade CSVs, in and out of a study.

The file codecs are ``training.formats`` (shared with training); this package matches files to
the study's images, validates outlines, stores them under an ``imported: ...`` account (or, for
an admin who asks, an existing account whose submitted work is kept) and writes exports with
pseudonymous names only, of the work the signed-in account may export.
"""

from .common import FORMATS, AnnotationImportSummary, AnnotationIOError, AttributeMapping, ImportConflict
from .exporting import REFERENCE, export_annotations
from .importing import EXHAUSTIVE_FORMATS, import_annotations

__all__ = [
    "EXHAUSTIVE_FORMATS",
    "FORMATS",
    "REFERENCE",
    "AnnotationIOError",
    "AnnotationImportSummary",
    "AttributeMapping",
    "ImportConflict",
    "export_annotations",
    "import_annotations",
]
