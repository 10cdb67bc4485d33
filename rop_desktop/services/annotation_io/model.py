"""Plain data shared by the annotation importers and exporters: items read from a file, the
attribute mapping, the import summary and the error for a request that cannot be done at all.

Coordinates inside :class:`ReadRegion` follow the *file* convention of ``training.formats``
(polygon vertices on pixel centres); the importer shifts them by +0.5 into the app's
pixel-corner convention, the exporter by -0.5 back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry.base import BaseGeometry

from rop_desktop.domain.grades import GRADE_FIELDS, GradeValues
from rop_desktop.domain.labels import LesionType, Stage
from training.formats.convert import lesion_of, parse_field, stage_of
from training.formats.errors import Problem

#: Formats :func:`import_annotations` and :func:`export_annotations` understand.
FORMATS: tuple[str, ...] = ("via", "labelme", "coco", "masks", "grades_csv")
#: Mapping targets besides the grade fields: a region's lesion type / stage, or "drop it".
REGION_TARGETS: tuple[str, ...] = ("lesion_type", "stage")
IGNORE = "ignore"
#: A mapping value "lesion_type=<type>" maps a label / category / class value to a lesion type.
LESION_PREFIX = "lesion_type="
#: Default lesion type of label-mask values 1, 2, 3 (the ICROP stage 1, 2, 3 lesions).
LABEL_VALUE_LESIONS: dict[int, LesionType] = {1: LesionType.DEMARCATION_LINE, 2: LesionType.RIDGE,
                                              3: LesionType.EXTRARETINAL_PROLIFERATION}
#: Image-level attribute names (normalised) → grade field.
GRADE_ALIASES: dict[str, str] = {
    "rop": "rop", "rop_presence": "rop", "label": "rop", "label_binary": "rop",
    "stage": "stage", "rop_stage": "stage", "zone": "zone", "rop_zone": "zone",
    "plus": "plus", "plus_disease": "plus", "arop": "arop", "a_rop": "arop",
    "extent": "extent_clock_hours", "extent_clock_hours": "extent_clock_hours", "clock_hours": "extent_clock_hours",
    "quality": "quality", "image_quality": "quality", "confidence": "confidence", "comment": "comment",
}


class AnnotationIOError(ValueError):
    """An import or export that cannot be done at all (unknown format, missing file, a whole file
    unreadable); ``reason`` is a sentence for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ReadRegion:
    """One outline read from a file (file convention: pixel-centre vertices)."""

    geometry: BaseGeometry
    attributes: dict[str, Any]
    where: str


@dataclass
class ReadItem:
    """What a file says about one image."""

    name: str                                   #: the image's file name as the file gives it
    path: str                                   #: the annotation file, for problems
    where: str                                  #: the image's place in that file
    regions: list[ReadRegion] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)  #: image-level attributes (grade)
    hw: tuple[int, int] | None = None           #: (height, width) the file declares, if any
    grader: str | None = None                   #: grades CSV: the grader named on the row


@dataclass(frozen=True)
class ImportConflict:
    """An image the import left alone because the receiving account had submitted other work."""

    image: str                #: the image's name as the file gives it
    account: str              #: the account whose submitted work was kept
    differences: tuple[str, ...]  #: what the file says otherwise ("stage: 2 → 3", "outlines: ...")

    def __str__(self) -> str:
        return f"{self.image}: {self.account} submitted other work, kept ({'; '.join(self.differences)})"


@dataclass
class AnnotationImportSummary:
    """What an annotation import did, image by image."""

    grader: str = ""                                     #: the receiving account (the default one)
    images: list[int] = field(default_factory=list)      #: ids of the images that received data
    annotations: int = 0
    grades: int = 0
    problems: list[Problem] = field(default_factory=list)
    conflicts: list[ImportConflict] = field(default_factory=list)  #: skipped: submitted work differs
    unchanged: list[str] = field(default_factory=list)   #: skipped: the account already has exactly this
    accounts_created: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def incomplete(self) -> bool:
        """Whether something of the file was not imported (an error or a conflict)."""
        return bool(self.errors or self.conflicts)

    def lines(self) -> list[str]:
        """A human summary (command line, import dialog)."""
        out = [f"grader: {self.grader}", f"images: {len(self.images)}", f"annotations: {self.annotations}",
               f"grades: {self.grades}"]
        if self.accounts_created:
            out.append(f"new accounts: {', '.join(self.accounts_created)}")
        if self.unchanged:
            out.append(f"unchanged (already there): {len(self.unchanged)}")
        if self.conflicts:
            out.append(f"CONFLICTS (not imported, submitted work kept): {len(self.conflicts)}")
            out += [f"  {c}" for c in self.conflicts]
        return out + [f"  {p}" for p in self.problems]


# ---------------------------------------------------------------------------- mapping
def norm_key(key: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(key).strip().lower())


class AttributeMapping:
    """How a file's attribute names and label values become grade fields, lesion types and stages.

    ``mapping`` maps a source name (a VIA region / file attribute, a labelme flag or attribute,
    compared case-insensitively) to a target: a grade field (:data:`GRADE_FIELDS`), ``lesion_type``
    or ``stage`` (for region attributes), or ``ignore``; and a label value (a labelme label, a
    COCO category, a VIA lesion attribute's value, a mask value such as ``"255"``) to
    ``"lesion_type=<type>"``. Names not in the mapping are recognised by their usual names
    (``stage``, ``rop``, ``plus``, ``lesion_type``, ``label``, ...).
    """

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self.rename: dict[str, str] = {}
        self.lesions: dict[str, LesionType] = {}
        for key, target in (mapping or {}).items():
            t = str(target).strip()
            if t.lower().startswith(LESION_PREFIX):
                try:
                    self.lesions[norm_key(key)] = LesionType.parse(t[len(LESION_PREFIX):])
                except ValueError as exc:
                    raise AnnotationIOError(f"mapping {key!r}: {exc}") from None
            elif t in GRADE_FIELDS or t in REGION_TARGETS or t == IGNORE:
                self.rename[norm_key(key)] = t
            else:
                raise AnnotationIOError(f"mapping {key!r} → {target!r}: the target must be a grade field "
                                        f"({', '.join(GRADE_FIELDS)}), lesion_type, stage, ignore or "
                                        f"'{LESION_PREFIX}<type>'")

    def apply(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Attributes renamed by the mapping (``ignore``-d ones dropped)."""
        out: dict[str, Any] = {}
        for key, value in attributes.items():
            target = self.rename.get(norm_key(key))
            if target != IGNORE:
                out[target or str(key)] = value
        return out

    def lesion(self, attributes: Mapping[str, Any], default: LesionType = LesionType.DEMARCATION_LINE
               ) -> tuple[LesionType, str | None]:
        """(lesion type, warning or None) of a region's attributes."""
        named = lesion_of(self.apply(attributes))
        if named is None:
            return default, None
        if named in self.lesions:
            return self.lesions[named], None
        try:
            return LesionType.parse(named), None
        except ValueError:
            return default, (f"lesion {named!r} is not one of {', '.join(t.value for t in LesionType)}; "
                             f"imported as {default.value} (map it with '{LESION_PREFIX}<type>')")

    def lesion_of_value(self, value: str, default: LesionType) -> LesionType:
        return self.lesions.get(norm_key(value), default)

    def region_stage(self, attributes: Mapping[str, Any]) -> Stage | None:
        stage = stage_of(self.apply(attributes))
        return Stage.parse(stage) if stage is not None else None

    def grade(self, attributes: Mapping[str, Any], path: str, where: str,
              problems: list[Problem]) -> dict[str, Any]:
        """Grade fields (stored values) from image-level attributes; bad values become warnings."""
        out: dict[str, Any] = {}
        for key, value in self.apply(attributes).items():
            name = key if key in GRADE_FIELDS else GRADE_ALIASES.get(norm_key(key))
            if name is None:
                continue
            try:
                parsed = _grade_value(name, value)
            except ValueError as exc:
                problems.append(Problem(path, f"{where}.{key}", f"{exc}; left empty", "warning"))
                continue
            if parsed is not None:
                out[name] = parsed
        return out


def _grade_value(name: str, value: Any) -> Any:
    """One grade field's stored value (or None) from a file's value; ValueError with the reason."""
    if name == "rop":
        binary = parse_field("label_binary", value)
        return None if binary is None else ("yes" if binary else "no")
    if name in ("stage", "plus", "quality"):
        parsed = parse_field(name, value)
        return parsed
    if isinstance(value, Mapping) or value is None or (isinstance(value, str) and not value.strip()):
        return None
    single = GradeValues.from_dict({name: value})  # zone, arop, extent, confidence, comment
    return single.as_dict()[name]
