"""labelme 5.x and X-AnyLabeling JSON: one file per image.

Layout (labelme 5.x)::

    {"version": "5.5.0", "flags": {"rop": true},
     "shapes": [{"label": "ridge", "points": [[x, y], ...], "group_id": null, "description": "",
                 "shape_type": "polygon", "flags": {}, "mask": null}, ...],
     "imagePath": "../images/1.png", "imageData": null | "<base64>",
     "imageHeight": 480, "imageWidth": 640}

``shape_type`` is ``polygon`` (≥ 3 points), ``rectangle`` (2 corners; X-AnyLabeling writes 4),
``circle`` (centre and a point on the circle), ``line`` (2), ``linestrip`` (≥ 2), ``point``,
``points``, ``mask`` (2 corners + a base64 PNG of the box) or X-AnyLabeling's ``rotation``
(4 corners). Keys this module does not know (X-AnyLabeling's ``attributes``, ``difficult``,
``score``, ...) are kept and written back. ``imagePath`` is relative to the JSON file.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from shapely import affinity
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from training.data.io import image_hw
from training.formats import shapes
from training.formats.convert import AnnotatedImage, ConversionResult, lesion_of, polygons_of, stage_of, write_snapshot
from training.formats.errors import FormatError, Problem, read_json_object
from training.formats.masks import clean_polygons, mask_to_polygons, polygon_rings
from training.snapshot import LinkMode, Snapshot, SnapshotPolygon, SnapshotRecord

LABELME_VERSION = "5.5.0"
#: shape_type → (fewest points, most points or None)
SHAPE_POINTS: dict[str, tuple[int, int | None]] = {
    "polygon": (3, None),
    "rectangle": (2, 4),
    "rotation": (4, 4),
    "circle": (2, 2),
    "line": (2, 2),
    "linestrip": (2, None),
    "point": (1, 1),
    "points": (1, None),
    "mask": (2, 2),
}
_SHAPE_KEYS = ("label", "points", "group_id", "description", "shape_type", "flags", "mask")
_TOP_KEYS = ("version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth")
_STAGE_FLAG = re.compile(r"^stage[\s_-]*(\w+)$", re.IGNORECASE)


@dataclass
class LabelmeShape:
    """One labelme shape (points in image pixels)."""

    label: str
    points: list[tuple[float, float]]
    shape_type: str = "polygon"
    group_id: int | None = None
    flags: dict[str, bool] = field(default_factory=dict)
    description: str = ""
    mask: str | None = None  #: base64 PNG of the box between the 2 points (shape_type "mask")
    extra: dict[str, Any] = field(default_factory=dict)  #: keys of other tools, kept as they are

    def geometry(self, line_width: float = shapes.DEFAULT_LINE_WIDTH) -> BaseGeometry | None:
        """The shape as a shapely area (lines buffered to ``line_width``); None for points."""
        pts = self.points
        kind = self.shape_type
        if kind == "polygon" or kind == "rotation" or (kind == "rectangle" and len(pts) == 4):
            return shapes.polygon(pts)
        if kind == "rectangle":
            return shapes.rect(*pts[0], *pts[1])
        if kind == "circle":
            (cx, cy), (px, py) = pts
            r = math.hypot(px - cx, py - cy)
            return shapes.ellipse(cx, cy, r, r)
        if kind in ("line", "linestrip"):
            return shapes.line_area(pts, line_width)
        if kind == "mask" and self.mask:
            box = cv2.imdecode(np.frombuffer(base64.b64decode(self.mask), np.uint8), cv2.IMREAD_UNCHANGED)
            if box is None:
                raise ValueError("mask is not a base64 PNG")
            x0, y0 = int(min(pts[0][0], pts[1][0])), int(min(pts[0][1], pts[1][1]))
            parts = mask_to_polygons(box, min_area=0.0)
            return affinity.translate(MultiPolygon(parts), x0, y0) if parts else None
        return None

    def attributes(self) -> dict[str, Any]:
        """Region attributes: X-AnyLabeling's ``attributes`` plus true shape flags (``stage_2`` → stage 2)."""
        attrs = dict(self.extra.get("attributes") or {}) if isinstance(self.extra.get("attributes"), Mapping) else {}
        for name, on in self.flags.items():
            m = _STAGE_FLAG.match(name)
            if on and m:
                attrs.setdefault("stage", m.group(1))
        attrs["label"] = self.label
        return attrs

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "points": [[float(x), float(y)] for x, y in self.points],
            "group_id": self.group_id,
            "description": self.description,
            "shape_type": self.shape_type,
            "flags": dict(self.flags),
            "mask": self.mask,
            **self.extra,
        }


@dataclass
class LabelmeFile:
    """One parsed labelme file and the problems met in it."""

    image_path: str
    shapes: list[LabelmeShape] = field(default_factory=list)
    flags: dict[str, bool] = field(default_factory=dict)
    image_height: int | None = None
    image_width: int | None = None
    image_data: str | None = None  #: base64 of the encoded image, when embedded
    version: str = LABELME_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def hw(self) -> tuple[int, int] | None:
        if self.image_height and self.image_width:
            return self.image_height, self.image_width
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "flags": dict(self.flags),
            "shapes": [s.to_json() for s in self.shapes],
            "imagePath": self.image_path,
            "imageData": self.image_data,
            "imageHeight": self.image_height,
            "imageWidth": self.image_width,
            **self.extra,
        }

    def attributes(self) -> dict[str, Any]:
        """Image-level attributes from the flags: ``rop``, ``stage_N``, ``ungradable``, others as they are."""
        attrs: dict[str, Any] = {}
        for name, on in self.flags.items():
            m = _STAGE_FLAG.match(name)
            if m:
                if on:
                    attrs["stage"] = m.group(1)
            elif name.lower() in ("ungradable", "gradable"):
                if on:
                    attrs["quality"] = name.lower()
            else:
                attrs[name] = on
        return attrs


# --------------------------------------------------------------------------- reading


def _points(value: Any) -> list[tuple[float, float]] | str:
    if not isinstance(value, list):
        return f"points must be a list of [x, y], got {type(value).__name__}"
    out = []
    for k, pt in enumerate(value):
        if not isinstance(pt, (list, tuple)) or len(pt) != 2 or not all(shapes.is_number(v) for v in pt):
            return f"points[{k}] must be [x, y] with finite numbers, got {pt!r}"
        out.append((float(pt[0]), float(pt[1])))
    return out


def _parse_shape(
    obj: Any, where: str, path: str, hw: tuple[int, int] | None, problems: list[Problem]
) -> LabelmeShape | None:
    if not isinstance(obj, Mapping):
        problems.append(Problem(path, where, f"a shape must be an object, got {type(obj).__name__}; skipped"))
        return None
    kind = obj.get("shape_type") or "polygon"  # labelme < 4 had no shape_type: polygons
    if kind not in SHAPE_POINTS:
        problems.append(
            Problem(path, where, f"unknown shape_type {kind!r} (expected {', '.join(SHAPE_POINTS)}); skipped")
        )
        return None
    pts = _points(obj.get("points"))
    if isinstance(pts, str):
        problems.append(Problem(path, where, pts + "; skipped"))
        return None
    if kind == "polygon" and len(pts) > 3 and pts[0] == pts[-1]:
        pts = pts[:-1]
    low, high = SHAPE_POINTS[kind]
    if len(pts) < low or (high is not None and len(pts) > high) or (kind == "rectangle" and len(pts) == 3):
        need = str(low) if low == high else ("2 or 4" if kind == "rectangle" else f"at least {low}")
        problems.append(
            Problem(path, where, f"{kind} with {len(pts)} point{'s' if len(pts) != 1 else ''} (needs {need}); skipped")
        )
        return None
    label = obj.get("label")
    if not isinstance(label, str):
        problems.append(Problem(path, where, f"label must be a string, got {label!r}; left empty", "warning"))
        label = ""
    group_id = obj.get("group_id")
    if group_id is not None and not (isinstance(group_id, int) and not isinstance(group_id, bool)):
        problems.append(
            Problem(path, where, f"group_id must be an integer or null, got {group_id!r}; dropped", "warning")
        )
        group_id = None
    flags = obj.get("flags") or {}
    if not isinstance(flags, Mapping):
        problems.append(Problem(path, where, "flags must be an object; ignored", "warning"))
        flags = {}
    mask = obj.get("mask")
    if kind == "mask" and not isinstance(mask, str):
        problems.append(Problem(path, where, "mask shape without its base64 'mask' image; skipped"))
        return None
    shape = LabelmeShape(
        label,
        pts,
        kind,
        group_id,
        {str(k): bool(v) for k, v in flags.items()},
        str(obj.get("description") or ""),
        mask if isinstance(mask, str) else None,
        {k: v for k, v in obj.items() if k not in _SHAPE_KEYS},
    )
    if kind == "circle":
        (cx, cy), (px, py) = pts
        r = math.hypot(px - cx, py - cy)
        if r <= 0:
            problems.append(Problem(path, where, "circle with radius 0; skipped"))
            return None
        check = [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    else:
        check = pts
    bounds = shapes.bounds_problem(check, hw)
    if bounds is not None:
        message, all_out = bounds
        problems.append(
            Problem(path, where, message + ("; skipped" if all_out else ""), "error" if all_out else "warning")
        )
        if all_out:
            return None
    return shape


def _dimension(value: Any, key: str, path: str, problems: list[Problem]) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    problems.append(Problem(path, key, f"must be a positive integer, got {value!r}; ignored", "warning"))
    return None


def read_labelme(path: str | Path) -> LabelmeFile:
    """Read a labelme / X-AnyLabeling JSON file.

    Raises :class:`FormatError` when it is not JSON or has no ``shapes`` list; each bad shape is
    reported in ``problems`` (``shapes[3]: polygon with 2 points (needs at least 3); skipped``)
    and left out. Shapes outside ``imageWidth`` x ``imageHeight`` are reported too.
    """
    p = Path(path)
    data = read_json_object(p)
    if not isinstance(data.get("shapes"), list):
        raise FormatError(p, "shapes", "missing or not a list: not a labelme file")
    problems: list[Problem] = []
    image_path = data.get("imagePath")
    if not isinstance(image_path, str):
        problems.append(Problem(str(p), "imagePath", f"must be a string, got {image_path!r}", "warning"))
        image_path = ""
    image_data = data.get("imageData")
    if image_data is not None and not isinstance(image_data, str):
        problems.append(Problem(str(p), "imageData", "must be base64 text or null; ignored", "warning"))
        image_data = None
    flags = data.get("flags") or {}
    if not isinstance(flags, Mapping):
        problems.append(Problem(str(p), "flags", "must be an object; ignored", "warning"))
        flags = {}
    doc = LabelmeFile(
        image_path=image_path.replace("\\", "/"),
        flags={str(k): bool(v) for k, v in flags.items()},
        image_height=_dimension(data.get("imageHeight"), "imageHeight", str(p), problems),
        image_width=_dimension(data.get("imageWidth"), "imageWidth", str(p), problems),
        image_data=image_data,
        version=str(data.get("version") or LABELME_VERSION),
        extra={k: v for k, v in data.items() if k not in _TOP_KEYS},
        problems=problems,
    )
    for k, obj in enumerate(data["shapes"]):
        shape = _parse_shape(obj, f"shapes[{k}]", str(p), doc.hw, problems)
        if shape is not None:
            doc.shapes.append(shape)
    return doc


# --------------------------------------------------------------------------- writing


def write_labelme(doc: LabelmeFile, path: str | Path) -> None:
    """Write a labelme 5.x JSON file (what labelme and X-AnyLabeling open)."""
    Path(path).write_text(json.dumps(doc.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")


def snapshot_to_labelme(snapshot: Snapshot, record: SnapshotRecord, json_path: str | Path) -> LabelmeFile:
    """A labelme file for one snapshot record, to be written at ``json_path``.

    Polygons become polygon shapes labelled with their lesion type (stage as a ``stage_N`` shape
    flag); the image's ROP label and stage become ``rop`` / ``stage_N`` image flags. labelme has
    no holes: they are left out with a warning in ``problems``.
    """
    image = snapshot.image_path(record)
    h, w = image_hw(image)
    rel = os.path.relpath(image.resolve(), Path(json_path).resolve().parent).replace(os.sep, "/")
    flags: dict[str, bool] = {}
    if record.label_binary is not None:
        flags["rop"] = bool(record.label_binary)
    if record.stage is not None:
        flags[f"stage_{record.stage}"] = True
    doc = LabelmeFile(image_path=rel, flags=flags, image_height=h, image_width=w)
    for k, poly in enumerate(polygons_of(snapshot, record)):
        if len(poly.rings) > 1:
            doc.problems.append(
                Problem(
                    record.id,
                    f"polygons[{k}]",
                    f"{len(poly.rings) - 1} hole(s) left out: labelme polygons have no holes",
                    "warning",
                )
            )
        doc.shapes.append(
            LabelmeShape(
                poly.lesion_type or "demarcation_line",
                list(poly.rings[0]),
                "polygon",
                flags={f"stage_{poly.stage}": True} if poly.stage else {},
            )
        )
    return doc


# --------------------------------------------------------------------------- to snapshot


def _shape_polygons(
    doc: LabelmeFile, path: str, line_width: float, min_area: float, problems: list[Problem]
) -> list[SnapshotPolygon]:
    out: list[SnapshotPolygon] = []
    for k, shape in enumerate(doc.shapes):
        where = f"shapes[{k}]"
        try:
            geom = shape.geometry(line_width)
        except (ValueError, binascii.Error) as exc:
            problems.append(Problem(path, where, f"{exc}; not imported"))
            continue
        if geom is None:
            problems.append(Problem(path, where, f"a {shape.shape_type} shape has no area; not imported", "warning"))
            continue
        if doc.hw is not None:
            geom = shapes.clip_to_image(geom, doc.hw)
        parts = clean_polygons(geom, min_area)
        if not parts:
            problems.append(
                Problem(
                    path,
                    where,
                    f"{shape.shape_type} encloses less than {min_area:g} px² inside the image; not imported",
                )
            )
        attrs = shape.attributes()
        out.extend(SnapshotPolygon(polygon_rings(p), lesion_of(attrs), stage_of(attrs)) for p in parts)
    return out


def labelme_files(source: str | Path | Iterable[str | Path]) -> list[Path]:
    """The JSON files of a folder (sorted), or the given files."""
    if isinstance(source, (str, Path)):
        p = Path(source)
        return sorted(p.glob("*.json")) if p.is_dir() else [p]
    return [Path(s) for s in source]


def labelme_to_snapshot(
    source: str | Path | Iterable[str | Path],
    out_folder: str | Path,
    *,
    line_width: float = shapes.DEFAULT_LINE_WIDTH,
    min_area: float = 1.0,
    fields: Mapping[str, Mapping[str, Any]] | None = None,
    label_from_polygons: bool = False,
    link: LinkMode = "auto",
) -> ConversionResult:
    """Write a snapshot from labelme files (a folder of ``*.json`` or a list of files).

    The image is ``imagePath`` next to the JSON file, else the embedded ``imageData``. A file
    that is not labelme JSON, a missing image or a bad shape is reported in ``problems``; the
    rest is imported.
    """
    problems: list[Problem] = []
    items = []
    for json_path in labelme_files(source):
        try:
            doc = read_labelme(json_path)
        except FormatError as exc:
            problems.append(Problem(exc.path, exc.where or "file", exc.message + "; file skipped"))
            continue
        problems.extend(doc.problems)
        polys = _shape_polygons(doc, str(json_path), line_width, min_area, problems)
        image = (json_path.parent / doc.image_path) if doc.image_path else None
        data = None
        if doc.image_data and (image is None or not image.is_file()):
            try:
                data = base64.b64decode(doc.image_data, validate=True)
            except (binascii.Error, ValueError):
                problems.append(Problem(str(json_path), "imageData", "is not valid base64; ignored"))
        items.append(
            AnnotatedImage(
                str(json_path),
                "file",
                image,
                data,
                polys,
                doc.attributes(),
                id=json_path.stem if image is None or not image.is_file() else None,
            )
        )
    return write_snapshot(
        items, out_folder, problems, fields=fields, label_from_polygons=label_from_polygons, link=link
    )
