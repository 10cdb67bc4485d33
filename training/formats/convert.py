"""What every annotation reader hands to the snapshot writer, and the label vocabulary they share.

A reader turns its file into :class:`AnnotatedImage` items (an image, snapshot polygons and
image-level attributes); :func:`write_snapshot` writes them as a snapshot, reporting per image.
Image-level attributes are matched to record fields by name, case-insensitively (see
:data:`FIELD_ALIASES`); anything else is kept in the record's ``meta``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.data.io import ImageReadError, decode_rgb, read_mask
from training.formats.errors import Problem
from training.formats.masks import mask_to_polygons, to_snapshot_polygons
from training.snapshot import (
    EYES,
    PLUS_VALUES,
    QUALITIES,
    SPLITS,
    STAGES,
    LinkMode,
    Snapshot,
    SnapshotError,
    SnapshotPolygon,
    SnapshotRecord,
    SnapshotWriter,
)

#: Attribute names (lower case, spaces/dashes as underscores) → record field.
FIELD_ALIASES: dict[str, str] = {
    "patient": "patient",
    "patient_id": "patient",
    "subject": "patient",
    "infant": "patient",
    "eye": "eye",
    "laterality": "eye",
    "side": "eye",
    "camera": "camera",
    "device": "camera",
    "exam_date": "exam_date",
    "date": "exam_date",
    "visit_date": "exam_date",
    "rop": "label_binary",
    "label": "label_binary",
    "label_binary": "label_binary",
    "rop_presence": "label_binary",
    "stage": "stage",
    "rop_stage": "stage",
    "plus": "plus",
    "plus_disease": "plus",
    "quality": "quality",
    "image_quality": "quality",
    "split": "split",
    "subset": "split",
}
#: Region attribute names that hold the lesion type, in order of preference.
LESION_KEYS: tuple[str, ...] = ("lesion_type", "lesion", "type", "class", "label", "name")
_NA = {"", "na", "n/a", "none", "null", "not assessable", "unknown", "?"}


def _norm_key(key: str) -> str:
    return re.sub(r"[\s\-]+", "_", key.strip().lower())


def _flat(value: Any) -> Any:
    """VIA checkbox attributes are ``{option: true}``: the chosen option (first true one)."""
    if isinstance(value, Mapping):
        chosen = [k for k, v in value.items() if v]
        return chosen[0] if chosen else None
    return value


def parse_field(name: str, value: Any) -> Any:
    """Parse one attribute value for record field ``name``; raises ValueError with the reason."""
    value = _flat(value)
    if value is None or (isinstance(value, str) and value.strip().lower() in _NA):
        return None
    text = str(value).strip()
    low = text.lower()
    if name == "label_binary":
        if isinstance(value, bool):
            return int(value)
        if low in ("1", "yes", "y", "true", "rop", "positive"):
            return 1
        if low in ("0", "no", "n", "false", "no rop", "no_rop", "normal", "negative"):
            return 0
        raise ValueError(f"ROP {value!r} is not yes/no/1/0")
    if name == "stage":
        s = re.sub(r"^(rop_?)?stage[\s_]*", "", low).upper()
        if s in STAGES:
            return s
        raise ValueError(f"stage {value!r} is not one of {', '.join(STAGES)}")
    if name == "eye":
        eye = {"od": "OD", "right": "OD", "r": "OD", "os": "OS", "left": "OS", "l": "OS"}.get(low)
        if eye in EYES:
            return eye
        raise ValueError(f"eye {value!r} is not OD/OS (right/left)")
    if name == "plus":
        plus = {"no": "normal", "none": "normal", "preplus": "pre-plus", "pre_plus": "pre-plus"}.get(low, low)
        if plus in PLUS_VALUES:
            return plus
        raise ValueError(f"plus {value!r} is not one of {', '.join(PLUS_VALUES)}")
    if name == "quality":
        if low in QUALITIES:
            return low
        raise ValueError(f"quality {value!r} is not gradable/ungradable")
    if name == "split":
        split = {"validation": "val", "valid": "val", "training": "train"}.get(low, low)
        if split in SPLITS:
            return split
        raise ValueError(f"split {value!r} is not train/val/test")
    return text


def record_fields(attributes: Mapping[str, Any], path: str, where: str, problems: list[Problem]) -> dict[str, Any]:
    """Image-level attributes → record fields (+ ``meta`` for the rest); bad values become warnings."""
    fields: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for key, value in attributes.items():
        target = FIELD_ALIASES.get(_norm_key(str(key)))
        if target is None:
            if value not in (None, "", {}):
                meta[str(key)] = value
            continue
        try:
            parsed = parse_field(target, value)
        except ValueError as exc:
            problems.append(Problem(path, f"{where}.{key}", f"{exc}; left empty", "warning"))
            continue
        if parsed is not None:
            fields[target] = parsed
    if meta:
        fields["meta"] = meta
    return fields


def lesion_of(attributes: Mapping[str, Any]) -> str | None:
    """The lesion type named by region attributes ("Demarcation line" → "demarcation_line")."""
    for key in LESION_KEYS:
        for k, v in attributes.items():
            if _norm_key(str(k)) == key:
                v = _flat(v)
                if v not in (None, ""):
                    return _norm_key(str(v))
    return None


def stage_of(attributes: Mapping[str, Any]) -> str | None:
    """The stage named by region attributes (``stage``), or None."""
    for k, v in attributes.items():
        if _norm_key(str(k)) in ("stage", "rop_stage"):
            try:
                return parse_field("stage", v)
            except ValueError:
                return None
    return None


def read_fields_csv(path: str | Path) -> dict[str, dict[str, Any]]:
    """A CSV of image-level labels keyed by its first column (a file name or stem)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            return {}
        key = reader.fieldnames[0]
        return {row[key].strip(): {k: v for k, v in row.items() if k != key} for row in reader if row.get(key)}


def lookup_fields(fields: Mapping[str, Mapping[str, Any]] | None, filename: str) -> Mapping[str, Any]:
    """Image-level fields for an image, by its file name, then its stem."""
    if not fields:
        return {}
    name = Path(filename).name
    return fields.get(filename) or fields.get(name) or fields.get(Path(name).stem) or {}


def polygons_of(snapshot: Snapshot, record: SnapshotRecord) -> list[SnapshotPolygon]:
    """A record's polygons, or its mask traced into polygons when it has only a mask (for exports)."""
    if record.polygons or not record.mask:
        return list(record.polygons)
    return to_snapshot_polygons(mask_to_polygons(read_mask(snapshot.path(record.mask))))


@dataclass
class AnnotatedImage:
    """One image as read from an annotation file, ready for the snapshot writer."""

    path: str  #: the annotation file (for problems)
    where: str  #: the image's place in that file (for problems)
    image: Path | None  #: the image file, when on disk
    image_data: bytes | None = None  #: or the encoded image embedded in the file
    polygons: list[SnapshotPolygon] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass
class ConversionResult:
    """The written snapshot and every per-item problem met on the way."""

    snapshot: Snapshot
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def write_snapshot(
    items: Iterable[AnnotatedImage],
    out_folder: str | Path,
    problems: list[Problem],
    *,
    fields: Mapping[str, Mapping[str, Any]] | None = None,
    label_from_polygons: bool = False,
    link: LinkMode = "auto",
    description: str | None = None,
) -> ConversionResult:
    """Write annotated images as a snapshot; an image that fails becomes a problem, the rest go in.

    ``fields`` adds image-level labels by file name or stem (e.g. from :func:`read_fields_csv`);
    they win over the file's own attributes. With ``label_from_polygons``, an image without a
    ROP label gets 1 when it has polygons and 0 otherwise.
    """
    writer = SnapshotWriter(out_folder, link=link, description=description)
    used: set[str] = set()
    for item in items:
        name = item.image.name if item.image is not None else (item.id or "image")
        attrs = {**item.attributes, **lookup_fields(fields, name)}
        values = record_fields(attrs, item.path, item.where, problems)
        if label_from_polygons and "label_binary" not in values and "stage" not in values:
            values["label_binary"] = int(bool(item.polygons))
        rid = item.id or Path(name).stem
        base, n = rid, 2
        while rid in used:
            rid, n = f"{base}-{n}", n + 1
        try:
            if item.image is not None and item.image.is_file():
                source: str | Path | np.ndarray = item.image
            elif item.image_data is not None:
                source = decode_rgb(item.image_data, f"{item.path}: imageData")
                values.setdefault("source", str(item.image) if item.image else item.path)
            else:
                problems.append(Problem(item.path, item.where, f"image file {item.image} not found; image skipped"))
                continue
            writer.add(source, id=rid, polygons=item.polygons, **values)
            used.add(rid)
        except (SnapshotError, ImageReadError, OSError) as exc:
            problems.append(Problem(item.path, item.where, f"{exc}; image skipped"))
    return ConversionResult(writer.close(), problems)
