"""The record schema of dataset snapshots: vocabulary, dataclasses, and validation.

Every check gives a message that names its place (``manifest.json record 3 (id '7'): ...``);
validation collects all problems before raising, so one run shows everything to fix. The
folder, hashing and writing live in :mod:`training.snapshot`, which re-exports these names.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

STAGES: tuple[str, ...] = ("0", "1", "2", "3", "4A", "4B", "5A", "5B", "5C")
#: The 3-class stage task (paper B): stage "1" → 0, "2" → 1, "3" → 2.
STAGE3_OF: dict[str, int] = {"1": 0, "2": 1, "3": 2}
EYES: tuple[str, ...] = ("OD", "OS")
PLUS_VALUES: tuple[str, ...] = ("normal", "pre-plus", "plus")
QUALITIES: tuple[str, ...] = ("gradable", "ungradable")
SPLITS: tuple[str, ...] = ("train", "val", "test")
TASKS: tuple[str, ...] = ("binary", "stage3", "segmentation", "hybrid")
AUGMENT_KEYS: frozenset[str] = frozenset({"crop", "zoom", "hflip", "vflip"})
DEFAULT_CLASSES: dict[str, list[str]] = {
    "binary": ["no ROP", "ROP"],
    "stage3": ["stage 1", "stage 2", "stage 3"],
    "segmentation": ["demarcation line"],
}


class SnapshotError(ValueError):
    """A snapshot folder or manifest is invalid; ``problems`` lists every reason found."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            shown = self.problems[:20]
            more = len(self.problems) - len(shown)
            message = f"{len(self.problems)} problems:\n- " + "\n- ".join(shown)
            if more:
                message += f"\n- ... and {more} more"
        super().__init__(message)


def stage3_of(stage: str | None) -> int | None:
    """Class index of ``stage`` in the 3-class task (stages 1, 2, 3), else None."""
    return STAGE3_OF.get(stage) if stage is not None else None


@dataclass(frozen=True)
class SnapshotPolygon:
    """One annotated region: ``rings[0]`` the exterior, further rings holes; pixel coordinates.

    Coordinates are pixel centres (x right, y down), as OpenCV's contours and fillPoly use them.
    """

    rings: list[list[tuple[float, float]]]
    lesion_type: str | None = None
    stage: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rings": [[[float(x), float(y)] for x, y in ring] for ring in self.rings],
            "lesion_type": self.lesion_type,
            "stage": self.stage,
        }


@dataclass(frozen=True)
class SnapshotRecord:
    """One image of a snapshot and its labels (see the README for every field)."""

    id: str
    image: str
    patient: str | None = None
    eye: str | None = None
    camera: str | None = None
    exam_date: str | None = None
    label_binary: int | None = None
    stage: str | None = None
    stage3: int | None = None
    plus: str | None = None
    quality: str | None = None
    split: str | None = None
    mask: str | None = None
    polygons: list[SnapshotPolygon] = field(default_factory=list)
    graders: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str | None = None
    parent: str | None = None
    augment: dict[str, Any] | None = None
    #: the optic disc centre (and radius) and fovea centre in image pixels (pixel centres):
    #: ``{"disc": [x, y], "disc_radius": r | null, "fovea": [x, y] | null}``; null when none was placed
    landmarks: dict[str, Any] | None = None
    #: the eye at that visit: ``{"key", "grade": {...}, "treatment_class", "etrop", "method"}``; null
    #: when the image belongs to no eye-level exam (see ``training/README.md``)
    exam: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """The patient (records without one form a group of their own)."""
        return self.patient if self.patient is not None else f"\0{self.id}"

    def target(self, task: str) -> int | None:
        """The class index for ``task`` ("binary" / "stage3" / "hybrid"), None when unlabelled."""
        if task == "binary":
            return self.label_binary
        if task in ("stage3", "hybrid"):
            return self.stage3
        raise ValueError(f"task {task!r} has no class label; expected 'binary', 'stage3' or 'hybrid'")

    def replace(self, **changes: Any) -> SnapshotRecord:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "polygons":
                value = [p.to_dict() for p in value]
            if f.name in _OMITTED_WHEN_NULL and value is None:
                continue  # snapshots written before these fields keep their content hash
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "record") -> SnapshotRecord:
        """Validate one manifest record; raises :class:`SnapshotError` listing every problem."""
        record, problems = parse_record(data, where)
        if problems or record is None:
            raise SnapshotError(problems)
        return record


# --------------------------------------------------------------------------- validation

RECORD_FIELDS = {f.name for f in dataclasses.fields(SnapshotRecord)}
#: Optional record fields left out of the manifest when null (added in a later release).
_OMITTED_WHEN_NULL = ("landmarks", "exam")
#: ``exam.treatment_class`` values (the app's ETROP classes).
TREATMENT_CLASSES = ("treatment-warranted", "close follow-up", "routine", "undetermined")


def _parse_point(value: Any, key: str, where: str, problems: list[str]) -> list[float] | None:
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        problems.append(f"{where}: {key} must be [x, y] in pixels, got {value!r}")
        return None
    return [float(value[0]), float(value[1])]


def _parse_landmarks(value: Any, where: str, problems: list[str]) -> dict[str, Any] | None:
    """``landmarks``: disc and fovea centres ([x, y]) and the disc radius (pixels), each optional."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"disc", "disc_radius", "fovea"}:
        problems.append(f"{where}: landmarks must be an object with disc, disc_radius and fovea, got {value!r}")
        return None
    radius = value.get("disc_radius")
    if radius is not None and (not isinstance(radius, (int, float)) or isinstance(radius, bool) or radius <= 0):
        problems.append(f"{where}: landmarks.disc_radius must be a positive number of pixels, got {radius!r}")
        radius = None
    return {
        "disc": _parse_point(value.get("disc"), "landmarks.disc", where, problems),
        "disc_radius": None if radius is None else float(radius),
        "fovea": _parse_point(value.get("fovea"), "landmarks.fovea", where, problems),
    }


def _parse_exam(value: Any, where: str, problems: list[str]) -> dict[str, Any] | None:
    """``exam``: an object whose ``treatment_class`` (when given) is one of :data:`TREATMENT_CLASSES`."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.append(f"{where}: exam must be an object, got {type(value).__name__}")
        return None
    klass = value.get("treatment_class")
    if klass is not None and klass not in TREATMENT_CLASSES:
        problems.append(f"{where}: exam.treatment_class must be one of {list(TREATMENT_CLASSES)}, got {klass!r}")
    if not isinstance(value.get("grade", {}) or {}, Mapping):
        problems.append(f"{where}: exam.grade must be an object")
    return dict(value)


def _check_path(value: Any, key: str, where: str, problems: list[str], required: bool) -> str | None:
    if value is None:
        if required:
            problems.append(f"{where}: {key} is required")
        return None
    if not isinstance(value, str) or not value:
        problems.append(f"{where}: {key} must be a relative path string, got {value!r}")
        return None
    p = PurePosixPath(value)
    if "\\" in value or p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", value):
        problems.append(
            f"{where}: {key} must be a relative path inside the snapshot with '/' separators, got {value!r}"
        )
        return None
    return value


def _check_choice(value: Any, key: str, choices: Sequence[Any], where: str, problems: list[str]) -> Any:
    if value is None or value in choices:
        return value
    problems.append(f"{where}: {key} must be one of {', '.join(map(repr, choices))} or null, got {value!r}")
    return None


def _check_int(value: Any, key: str, allowed: Sequence[int], where: str, problems: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        problems.append(f"{where}: {key} must be {', '.join(map(str, allowed))} or null, got {value!r}")
        return None
    return value


def _check_str(value: Any, key: str, where: str, problems: list[str]) -> str | None:
    if value is None or isinstance(value, str):
        return value
    problems.append(f"{where}: {key} must be a string or null, got {value!r}")
    return None


def parse_polygon(obj: Any, where: str, problems: list[str]) -> SnapshotPolygon | None:
    """Validate one polygon object; problems are appended, None when it is unusable."""
    if not isinstance(obj, Mapping):
        problems.append(f"{where}: must be an object with 'rings', got {type(obj).__name__}")
        return None
    unknown = set(obj) - {"rings", "lesion_type", "stage"}
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)}")
    rings_obj = obj.get("rings")
    if not isinstance(rings_obj, list) or not rings_obj:
        problems.append(f"{where}: rings must be a non-empty list of rings")
        return None
    rings: list[list[tuple[float, float]]] = []
    for r, ring in enumerate(rings_obj):
        if not isinstance(ring, list) or len(ring) < 3:
            n = len(ring) if isinstance(ring, list) else type(ring).__name__
            problems.append(f"{where}.rings[{r}]: a ring needs at least 3 points, got {n}")
            return None
        pts: list[tuple[float, float]] = []
        for k, pt in enumerate(ring):
            if (
                not isinstance(pt, (list, tuple))
                or len(pt) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pt)
            ):
                problems.append(f"{where}.rings[{r}][{k}]: a point must be [x, y] with finite numbers, got {pt!r}")
                return None
            pts.append((float(pt[0]), float(pt[1])))
        rings.append(pts)
    stage = _check_choice(obj.get("stage"), "stage", STAGES, where, problems)
    lesion = _check_str(obj.get("lesion_type"), "lesion_type", where, problems)
    return SnapshotPolygon(rings, lesion, stage)


def _parse_augment(value: Any, where: str, problems: list[str]) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - AUGMENT_KEYS:
        problems.append(f"{where}: augment must be an object with keys among {sorted(AUGMENT_KEYS)}, got {value!r}")
        return None
    crop = value.get("crop")
    if crop is not None and (
        not isinstance(crop, list)
        or len(crop) != 4
        or not all(isinstance(c, (int, float)) and 0 <= c < 0.5 for c in crop)
    ):
        problems.append(f"{where}: augment.crop must be [left, top, right, bottom] fractions in [0, 0.5), got {crop!r}")
    zoom = value.get("zoom")
    if zoom is not None and (not isinstance(zoom, (int, float)) or not 1.0 <= zoom <= 4.0):
        problems.append(f"{where}: augment.zoom must be a number in [1, 4], got {zoom!r}")
    for key in ("hflip", "vflip"):
        if key in value and not isinstance(value[key], bool):
            problems.append(f"{where}: augment.{key} must be true or false, got {value[key]!r}")
    return dict(value)


def parse_record(obj: Any, where: str) -> tuple[SnapshotRecord | None, list[str]]:
    """Validate one record object: the record (None when it has no usable id) and its problems."""
    problems: list[str] = []
    if not isinstance(obj, Mapping):
        return None, [f"{where}: must be an object, got {type(obj).__name__}"]
    rid = obj.get("id")
    if not isinstance(rid, str) or not rid:
        return None, [f"{where}: id must be a non-empty string, got {rid!r}"]
    where = f"{where} (id {rid!r})"
    unknown = set(obj) - RECORD_FIELDS
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)} (free-form data belongs in 'meta')")
    image = _check_path(obj.get("image"), "image", where, problems, required=True)
    mask = _check_path(obj.get("mask"), "mask", where, problems, required=False)
    label = _check_int(obj.get("label_binary"), "label_binary", (0, 1), where, problems)
    stage = _check_choice(obj.get("stage"), "stage", STAGES, where, problems)
    stage3 = _check_int(obj.get("stage3"), "stage3", (0, 1, 2), where, problems)
    if stage is not None:  # stage3 and label_binary may be left null: they follow from stage
        if stage3 is None and obj.get("stage3") is None:
            stage3 = stage3_of(stage)
        elif stage3 is not None and stage3_of(stage) != stage3:
            problems.append(
                f"{where}: stage3 {stage3} contradicts stage {stage!r} (stage3 is {stage3_of(stage)!r} for that stage)"
            )
        if label is None and obj.get("label_binary") is None:
            label = int(stage != "0")
        elif label is not None and (stage != "0") != (label == 1):
            problems.append(f"{where}: label_binary {label} contradicts stage {stage!r}")
    exam_date = _check_str(obj.get("exam_date"), "exam_date", where, problems)
    if exam_date is not None:
        try:
            _dt.date.fromisoformat(exam_date[:10])
        except ValueError:
            problems.append(f"{where}: exam_date must be an ISO date (YYYY-MM-DD), got {exam_date!r}")
    polygons: list[SnapshotPolygon] = []
    poly_obj = obj.get("polygons") or []
    if not isinstance(poly_obj, list):
        problems.append(f"{where}: polygons must be a list, got {type(poly_obj).__name__}")
        poly_obj = []
    for k, item in enumerate(poly_obj):
        poly = parse_polygon(item, f"{where}: polygons[{k}]", problems)
        if poly is not None:
            polygons.append(poly)
    graders = obj.get("graders") or {}
    if not isinstance(graders, Mapping) or not all(isinstance(v, Mapping) for v in graders.values()):
        problems.append(f"{where}: graders must map grader names to objects like {{'rop': 1, 'stage': '2'}}")
        graders = {}
    for name, grade in graders.items():
        _check_int(grade.get("rop"), f"graders[{name!r}].rop", (0, 1), where, problems)
        _check_choice(grade.get("stage"), f"graders[{name!r}].stage", STAGES, where, problems)
    meta = obj.get("meta") or {}
    if not isinstance(meta, Mapping):
        problems.append(f"{where}: meta must be an object")
        meta = {}
    record = SnapshotRecord(
        id=rid,
        image=image or "",
        mask=mask,
        patient=_check_str(obj.get("patient"), "patient", where, problems),
        eye=_check_choice(obj.get("eye"), "eye", EYES, where, problems),
        camera=_check_str(obj.get("camera"), "camera", where, problems),
        exam_date=exam_date,
        label_binary=label,
        stage=stage,
        stage3=stage3,
        plus=_check_choice(obj.get("plus"), "plus", PLUS_VALUES, where, problems),
        quality=_check_choice(obj.get("quality"), "quality", QUALITIES, where, problems),
        split=_check_choice(obj.get("split"), "split", SPLITS, where, problems),
        polygons=polygons,
        graders={str(k): dict(v) for k, v in graders.items()},
        source=_check_str(obj.get("source"), "source", where, problems),
        parent=_check_str(obj.get("parent"), "parent", where, problems),
        augment=_parse_augment(obj.get("augment"), where, problems),
        landmarks=_parse_landmarks(obj.get("landmarks"), where, problems),
        exam=_parse_exam(obj.get("exam"), where, problems),
        meta=dict(meta),
    )
    return record, problems


def check_relations(records: Sequence[SnapshotRecord], where: str) -> list[str]:
    """Cross-record rules: unique ids, parents exist, derived copies share their parent's split."""
    problems: list[str] = []
    index: dict[str, int] = {}
    for n, r in enumerate(records):
        if r.id in index:
            problems.append(f"{where} record {n} (id {r.id!r}): duplicate id (also record {index[r.id]})")
        else:
            index[r.id] = n
    for n, r in enumerate(records):
        if r.parent is None:
            continue
        if r.parent not in index:
            problems.append(f"{where} record {n} (id {r.id!r}): parent {r.parent!r} is not a record of this snapshot")
            continue
        parent = records[index[r.parent]]
        if parent.parent is not None:
            problems.append(f"{where} record {n} (id {r.id!r}): parent {r.parent!r} is itself a derived record")
        if r.split != parent.split:
            problems.append(
                f"{where} record {n} (id {r.id!r}): split {r.split!r} differs from its parent "
                f"{r.parent!r} ({parent.split!r}); augmented copies stay in their original's split"
            )
        if r.patient != parent.patient:
            problems.append(
                f"{where} record {n} (id {r.id!r}): patient {r.patient!r} differs from its parent's "
                f"({parent.patient!r})"
            )
    return problems
