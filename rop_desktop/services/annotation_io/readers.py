"""Annotation files → :class:`ReadItem` lists, one reader per format.

VIA and labelme are parsed by ``training.formats`` (the one parser the app and training share);
this module only turns their objects into items. COCO, mask folders and grade CSVs are read
here. A whole file that cannot be read raises :class:`training.formats.errors.FormatError`;
everything inside a readable file is reported per item as a ``Problem`` and the rest is read.
"""

from __future__ import annotations

import csv
import itertools
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as coco_mask
from shapely.geometry import MultiPolygon, Polygon

from training.formats import shapes
from training.formats.errors import FormatError, Problem, read_json_object
from training.formats.labelme import labelme_files, read_labelme
from training.formats.masks import clean_polygons, mask_to_polygons
from training.formats.via import read_via

from .common import LABEL_VALUE_LESIONS, AttributeMapping, ReadItem, ReadRegion
from .grades_csv import read_grades_table

Sizes = Mapping[str, tuple[int, int]]  # image file name → (height, width)
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")
#: A single-channel mask whose largest value is at most this is a label mask (values = classes).
MAX_LABEL_VALUE = 16


def polygon_repairs(points: Sequence[tuple[float, float]]) -> list[str]:
    """What reading a polygon of these vertices repairs, in words for a warning: repeated
    vertices dropped, a self-crossing outline split. Empty for a clean polygon."""
    out = []
    ring = [(float(pt[0]), float(pt[1])) for pt in points]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]  # a closing repeat of the first vertex is how some tools write a ring
    repeats = sum(1 for a, b in itertools.pairwise(ring) if a == b)
    if repeats:
        out.append(f"{repeats} repeated vertex{'es' if repeats > 1 else ''} dropped")
    if len(ring) >= 3 and not Polygon(ring).is_valid:
        parts = clean_polygons(shapes.polygon(ring))
        out.append(
            f"the outline crosses itself: imported as {len(parts)} outline{'s' if len(parts) != 1 else ''}"
            if len(parts) > 1
            else "the outline crosses itself: repaired"
        )
    return out


def read_via_items(path: Path, sizes: Sizes) -> tuple[list[ReadItem], list[Problem]]:
    """A VIA 2 project or region-data JSON, or VIA's region CSV export (:func:`read_via_csv`)."""
    if path.suffix.lower() == ".csv":
        return read_via_csv(path, sizes)
    project = read_via(path, image_sizes=sizes)
    problems = list(project.problems)
    items = []
    for image in project.images:
        where = f"[{image.key!r}]"
        item = ReadItem(image.filename, str(path), where, attributes=dict(image.file_attributes))
        item.regions_dropped = any(
            p.where.startswith(f"{where}.regions") or p.where.startswith(f"_via_img_metadata{where}.regions")
            for p in problems
            if p.severity == "error"
        )
        for k, region in enumerate(image.regions):
            geom = region.geometry()
            if geom is None:
                problems.append(
                    Problem(str(path), f"{where}.regions[{k}]", "a point has no area; not imported", "warning")
                )
                item.regions_dropped = True
                continue
            repairs = polygon_repairs(region.vertices()) if region.shape == "polygon" else []
            item.regions.append(ReadRegion(geom, dict(region.attributes), f"{where}.regions[{k}]", repairs))
        items.append(item)
    return items, problems


#: The columns of VIA 2's "Export annotations (as csv)".
VIA_CSV_COLUMNS = (
    "filename",
    "file_size",
    "file_attributes",
    "region_count",
    "region_id",
    "region_shape_attributes",
    "region_attributes",
)


def read_via_csv(path: Path, sizes: Sizes) -> tuple[list[ReadItem], list[Problem]]:
    """VIA 2's region CSV (one row per region, JSON in the attribute cells; an image without
    regions is one row with ``region_count`` 0), read by turning it into VIA's region-data JSON."""
    rows = csv_rows(path)
    header = [c.strip().lower() for c in (rows[0] if rows else [])]
    missing = [c for c in ("filename", "region_shape_attributes", "region_attributes") if c not in header]
    if missing:
        raise FormatError(
            path,
            "header",
            f"not a VIA region CSV: no {', '.join(missing)} column (VIA writes {', '.join(VIA_CSV_COLUMNS)})",
        )
    problems: list[Problem] = []
    metadata: dict[str, dict[str, Any]] = {}
    for n, cells in enumerate(rows[1:], start=2):
        row = dict(zip(header, cells, strict=False))  # a short row leaves its last columns empty
        name = (row.get("filename") or "").strip()
        if not name:
            problems.append(Problem(str(path), f"line {n}", "no filename; skipped"))
            continue
        entry = metadata.setdefault(
            f"{name}{(row.get('file_size') or '').strip()}",
            {"filename": name, "size": (row.get("file_size") or "-1").strip(), "regions": [], "file_attributes": {}},
        )
        try:
            entry["file_attributes"].update(_json_cell(row.get("file_attributes")))
            shape = _json_cell(row.get("region_shape_attributes"))
            attributes = _json_cell(row.get("region_attributes"))
        except (ValueError, TypeError) as exc:
            problems.append(Problem(str(path), f"line {n}", f"{exc}; skipped"))
            entry["dropped"] = True
            continue
        if shape:
            entry["regions"].append({"shape_attributes": shape, "region_attributes": attributes})
    dropped = {key for key, entry in metadata.items() if entry.pop("dropped", False)}
    with tempfile.TemporaryDirectory(prefix="rop-via-csv-") as tmp:
        converted = Path(tmp) / path.with_suffix(".json").name
        converted.write_text(json.dumps(metadata), encoding="utf-8")
        items, more = read_via_items(converted, sizes) if metadata else ([], [])
    for item in items:
        item.path = str(path)
        item.regions_dropped = item.regions_dropped or item.where[2:-2] in dropped
    problems += [Problem(str(path), p.where, p.message, p.severity) for p in more]
    return items, problems


def _json_cell(text: str | None) -> dict[str, Any]:
    """A VIA CSV cell of JSON (``{}`` when empty); ValueError when it is not JSON, TypeError when
    not an object."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"a cell is not JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise TypeError("a cell must be a JSON object")
    return value


def csv_rows(path: Path) -> list[list[str]]:
    """The rows of a UTF-8 CSV (BOM allowed); :class:`FormatError` when it cannot be read."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except UnicodeDecodeError as exc:
        raise FormatError(path, "", f"not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise FormatError(path, "", f"not a readable CSV ({exc})") from exc


def read_labelme_items(path: Path) -> tuple[list[ReadItem], list[Problem]]:
    """One labelme file, or every ``*.json`` of a folder (a broken file refuses that file only)."""
    items, problems = [], []
    files = labelme_files(path)
    for json_path in files:
        try:
            doc = read_labelme(json_path)
        except FormatError as exc:
            if len(files) == 1:
                raise
            problems.append(Problem(exc.path, exc.where or "file", exc.message + "; file refused"))
            continue
        problems.extend(doc.problems)
        name = Path(doc.image_path.replace("\\", "/")).name if doc.image_path else json_path.with_suffix(".png").name
        item = ReadItem(name, str(json_path), "file", attributes=doc.attributes(), hw=doc.hw)
        item.regions_dropped = any(p.severity == "error" for p in doc.problems)
        for k, shape in enumerate(doc.shapes):
            try:
                geom = shape.geometry()
            except ValueError as exc:
                problems.append(Problem(str(json_path), f"shapes[{k}]", f"{exc}; not imported"))
                item.regions_dropped = True
                continue
            if geom is None:
                problems.append(
                    Problem(
                        str(json_path), f"shapes[{k}]", f"a {shape.shape_type} has no area; not imported", "warning"
                    )
                )
                item.regions_dropped = True
                continue
            repairs = polygon_repairs(shape.points) if shape.shape_type == "polygon" else []
            item.regions.append(ReadRegion(geom, shape.attributes(), f"shapes[{k}]", repairs))
        items.append(item)
    return items, problems


# ---------------------------------------------------------------------------- COCO
def _coco_geometry(segmentation: Any, hw: tuple[int, int] | None, repairs: list[str]) -> Polygon | MultiPolygon | str:
    """Polygon list or RLE → geometry (file convention), or the problem text; what reading the
    polygons repaired goes into ``repairs``."""
    if isinstance(segmentation, list):
        parts = []
        for flat in segmentation:
            if not isinstance(flat, list) or not all(shapes.is_number(v) for v in flat) or len(flat) % 2:
                return "a polygon must be a flat list [x1, y1, x2, y2, ...] of numbers"
            if len(flat) < 6:
                return f"polygon with {len(flat) // 2} points (needs at least 3)"
            points = list(zip(flat[0::2], flat[1::2], strict=True))
            repairs += polygon_repairs(points)
            parts.append(shapes.polygon(points))
        if not parts:
            return "empty segmentation"
        return MultiPolygon([g for p in parts for g in clean_polygons(p)])
    if isinstance(segmentation, Mapping) and "counts" in segmentation and "size" in segmentation:
        size = segmentation["size"]
        if hw is not None and list(size) != [hw[0], hw[1]]:
            return f"RLE of size {size} for an image of {hw[0]}x{hw[1]} (height x width)"
        try:
            rle = (
                coco_mask.frPyObjects(dict(segmentation), *size)
                if isinstance(segmentation["counts"], list)
                else {"size": list(size), "counts": str(segmentation["counts"]).encode()}
            )
            mask = coco_mask.decode(rle)
        except (TypeError, ValueError) as exc:
            return f"RLE cannot be decoded ({exc})"
        return MultiPolygon(mask_to_polygons(mask, min_area=1.0))
    return "segmentation must be a list of polygons or an RLE {counts, size}"


def _declared_hw(image: Mapping[str, Any]) -> tuple[int, int] | None:
    """(height, width) a COCO image entry declares, when both are numbers."""
    w, h = image.get("width"), image.get("height")
    if isinstance(w, int | float) and isinstance(h, int | float) and shapes.is_number(w) and shapes.is_number(h):
        return int(h), int(w)
    return None


def read_coco_items(path: Path) -> tuple[list[ReadItem], list[Problem]]:
    data = read_json_object(path)
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise FormatError(path, key, "missing or not a list: not a COCO instance file")
    problems: list[Problem] = []
    categories = {c.get("id"): str(c.get("name", "")) for c in data.get("categories") or [] if isinstance(c, Mapping)}
    items: dict[Any, ReadItem] = {}
    for k, image in enumerate(data["images"]):
        if not isinstance(image, Mapping) or "id" not in image or not isinstance(image.get("file_name"), str):
            problems.append(Problem(str(path), f"images[{k}]", "needs an id and a file_name; skipped"))
            continue
        hw = _declared_hw(image)
        grade = image.get("grade")
        attrs: dict[str, Any] = dict(grade) if isinstance(grade, Mapping) else {}
        items[image["id"]] = ReadItem(image["file_name"], str(path), f"images[{k}]", attributes=attrs, hw=hw)
    for k, ann in enumerate(data["annotations"]):
        where = f"annotations[{k}]"
        if not isinstance(ann, Mapping) or ann.get("image_id") not in items:
            problems.append(Problem(str(path), where, "its image_id is not in 'images'; skipped"))
            continue
        item = items[ann["image_id"]]
        repairs: list[str] = []
        geom = _coco_geometry(ann.get("segmentation"), item.hw, repairs)
        if isinstance(geom, str):
            problems.append(Problem(str(path), where, geom + "; skipped"))
            item.regions_dropped = True
            continue
        attrs = dict(ann.get("attributes") or {}) if isinstance(ann.get("attributes"), Mapping) else {}
        attrs.setdefault("label", categories.get(ann.get("category_id"), ""))
        item.regions.append(ReadRegion(geom, attrs, where, repairs))
    return list(items.values()), problems


# ---------------------------------------------------------------------------- masks
def read_mask_items(folder: Path, mapping: AttributeMapping) -> tuple[list[ReadItem], list[Problem]]:
    """A folder of masks named like their images (``1.png`` for ``1.jpg``; ``1_mask.png`` too).

    A single-channel mask with values up to :data:`MAX_LABEL_VALUE` is a label mask: value v is
    its own outline, lesion type from the mapping (``"2": "lesion_type=ridge"``) or
    :data:`LABEL_VALUE_LESIONS`; any other mask is binarised (lesion type of ``"mask"``).
    """
    if not folder.is_dir():
        raise FormatError(folder, "", "a mask import needs a folder of PNG masks")
    items, problems = [], []
    for file in sorted(p for p in folder.iterdir() if p.suffix.lower() in MASK_SUFFIXES):
        raw = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
        if raw is None:
            problems.append(Problem(str(file), "file", "not a readable image; skipped"))
            continue
        stem = file.stem[:-5] if file.stem.lower().endswith("_mask") else file.stem
        item = ReadItem(stem, str(file), "mask", hw=(int(raw.shape[0]), int(raw.shape[1])))
        values = np.unique(raw) if raw.ndim == 2 else np.array([], raw.dtype)
        if raw.ndim == 2 and 1 < values.max(initial=0) <= MAX_LABEL_VALUE:
            layers = [(int(v), raw == v) for v in values if v]
        else:
            layers = [(0, raw)]
        for value, layer in layers:
            default = LABEL_VALUE_LESIONS.get(value, mapping.lesion_of_value("mask", LABEL_VALUE_LESIONS[1]))
            lesion = mapping.lesion_of_value(str(value), default) if value else default
            for k, poly in enumerate(mask_to_polygons(layer)):
                item.regions.append(ReadRegion(poly, {"lesion_type": lesion.value}, f"value {value} part {k}"))
        items.append(item)
    return items, problems


# ---------------------------------------------------------------------------- grades CSV
def read_grades_csv(path: Path, mapping: AttributeMapping | None = None) -> tuple[list[ReadItem], list[Problem]]:
    """A grades CSV in either layout (:mod:`.grades_csv`): one item per (row, grader) with
    grade values; a row with a value its field does not take is an error and none of it is read."""
    return read_grades_table(path, csv_rows(path), mapping or AttributeMapping())
