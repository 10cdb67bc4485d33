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
from rop_desktop.services.errors import ServiceError
from training.formats.convert import LESION_KEYS, lesion_of, parse_field
from training.formats.errors import Problem

#: Formats :func:`import_annotations` and :func:`export_annotations` understand.
FORMATS: tuple[str, ...] = ("via", "labelme", "coco", "masks", "grades_csv")
#: Mapping targets besides the grade fields: a region's lesion type / stage, or "drop it".
REGION_TARGETS: tuple[str, ...] = ("lesion_type", "stage")
IGNORE = "ignore"
#: A mapping value "lesion_type=<type>" maps a label / category / class value to a lesion type.
LESION_PREFIX = "lesion_type="
#: A mapping value "stage=<stage>" maps a label / category / class value to a stage (``"DL": "stage=1"``).
STAGE_PREFIX = "stage="
#: The lesion a region labelled only with a stage outlines (ICROP3: 1 line, 2 ridge, 3+ proliferation).
STAGE_LESIONS: dict[int, LesionType] = {
    0: LesionType.DEMARCATION_LINE,
    1: LesionType.DEMARCATION_LINE,
    2: LesionType.RIDGE,
}
#: Default lesion type of label-mask values 1, 2, 3 (the ICROP stage 1, 2, 3 lesions).
LABEL_VALUE_LESIONS: dict[int, LesionType] = {
    1: LesionType.DEMARCATION_LINE,
    2: LesionType.RIDGE,
    3: LesionType.EXTRARETINAL_PROLIFERATION,
}
#: Image-level attribute names (normalised) → grade field.
GRADE_ALIASES: dict[str, str] = {
    "rop": "rop",
    "rop_presence": "rop",
    "label": "rop",
    "label_binary": "rop",
    "stage": "stage",
    "rop_stage": "stage",
    "zone": "zone",
    "rop_zone": "zone",
    "plus": "plus",
    "plus_disease": "plus",
    "arop": "arop",
    "a_rop": "arop",
    "extent": "extent_clock_hours",
    "extent_clock_hours": "extent_clock_hours",
    "clock_hours": "extent_clock_hours",
    "quality": "quality",
    "image_quality": "quality",
    "confidence": "confidence",
    "comment": "comment",
}


class AnnotationIOError(ServiceError):
    """An import or export that cannot be done at all (unknown format, missing file, a whole file
    unreadable); ``reason`` is a sentence for the user."""


@dataclass
class ReadRegion:
    """One outline read from a file (file convention: pixel-centre vertices)."""

    geometry: BaseGeometry
    attributes: dict[str, Any]
    where: str
    #: what reading it repaired ("crosses itself: split into 3 outlines"), reported as warnings
    repairs: list[str] = field(default_factory=list)


@dataclass
class ReadItem:
    """What a file says about one image."""

    name: str  #: the image's file name as the file gives it
    path: str  #: the annotation file, for problems
    where: str  #: the image's place in that file
    regions: list[ReadRegion] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)  #: image-level attributes (grade)
    hw: tuple[int, int] | None = None  #: (height, width) the file declares, if any
    grader: str | None = None  #: grades CSV: the grader named on the row (or column)
    #: a region of this image was left out as unreadable: its absence of outlines says nothing
    regions_dropped: bool = False


@dataclass(frozen=True)
class ImportConflict:
    """An image the import left alone because the receiving account already holds other values
    (a person's submitted work, or what an earlier import stored): never overwritten silently."""

    image: str  #: the image's name as the file gives it
    account: str  #: the account whose work was kept
    differences: tuple[str, ...]  #: what the file says otherwise ("stage: 2 → 3", "outlines: ...")
    submitted: bool = True  #: a person's submitted work (False: an import account's earlier import)

    def __str__(self) -> str:
        what = "submitted other work" if self.submitted else "already holds other values"
        return f"{self.image}: {self.account} {what}, kept ({'; '.join(self.differences)})"


@dataclass
class AnnotationImportSummary:
    """What an annotation import did, image by image."""

    grader: str = ""  #: the receiving account (when there is one)
    images: list[int] = field(default_factory=list)  #: ids of the images that received data
    annotations: int = 0
    grades: int = 0
    problems: list[Problem] = field(default_factory=list)
    conflicts: list[ImportConflict] = field(default_factory=list)  #: skipped: submitted work differs
    unchanged: list[str] = field(default_factory=list)  #: skipped: the account already has exactly this
    accounts_created: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)  #: every account that received something

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
        out = [f"accounts: {', '.join(self.accounts)}" if len(self.accounts) > 1 else f"grader: {self.grader}"]
        out += [f"images: {len(self.images)}", f"annotations: {self.annotations}", f"grades: {self.grades}"]
        if self.accounts_created:
            out.append(f"new accounts: {', '.join(self.accounts_created)}")
        if self.unchanged:
            out.append(f"unchanged (already there): {len(self.unchanged)}")
        if self.conflicts:
            out.append(f"CONFLICTS (not imported, the values already there kept): {len(self.conflicts)}")
            out += [f"  {c}" for c in self.conflicts]
        return out + [f"  {p}" for p in self.problems]


# ---------------------------------------------------------------------------- mapping
def norm_key(key: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(key).strip().lower())


class AttributeMapping:
    """How a file's attribute names and label values become grade fields, lesion types and stages.

    ``mapping`` maps a source name (a VIA region / file attribute, a labelme flag or attribute,
    a CSV column, compared case-insensitively) to a target: a grade field (:data:`GRADE_FIELDS`),
    ``lesion_type`` or ``stage`` (for region attributes), or ``ignore``; and a label value (a
    labelme label, a COCO category, a VIA lesion attribute's value, a mask value such as
    ``"255"``) to ``"lesion_type=<type>"`` or ``"stage=<stage>"``. Names not in the mapping are
    recognised by their usual names (``stage``, ``rop``, ``plus``, ``lesion_type``, ``label``,
    ...), and a label that reads as a stage (``"stage_2"``, ``"Stage 3"``) is that stage.
    """

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self.rename: dict[str, str] = {}
        self.lesions: dict[str, LesionType] = {}
        self.stages: dict[str, Stage] = {}
        for key, target in (mapping or {}).items():
            t = str(target).strip()
            try:
                if t.lower().startswith(LESION_PREFIX):
                    self.lesions[norm_key(key)] = LesionType.parse(t[len(LESION_PREFIX) :])
                    continue
                if t.lower().startswith(STAGE_PREFIX):
                    self.stages[norm_key(key)] = Stage.parse(parse_field("stage", t[len(STAGE_PREFIX) :]) or "na")
                    continue
            except ValueError as exc:
                raise AnnotationIOError(f"mapping {key!r}: {exc}") from None
            if t in GRADE_FIELDS or t in REGION_TARGETS or t == IGNORE:
                self.rename[norm_key(key)] = t
            else:
                raise AnnotationIOError(
                    f"mapping {key!r} → {target!r}: the target must be a grade field "
                    f"({', '.join(GRADE_FIELDS)}), lesion_type, stage, ignore, "
                    f"'{LESION_PREFIX}<type>' or '{STAGE_PREFIX}<stage>'"
                )

    def apply(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Attributes renamed by the mapping (``ignore``-d ones dropped)."""
        out: dict[str, Any] = {}
        for key, value in attributes.items():
            target = self.rename.get(norm_key(key))
            if target != IGNORE:
                out[target or str(key)] = value
        return out

    def field_of(self, name: str) -> str | None:
        """The grade field a CSV column or image attribute called ``name`` fills (None: not a
        grade field, or mapped to ``ignore``)."""
        target = self.rename.get(norm_key(name))
        if target == IGNORE:
            return None
        if target in GRADE_FIELDS:
            return target
        return GRADE_ALIASES.get(norm_key(name)) if target is None else None

    def lesion(
        self, attributes: Mapping[str, Any], default: LesionType = LesionType.DEMARCATION_LINE
    ) -> tuple[LesionType, str | None]:
        """(lesion type, warning or None) of a region's attributes."""
        lesion, _stage, warning = self.region_labels(attributes, default)
        return lesion, warning

    def region_labels(
        self, attributes: Mapping[str, Any], default: LesionType = LesionType.DEMARCATION_LINE
    ) -> tuple[LesionType, Stage | None, str | None]:
        """(lesion type, stage, warning or None) of a region's attributes.

        The stage is the region's ``stage`` attribute, else a label value that is a stage (by
        name, ``"stage 2"``, or by the mapping, ``"DL": "stage=1"``). A region labelled only
        with a stage outlines that stage's lesion (:data:`STAGE_LESIONS`). ValueError when the
        ``stage`` attribute holds something that is not a stage.
        """
        applied = self.apply(attributes)
        stage_text = None
        for key, value in applied.items():
            if norm_key(key) in ("stage", "rop_stage"):
                stage_text = parse_field("stage", value)  # ValueError: not a stage
                break
        stage = Stage.parse(stage_text) if stage_text is not None else None
        named: str | None = None
        for key in LESION_KEYS:
            for k, v in applied.items():
                if norm_key(str(k)) != key or not isinstance(v, (str, Mapping)):
                    continue
                text = lesion_of({key: v})
                if text is None:
                    continue
                labelled = self.stages.get(text) or _stage_label(text)
                if labelled is not None:
                    stage = stage or labelled
                elif named is None:
                    named = text
        if named is None:
            if stage is not None and stage.major is not None:
                return STAGE_LESIONS.get(stage.major, LesionType.EXTRARETINAL_PROLIFERATION), stage, None
            return default, stage, None
        if named in self.lesions:
            return self.lesions[named], stage, None
        try:
            return LesionType.parse(named), stage, None
        except ValueError:
            return (
                default,
                stage,
                (
                    f"lesion {named!r} is not one of {', '.join(t.value for t in LesionType)}; "
                    f"imported as {default.value} (map it with '{LESION_PREFIX}<type>' "
                    f"or '{STAGE_PREFIX}<stage>')"
                ),
            )

    def lesion_of_value(self, value: str, default: LesionType) -> LesionType:
        return self.lesions.get(norm_key(value), default)

    def region_stage(self, attributes: Mapping[str, Any]) -> Stage | None:
        return self.region_labels(attributes)[1]

    def grade(
        self, attributes: Mapping[str, Any], path: str, where: str, problems: list[Problem]
    ) -> dict[str, Any] | None:
        """Grade fields (stored values) from image-level attributes; None when a value is not one
        the field takes (an error per bad value is added to ``problems``: nothing of the item is
        imported)."""
        out: dict[str, Any] = {}
        bad = False
        for key, value in self.apply(attributes).items():
            name = key if key in GRADE_FIELDS else GRADE_ALIASES.get(norm_key(key))
            if name is None:
                continue
            try:
                parsed = grade_value(name, value)
            except ValueError as exc:
                problems.append(Problem(path, f"{where}, {key}", f"{exc}; nothing of this image imported"))
                bad = True
                continue
            if parsed is not None:
                out[name] = parsed
        return None if bad else out


def _stage_label(text: str) -> Stage | None:
    """The stage a label names by itself (``stage_2``, ``rop_stage_3``), else None."""
    if not re.match(r"^(rop_?)?stage", text):
        return None
    try:
        value = parse_field("stage", text)
    except ValueError:
        return None
    return Stage.parse(value) if value is not None else None


#: Accepted spellings of each grade field's values, for --help and docs/formats.md.
GRADE_VALUES: dict[str, str] = {
    "rop": "yes / no (also 1 / 0, y / n, true / false, ROP / no ROP, positive / negative, normal); na",
    "stage": "0, 1, 2, 3, 4A, 4B, 5A, 5B, 5C (also 'stage 2', 'Stage_3'); na",
    "zone": "I, posterior II, II, III (also 'Zone II'); na",
    "plus": "normal (also no / none), pre-plus (also preplus), plus; na",
    "arop": "yes / no (also 1 / 0, true / false)",
    "extent_clock_hours": "a whole number 0-12",
    "quality": "gradable / ungradable",
    "confidence": "a whole number 1 (a guess) to 5 (certain)",
    "comment": "free text",
}
_YES_NO = {"1": True, "yes": True, "y": True, "true": True, "0": False, "no": False, "n": False, "false": False}
_RANGES = {"extent_clock_hours": (0, 12), "confidence": (1, 5)}
_WITH_NA = ("rop", "stage", "zone", "plus")  #: the fields with a "not assessable" value


def grade_value(name: str, value: Any) -> Any:
    """One grade field's stored value (or None for an empty cell / "na" where the field has no
    "not assessable") from a file's value; ValueError naming the accepted values otherwise."""
    if isinstance(value, Mapping):
        chosen = [k for k, v in value.items() if v]  # a VIA checkbox attribute
        value = chosen[0] if chosen else None
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if name in _WITH_NA and str(value).strip().lower() in ("na", "n/a", "not assessable"):
        return "na"
    if name == "rop":
        binary = parse_field("label_binary", value)
        return None if binary is None else ("yes" if binary else "no")
    if name in ("stage", "plus", "quality"):
        return parse_field(name, value)
    if name == "arop":
        if isinstance(value, bool):
            return value
        flag = _YES_NO.get(str(value).strip().lower())
        if flag is None:
            raise ValueError(f"A-ROP {value!r} is not yes/no")
        return flag
    if name in _RANGES:
        low, high = _RANGES[name]
        text = str(value).strip()
        if not re.fullmatch(r"\d+", text) or not low <= int(text) <= high:
            raise ValueError(f"{name.replace('_', ' ')} {value!r} is not a whole number {low}-{high}")
        return int(text)
    single = GradeValues.from_dict({name: value})  # zone, comment
    return single.as_dict()[name]
