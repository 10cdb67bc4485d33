"""VGG Image Annotator (VIA) 2.0.x: project files and "region data" JSON exports.

A VIA 2 *project* (Project → Save) is::

    {"_via_settings": {...}, "_via_img_metadata": {KEY: IMAGE, ...},
     "_via_attributes": {"region": {...}, "file": {...}},
     "_via_data_format_version": "2.0.10", "_via_image_id_list": [KEY, ...]}

and a *region data export* (Annotation → Export annotations (as json)) is the
``_via_img_metadata`` object alone. ``KEY`` is the file name followed by its size in bytes
(``"1.png123456"``); an IMAGE is ``{"filename", "size", "regions": [...], "file_attributes": {...}}``
and a region ``{"shape_attributes": {"name": ..., ...}, "region_attributes": {...}}`` with
``name`` one of ``polygon`` / ``polyline`` (``all_points_x``, ``all_points_y``), ``rect``
(``x, y, width, height``), ``circle`` (``cx, cy, r``), ``ellipse`` (``cx, cy, rx, ry``, optional
``theta`` in radians) or ``point`` (``cx, cy``). VIA 1.x kept ``regions`` as an object keyed
"0", "1", ...; that is read too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapely.geometry.base import BaseGeometry

from training.data.io import ImageReadError, image_hw
from training.formats import shapes
from training.formats.convert import AnnotatedImage, ConversionResult, lesion_of, polygons_of, stage_of, write_snapshot
from training.formats.errors import FormatError, Problem, read_json_object
from training.formats.masks import clean_polygons, polygon_rings
from training.snapshot import LinkMode, Snapshot, SnapshotPolygon

VIA_VERSION = "2.0.10"
SHAPES: tuple[str, ...] = ("polygon", "polyline", "rect", "circle", "ellipse", "point")
_NUMBERS: dict[str, tuple[str, ...]] = {
    "rect": ("x", "y", "width", "height"),
    "circle": ("cx", "cy", "r"),
    "ellipse": ("cx", "cy", "rx", "ry"),
    "point": ("cx", "cy"),
}
_POSITIVE = {"rect": ("width", "height"), "circle": ("r",), "ellipse": ("rx", "ry")}


@dataclass
class ViaRegion:
    """One region: its shape name, the shape's numbers, and its region attributes."""

    shape: str
    params: dict[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)

    def vertices(self) -> list[tuple[float, float]]:
        """Polygon / polyline vertices; the bounding-box corners of other shapes."""
        p = self.params
        if self.shape in ("polygon", "polyline"):
            return [(float(x), float(y)) for x, y in zip(p["all_points_x"], p["all_points_y"], strict=True)]
        if self.shape == "point":
            return [(float(p["cx"]), float(p["cy"]))]
        area = self.geometry()
        if area is None:  # only a shape name outside SHAPES, which reading refuses
            raise ValueError(f"VIA shape {self.shape!r} has no vertices")
        x0, y0, x1, y1 = area.bounds
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]

    def geometry(self, line_width: float = shapes.DEFAULT_LINE_WIDTH) -> BaseGeometry | None:
        """The region as a shapely area (polylines buffered to ``line_width``); None for a point."""
        p = self.params
        if self.shape == "polygon":
            return shapes.polygon(self.vertices())
        if self.shape == "polyline":
            return shapes.line_area(self.vertices(), line_width)
        if self.shape == "rect":
            return shapes.rect(p["x"], p["y"], p["x"] + p["width"], p["y"] + p["height"])
        if self.shape == "circle":
            return shapes.ellipse(p["cx"], p["cy"], p["r"], p["r"])
        if self.shape == "ellipse":
            return shapes.ellipse(p["cx"], p["cy"], p["rx"], p["ry"], float(p.get("theta", 0.0)))
        return None

    def to_json(self) -> dict[str, Any]:
        return {"shape_attributes": {"name": self.shape, **self.params}, "region_attributes": dict(self.attributes)}

    @classmethod
    def polygon(cls, points: list[tuple[float, float]], attributes: Mapping[str, Any] | None = None) -> ViaRegion:
        """A polygon region from ``[(x, y), ...]`` (coordinates rounded as VIA keeps integers)."""
        return cls(
            "polygon",
            {"all_points_x": [round(x) for x, _ in points], "all_points_y": [round(y) for _, y in points]},
            dict(attributes or {}),
        )


@dataclass
class ViaImage:
    """One image entry of ``_via_img_metadata``."""

    filename: str
    size: int = -1
    regions: list[ViaRegion] = field(default_factory=list)
    file_attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.filename}{self.size}"

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "size": self.size,
            "regions": [r.to_json() for r in self.regions],
            "file_attributes": dict(self.file_attributes),
        }


@dataclass
class ViaProject:
    """A parsed VIA file: its images, attribute definitions, and per-item problems."""

    images: list[ViaImage] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=lambda: {"region": {}, "file": {}})
    settings: dict[str, Any] | None = None
    version: str | None = None
    kind: str = "project"  #: "project" or "regions" (a region-data export)
    problems: list[Problem] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


def _parse_shape(sa: Any, where: str) -> tuple[str, dict[str, Any]] | str:
    """(name, params) or the problem text."""
    if not isinstance(sa, Mapping):
        return "no shape_attributes object"
    name = sa.get("name")
    if name not in SHAPES:
        return f"unknown shape {name!r} (expected {', '.join(SHAPES)})"
    params = {k: v for k, v in sa.items() if k != "name"}
    if name in ("polygon", "polyline"):
        xs, ys = params.get("all_points_x"), params.get("all_points_y")
        if not isinstance(xs, list) or not isinstance(ys, list):
            return f"{name} needs all_points_x and all_points_y lists"
        if len(xs) != len(ys):
            return f"{name} has {len(xs)} x but {len(ys)} y coordinates"
        bad = next((v for v in xs + ys if not shapes.is_number(v)), None)
        if bad is not None or any(isinstance(v, bool) for v in xs + ys):
            return f"{name} has a coordinate that is not a number: {bad!r}"
        # VIA repeats the first vertex at the end of some polygons; ignore that repeat
        n = len(xs) - (1 if name == "polygon" and len(xs) > 3 and (xs[0], ys[0]) == (xs[-1], ys[-1]) else 0)
        need = 3 if name == "polygon" else 2
        if n < need:
            return f"{name} with {n} point{'s' if n != 1 else ''} (needs at least {need})"
        return name, params
    for key in _NUMBERS[name]:
        if not shapes.is_number(params.get(key)):
            return f"{name} needs a number {key}, got {params.get(key)!r}"
    for key in _POSITIVE.get(name, ()):
        if params[key] <= 0:
            return f"{name} with {key} {params[key]!r} (must be > 0)"
    if name == "ellipse" and "theta" in params and not shapes.is_number(params["theta"]):
        return f"ellipse theta must be a number (radians), got {params['theta']!r}"
    return name, params


def _image_size(
    image_dir: Path | None, sizes: Mapping[str, tuple[int, int]] | None, filename: str
) -> tuple[int, int] | None:
    if sizes and filename in sizes:
        return sizes[filename]
    if image_dir is None:
        return None
    for candidate in (image_dir / filename, image_dir / Path(filename).name):
        if candidate.is_file():
            try:
                return image_hw(candidate)
            except ImageReadError:
                return None
    return None


def _parse_image(obj: Any, where: str, path: str, hw_of: Any, problems: list[Problem]) -> ViaImage | None:
    if not isinstance(obj, Mapping):
        problems.append(Problem(path, where, f"an image entry must be an object, got {type(obj).__name__}"))
        return None
    filename = obj.get("filename")
    if not isinstance(filename, str) or not filename:
        problems.append(Problem(path, where, "image entry without a filename; skipped"))
        return None
    size = obj.get("size", -1)
    size = int(size) if shapes.is_number(size) or (isinstance(size, str) and size.lstrip("-").isdigit()) else -1
    file_attributes = obj.get("file_attributes") or {}
    if not isinstance(file_attributes, Mapping):
        problems.append(Problem(path, f"{where}.file_attributes", "must be an object; ignored", "warning"))
        file_attributes = {}
    raw = obj.get("regions") or []
    if isinstance(raw, Mapping):  # VIA 1.x: {"0": region, "1": region}
        raw = [raw[k] for k in sorted(raw, key=lambda k: int(k) if str(k).isdigit() else 0)]
    if not isinstance(raw, list):
        problems.append(Problem(path, f"{where}.regions", "must be a list; image imported without regions"))
        raw = []
    hw = hw_of(filename)
    image = ViaImage(filename, size, [], dict(file_attributes))
    for k, region in enumerate(raw):
        rwhere = f"{where}.regions[{k}]"
        if not isinstance(region, Mapping):
            problems.append(Problem(path, rwhere, "a region must be an object; skipped"))
            continue
        parsed = _parse_shape(region.get("shape_attributes"), rwhere)
        if isinstance(parsed, str):
            problems.append(Problem(path, rwhere, parsed + "; skipped"))
            continue
        attributes = region.get("region_attributes") or {}
        if not isinstance(attributes, Mapping):
            problems.append(Problem(path, f"{rwhere}.region_attributes", "must be an object; ignored", "warning"))
            attributes = {}
        item = ViaRegion(parsed[0], parsed[1], dict(attributes))
        bounds = shapes.bounds_problem(item.vertices(), hw)
        if bounds is not None:
            message, all_out = bounds
            problems.append(
                Problem(path, rwhere, message + ("; skipped" if all_out else ""), "error" if all_out else "warning")
            )
            if all_out:
                continue
        image.regions.append(item)
    return image


def read_via(
    path: str | Path, *, image_dir: str | Path | None = None, image_sizes: Mapping[str, tuple[int, int]] | None = None
) -> ViaProject:
    """Read a VIA 2 project or region-data JSON.

    Raises :class:`FormatError` when the file is not JSON or not VIA at all; every bad image or
    region is reported in ``problems`` (with its place, e.g. ``_via_img_metadata['1.png42'].regions[3]``)
    and left out, the rest is read. With ``image_dir`` (or ``image_sizes``: file name → (h, w)),
    regions outside the image are reported too.
    """
    p = Path(path)
    data = read_json_object(p)
    project = ViaProject()
    if "_via_img_metadata" in data:
        metadata = data["_via_img_metadata"]
        prefix = "_via_img_metadata"
        if not isinstance(metadata, Mapping):
            raise FormatError(p, prefix, f"expected an object, got {type(metadata).__name__}")
        attrs = data.get("_via_attributes")
        if isinstance(attrs, Mapping):
            project.attributes = {"region": dict(attrs.get("region") or {}), "file": dict(attrs.get("file") or {})}
        settings = data.get("_via_settings")
        project.settings = dict(settings) if isinstance(settings, Mapping) else None
        version = data.get("_via_data_format_version")
        project.version = str(version) if version is not None else None
        order = data.get("_via_image_id_list")
        keys = [k for k in order if k in metadata] if isinstance(order, list) else []
        keys += [k for k in metadata if k not in keys]
    elif data and all(isinstance(v, Mapping) and ("filename" in v or "regions" in v) for v in data.values()):
        metadata, prefix, project.kind, keys = data, "", "regions", list(data)
    else:
        raise FormatError(
            p,
            "top level",
            "neither a VIA 2 project (no '_via_img_metadata') nor a VIA "
            "region-data export (an object of {'filename', 'regions', ...} entries)",
        )
    folder = Path(image_dir) if image_dir is not None else None
    for key in keys:
        where = f"{prefix}[{key!r}]" if prefix else f"[{key!r}]"
        image = _parse_image(
            metadata[key], where, str(p), lambda name: _image_size(folder, image_sizes, name), project.problems
        )
        if image is not None:
            project.images.append(image)
    return project


# --------------------------------------------------------------------------- writing


def default_settings(project_name: str = "rop", default_filepath: str = "") -> dict[str, Any]:
    """VIA 2.0.x default ``_via_settings`` (VIA expects the full structure when opening a project)."""
    return {
        "ui": {
            "annotation_editor_height": 25,
            "annotation_editor_fontsize": 0.8,
            "leftsidebar_width": 18,
            "image_grid": {
                "img_height": 80,
                "rshape_fill": "none",
                "rshape_fill_opacity": 0.3,
                "rshape_stroke": "yellow",
                "rshape_stroke_width": 2,
                "show_region_shape": True,
                "show_image_policy": "all",
            },
            "image": {
                "region_label": "__via_region_id__",
                "region_color": "__via_default_region_color__",
                "region_label_font": "10px Sans",
                "on_image_annotation_editor_placement": "NEAR_REGION",
            },
        },
        "core": {"buffer_size": 18, "filepath": {}, "default_filepath": default_filepath},
        "project": {"name": project_name},
    }


def _attribute_definitions(project: ViaProject) -> dict[str, Any]:
    """Declared attributes plus a text attribute for every key used but not declared."""
    out = {"region": dict(project.attributes.get("region", {})), "file": dict(project.attributes.get("file", {}))}
    for image in project.images:
        for key in image.file_attributes:
            out["file"].setdefault(key, {"type": "text", "description": "", "default_value": ""})
        for region in image.regions:
            for key in region.attributes:
                out["region"].setdefault(key, {"type": "text", "description": "", "default_value": ""})
    return out


def via_json(project: ViaProject, kind: str | None = None) -> dict[str, Any]:
    """The JSON object VIA 2 opens (``kind`` "project") or imports (``kind`` "regions")."""
    kind = kind or project.kind
    metadata = {image.key: image.to_json() for image in project.images}
    if kind == "regions":
        return metadata
    if kind != "project":
        raise ValueError(f"kind must be 'project' or 'regions', got {kind!r}")
    return {
        "_via_settings": project.settings or default_settings(),
        "_via_img_metadata": metadata,
        "_via_attributes": _attribute_definitions(project),
        "_via_data_format_version": VIA_VERSION,
        "_via_image_id_list": list(metadata),
    }


def write_via(project: ViaProject, path: str | Path, kind: str | None = None) -> None:
    """Write a VIA 2 project (or region-data export with ``kind="regions"``)."""
    Path(path).write_text(json.dumps(via_json(project, kind), ensure_ascii=False), encoding="utf-8")


def _str_attr(value: Any) -> str:
    return "" if value is None else str(value)


def snapshot_to_via(snapshot: Snapshot) -> ViaProject:
    """A VIA project of a snapshot's images: polygons as polygon regions (``lesion_type``, ``stage``),
    image-level labels as file attributes. VIA has no holes: they are left out with a warning."""
    project = ViaProject(settings=default_settings(default_filepath=str((snapshot.root / "images").resolve()) + "/"))
    for r in snapshot.records:
        if r.parent is not None:
            continue  # augmented copies are views of their parent's image
        path = snapshot.image_path(r)
        size = path.stat().st_size if path.is_file() else -1
        image = ViaImage(
            Path(r.image).name,
            size,
            [],
            {
                "id": r.id,
                "patient": _str_attr(r.patient),
                "eye": _str_attr(r.eye),
                "rop": _str_attr(r.label_binary),
                "stage": _str_attr(r.stage),
                "plus": _str_attr(r.plus),
                "quality": _str_attr(r.quality),
                "split": _str_attr(r.split),
            },
        )
        for k, poly in enumerate(polygons_of(snapshot, r)):
            if len(poly.rings) > 1:
                project.problems.append(
                    Problem(
                        r.id,
                        f"polygons[{k}]",
                        f"{len(poly.rings) - 1} hole(s) left out: VIA polygons have no holes",
                        "warning",
                    )
                )
            image.regions.append(
                ViaRegion.polygon(
                    poly.rings[0], {"lesion_type": _str_attr(poly.lesion_type), "stage": _str_attr(poly.stage)}
                )
            )
        project.images.append(image)
    return project


# --------------------------------------------------------------------------- to snapshot


def _region_polygons(
    image: ViaImage,
    hw: tuple[int, int] | None,
    line_width: float,
    min_area: float,
    path: str,
    where: str,
    problems: list[Problem],
) -> list[SnapshotPolygon]:
    out: list[SnapshotPolygon] = []
    for k, region in enumerate(image.regions):
        geom = region.geometry(line_width)
        if geom is None:
            problems.append(
                Problem(path, f"{where}.regions[{k}]", "a point region has no area; not imported", "warning")
            )
            continue
        if hw is not None:
            geom = shapes.clip_to_image(geom, hw)
        parts = clean_polygons(geom, min_area)
        if not parts:
            problems.append(
                Problem(
                    path,
                    f"{where}.regions[{k}]",
                    f"{region.shape} encloses less than {min_area:g} px² inside the image; not imported",
                )
            )
        out.extend(
            SnapshotPolygon(polygon_rings(part), lesion_of(region.attributes), stage_of(region.attributes))
            for part in parts
        )
    return out


def via_to_snapshot(
    path: str | Path,
    image_dir: str | Path,
    out_folder: str | Path,
    *,
    line_width: float = shapes.DEFAULT_LINE_WIDTH,
    min_area: float = 1.0,
    fields: Mapping[str, Mapping[str, Any]] | None = None,
    label_from_polygons: bool = False,
    link: LinkMode = "auto",
) -> ConversionResult:
    """Read a VIA file whose images are in ``image_dir`` and write a snapshot of it.

    File attributes named like record fields (patient, eye, rop, stage, plus, quality, split, ...)
    label the image; ``lesion_type`` / ``type`` and ``stage`` region attributes label polygons.
    Bad regions and images are reported in the result's ``problems``; the rest is imported.
    """
    folder = Path(image_dir)
    project = read_via(path, image_dir=folder)
    problems = list(project.problems)
    items = []
    for image in project.images:
        where = f"[{image.key!r}]"
        file = folder / image.filename
        if not file.is_file() and (folder / Path(image.filename).name).is_file():
            file = folder / Path(image.filename).name
        hw = _image_size(folder, None, image.filename)
        polys = _region_polygons(image, hw, line_width, min_area, str(path), where, problems)
        items.append(AnnotatedImage(str(path), where, file, None, polys, dict(image.file_attributes)))
    return write_snapshot(
        items, out_folder, problems, fields=fields, label_from_polygons=label_from_polygons, link=link
    )
