"""The attribute, flag and label names an annotation file uses, for the import dialog's mapping table.

The file is read by the same readers as :func:`~rop_desktop.services.annotation_io.import_annotations`
(nothing is written), so the names listed are exactly the keys an
:class:`~rop_desktop.services.annotation_io.AttributeMapping` is matched against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rop_desktop.domain.grades import GRADE_FIELDS
from rop_desktop.domain.labels import LesionType, Stage
from training.formats.errors import FormatError

from .annotation_io import FORMATS, AnnotationIOError, AttributeMapping
from .annotation_io.common import IGNORE, LESION_PREFIX, REGION_TARGETS, STAGE_PREFIX, ReadItem, norm_key
from .annotation_io.grades_csv import GRADER_COLUMNS, IMAGE_COLUMNS, detect_layout
from .annotation_io.readers import (
    csv_rows,
    read_coco_items,
    read_grades_csv,
    read_labelme_items,
    read_mask_items,
    read_via_items,
)

#: Every value a mapping may give a name: grade fields, region targets, ignore, lesion types, stages.
MAPPING_TARGETS: tuple[str, ...] = tuple(
    dict.fromkeys(
        (
            *GRADE_FIELDS,
            *REGION_TARGETS,
            IGNORE,
            *(f"{LESION_PREFIX}{t.value}" for t in LesionType),
            *(f"{STAGE_PREFIX}{s.value}" for s in Stage if s is not Stage.NA),
        )
    )
)


@dataclass
class FileAttributeNames:
    """Names found in one annotation file, each list sorted and without duplicates."""

    image: list[str] = field(default_factory=list)  #: image-level attributes / flags / CSV columns
    region: list[str] = field(default_factory=list)  #: region / shape attributes
    labels: list[str] = field(default_factory=list)  #: label values (labelme labels, COCO categories, mask values)
    #: grades CSV: the graders it names (a wide file's column prefixes, a long file's grader column
    #: values), the keys of ``import_annotations(grader_map=...)``
    graders: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        """Every name once, image attributes first (the rows of the mapping table)."""
        seen: dict[str, None] = {}
        for name in (*self.image, *self.region, *self.labels):
            seen.setdefault(name, None)
        return list(seen)


def list_attribute_names(fmt: str, path: str | Path) -> FileAttributeNames:
    """The names ``path`` (format ``fmt``) uses; :class:`AnnotationIOError` with the reason when
    the format is unknown, the path missing or the whole file unreadable."""
    if fmt not in FORMATS:
        raise AnnotationIOError(f"unknown annotation format {fmt!r}: expected one of {', '.join(FORMATS)}")
    source = Path(path)
    if not source.exists():
        raise AnnotationIOError(f"{source} does not exist")
    try:
        if fmt == "grades_csv":  # the columns as written (a wide file's per-grader ones too)
            rows = csv_rows(source)
            return FileAttributeNames(sorted(_csv_columns(rows)), graders=_csv_graders(source, rows))
        items = _read(fmt, source)
    except FormatError as exc:
        raise AnnotationIOError(f"{exc}: the whole file is refused") from exc
    image: set[str] = set()
    region: set[str] = set()
    labels: set[str] = set()
    for item in items:
        image.update(str(k) for k in item.attributes)
        for r in item.regions:
            region.update(str(k) for k in r.attributes)
            labels.update(_label_values(r.attributes))
    if fmt == "masks":  # the reader already turned mask values into lesion types: list the values
        values = {r.where.split()[1] for item in items for r in item.regions}  # where = "value <v> part <k>"
        labels, region = {"mask" if v == "0" else v for v in values}, set()
    return FileAttributeNames(sorted(image), sorted(region), sorted(labels))


def _label_values(attributes: Mapping[str, Any]) -> set[str]:
    """Text values a region attribute may name a lesion with (``"Ridge"``, a tool's own
    ``"Thick line"``); numbers and stage-like values are not lesion names."""
    out = set()
    for value in attributes.values():
        text = value.strip() if isinstance(value, str) else ""
        if text and not _numeric(text):
            out.add(text)
    return out


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_columns(rows: list[list[str]]) -> list[str]:
    """A grades CSV's columns other than the image and grader columns."""
    header = [c.strip() for c in rows[0]] if rows else []
    return [c for c in header if c and norm_key(c) not in (*IMAGE_COLUMNS, *GRADER_COLUMNS)]


def _csv_graders(source: Path, rows: list[list[str]]) -> list[str]:
    """The graders a grades CSV names, as its layout reads them with the usual column names: the
    prefixes of a wide file's ``<grader>_<field>`` columns, or the values of a long file's grader
    column; none for a file of one unnamed grader or a header the importer would refuse."""
    if not rows:
        return []
    try:
        layout = detect_layout(source, [c.strip() for c in rows[0]], AttributeMapping())
    except FormatError:
        return []
    if layout.wide:
        return sorted({label for label, _ in layout.fields.values() if label})
    column = layout.grader
    if column is None:
        return []
    return sorted({row[column].strip() for row in rows[1:] if len(row) > column and row[column].strip()})


def _read(fmt: str, source: Path) -> list[ReadItem]:
    if fmt == "via":
        return read_via_items(source, {})[0]
    if fmt == "labelme":
        return read_labelme_items(source)[0]
    if fmt == "coco":
        return read_coco_items(source)[0]
    if fmt == "masks":
        return read_mask_items(source, AttributeMapping())[0]
    return read_grades_csv(source)[0]
