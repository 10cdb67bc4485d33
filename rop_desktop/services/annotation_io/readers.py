"""Annotation files → :class:`ReadItem` lists, one reader per format.

VIA and labelme are parsed by ``training.formats`` (the one parser the app and training share);
this module only turns their objects into items. COCO, mask folders and grade CSVs are read
here. A whole file that cannot be read raises :class:`training.formats.errors.FormatError`;
everything inside a readable file is reported per item as a ``Problem`` and the rest is read.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as coco_mask
from shapely.geometry import MultiPolygon, Polygon

from training.formats import shapes
from training.formats.errors import FormatError, Problem, read_json_object
from training.formats.labelme import labelme_files, read_labelme
from training.formats.masks import mask_to_polygons
from training.formats.via import read_via

from .model import LABEL_VALUE_LESIONS, AttributeMapping, ReadItem, ReadRegion

Sizes = Mapping[str, tuple[int, int]]  # image file name → (height, width)
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")
#: A single-channel mask whose largest value is at most this is a label mask (values = classes).
MAX_LABEL_VALUE = 16


def read_via_items(path: Path, sizes: Sizes) -> tuple[list[ReadItem], list[Problem]]:
    project = read_via(path, image_sizes=sizes)
    problems = list(project.problems)
    items = []
    for image in project.images:
        where = f"[{image.key!r}]"
        item = ReadItem(image.filename, str(path), where, attributes=dict(image.file_attributes))
        for k, region in enumerate(image.regions):
            geom = region.geometry()
            if geom is None:
                problems.append(Problem(str(path), f"{where}.regions[{k}]", "a point has no area; not imported",
                                        "warning"))
                continue
            item.regions.append(ReadRegion(geom, dict(region.attributes), f"{where}.regions[{k}]"))
        items.append(item)
    return items, problems


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
        name = Path(doc.image_path).name if doc.image_path else json_path.with_suffix(".png").name
        item = ReadItem(name, str(json_path), "file", attributes=doc.attributes(), hw=doc.hw)
        for k, shape in enumerate(doc.shapes):
            try:
                geom = shape.geometry()
            except ValueError as exc:
                problems.append(Problem(str(json_path), f"shapes[{k}]", f"{exc}; not imported"))
                continue
            if geom is None:
                problems.append(Problem(str(json_path), f"shapes[{k}]",
                                        f"a {shape.shape_type} has no area; not imported", "warning"))
                continue
            item.regions.append(ReadRegion(geom, shape.attributes(), f"shapes[{k}]"))
        items.append(item)
    return items, problems


# ---------------------------------------------------------------------------- COCO
def _coco_geometry(segmentation: Any, hw: tuple[int, int] | None) -> Polygon | MultiPolygon | str:
    """Polygon list or RLE → geometry (file convention), or the problem text."""
    if isinstance(segmentation, list):
        parts = []
        for flat in segmentation:
            if not isinstance(flat, list) or not all(shapes.is_number(v) for v in flat) or len(flat) % 2:
                return "a polygon must be a flat list [x1, y1, x2, y2, ...] of numbers"
            if len(flat) < 6:
                return f"polygon with {len(flat) // 2} points (needs at least 3)"
            parts.append(shapes.polygon(list(zip(flat[0::2], flat[1::2]))))
        if not parts:
            return "empty segmentation"
        return MultiPolygon([g for p in parts for g in getattr(p, "geoms", [p]) if isinstance(g, Polygon)])
    if isinstance(segmentation, Mapping) and "counts" in segmentation and "size" in segmentation:
        size = segmentation["size"]
        if hw is not None and list(size) != [hw[0], hw[1]]:
            return f"RLE of size {size} for an image of {hw[0]}x{hw[1]} (height x width)"
        try:
            rle = (coco_mask.frPyObjects(dict(segmentation), *size) if isinstance(segmentation["counts"], list)
                   else {"size": list(size), "counts": str(segmentation["counts"]).encode()})
            mask = coco_mask.decode(rle)
        except (TypeError, ValueError) as exc:
            return f"RLE cannot be decoded ({exc})"
        return MultiPolygon(mask_to_polygons(mask, min_area=1.0))
    return "segmentation must be a list of polygons or an RLE {counts, size}"


def read_coco_items(path: Path) -> tuple[list[ReadItem], list[Problem]]:
    data = read_json_object(path)
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise FormatError(path, key, "missing or not a list: not a COCO instance file")
    problems: list[Problem] = []
    categories = {c.get("id"): str(c.get("name", "")) for c in data.get("categories") or []
                  if isinstance(c, Mapping)}
    items: dict[Any, ReadItem] = {}
    for k, image in enumerate(data["images"]):
        if not isinstance(image, Mapping) or "id" not in image or not isinstance(image.get("file_name"), str):
            problems.append(Problem(str(path), f"images[{k}]", "needs an id and a file_name; skipped"))
            continue
        w, h = image.get("width"), image.get("height")
        hw = (int(h), int(w)) if shapes.is_number(w) and shapes.is_number(h) else None
        attrs = image.get("grade") if isinstance(image.get("grade"), Mapping) else {}
        items[image["id"]] = ReadItem(image["file_name"], str(path), f"images[{k}]", attributes=dict(attrs), hw=hw)
    for k, ann in enumerate(data["annotations"]):
        where = f"annotations[{k}]"
        if not isinstance(ann, Mapping) or ann.get("image_id") not in items:
            problems.append(Problem(str(path), where, "its image_id is not in 'images'; skipped"))
            continue
        item = items[ann["image_id"]]
        geom = _coco_geometry(ann.get("segmentation"), item.hw)
        if isinstance(geom, str):
            problems.append(Problem(str(path), where, geom + "; skipped"))
            continue
        attrs = dict(ann.get("attributes") or {}) if isinstance(ann.get("attributes"), Mapping) else {}
        attrs.setdefault("label", categories.get(ann.get("category_id"), ""))
        item.regions.append(ReadRegion(geom, attrs, where))
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
def read_grades_csv(path: Path) -> tuple[list[ReadItem], list[Problem]]:
    """Rows ``image, grader, <grade fields>...``; a row without an image is reported."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fields = [f.strip().lower() for f in reader.fieldnames or []]
            if "image" not in fields:
                raise FormatError(path, "header", f"needs an 'image' column, has {', '.join(fields) or 'none'}")
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise FormatError(path, "", f"not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise FormatError(path, "", f"not a readable CSV ({exc})") from exc
    items, problems = [], []
    for n, row in enumerate(rows, start=2):
        row = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        if not row.get("image"):
            problems.append(Problem(str(path), f"line {n}", "no image named; skipped"))
            continue
        attrs = {k: v for k, v in row.items() if k not in ("image", "grader")}
        items.append(ReadItem(row["image"], str(path), f"line {n}", attributes=attrs, grader=row.get("grader") or None))
    return items, problems
