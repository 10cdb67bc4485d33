"""An image-level grade as plain data, and its consistency rules."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .labels import Plus, Quality, RopPresence, Stage, Zone


@dataclass(frozen=True)
class GradeValues:
    """Everything one grader says about one image. ``None`` means "not answered yet"."""

    rop: RopPresence | None = None
    stage: Stage | None = None
    zone: Zone | None = None
    plus: Plus | None = None
    arop: bool | None = None
    extent_clock_hours: int | None = None
    quality: Quality | None = None
    confidence: int | None = None  # 1 (guess) .. 5 (certain)
    comment: str = ""

    def with_(self, **changes: Any) -> GradeValues:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, object]:
        """Plain values (enum values as strings) for storage and export."""
        out: dict[str, object] = {}
        for name in GRADE_FIELDS:
            value = getattr(self, name)
            out[name] = value.value if hasattr(value, "value") else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> GradeValues:
        parsers = {
            "rop": RopPresence.parse,
            "stage": Stage.parse,
            "zone": Zone.parse,
            "plus": Plus.parse,
            "quality": Quality.parse,
        }
        kwargs: dict[str, Any] = {}
        for name in GRADE_FIELDS:
            value = data.get(name)
            if value is None or value == "":
                continue
            if name in parsers:
                value = parsers[name](value)
            elif name in ("extent_clock_hours", "confidence"):
                value = _whole_number(name, value)
            elif name == "arop":
                value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
            kwargs[name] = value
        return cls(**kwargs)


def _whole_number(name: str, value: object) -> int:
    """A stored or exported count ("3", 3, 3.0) as an int; ValueError for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    return int(value)


GRADE_FIELDS: tuple[str, ...] = (
    "rop",
    "stage",
    "zone",
    "plus",
    "arop",
    "extent_clock_hours",
    "quality",
    "confidence",
    "comment",
)


@dataclass(frozen=True)
class Issue:
    """A consistency finding: ``error`` blocks submission, ``warning`` asks for confirmation."""

    field: str
    message: str
    severity: str = "warning"  # "warning" | "error"


def check_grade(values: GradeValues, polygon_stages: list[Stage | None] | None = None) -> list[Issue]:
    """Consistency rules checked before a grade is submitted.

    ``polygon_stages`` has one entry per polygon the grader drew on the image: its stage, or None
    for a polygon without a stage (it still counts as an outlined line).
    """
    issues: list[Issue] = []
    ungradable = values.quality is Quality.UNGRADABLE
    if values.quality is None:
        issues.append(Issue("quality", "Image quality is not set.", "error"))
    if ungradable:
        if values.stage not in (None, Stage.NA):
            issues.append(
                Issue("stage", "An ungradable image takes no stage: clear it or mark the image gradable.", "error")
            )
        return issues
    if values.rop is None:
        issues.append(Issue("rop", "ROP present / absent is not set.", "error"))
    if values.stage is None:
        issues.append(Issue("stage", "Stage is not set.", "error"))
    stage = values.stage
    major = stage.major if stage else None
    if stage is not None and major is not None and major >= 1 and values.rop is RopPresence.NO:
        issues.append(Issue("rop", f"{stage.label} implies ROP present, but ROP is marked absent.", "error"))
    if major == 0 and values.rop is RopPresence.YES:
        issues.append(Issue("stage", "ROP is marked present but the stage is 0.", "warning"))
    if values.extent_clock_hours is not None and not 0 <= values.extent_clock_hours <= 12:
        issues.append(Issue("extent_clock_hours", "Extent must be 0–12 clock hours.", "error"))
    if values.confidence is not None and not 1 <= values.confidence <= 5:
        issues.append(Issue("confidence", "Confidence must be 1–5.", "error"))
    if values.arop and values.zone in (Zone.III,):
        issues.append(Issue("arop", "A-ROP is a posterior disease; zone III is unusual.", "warning"))
    for pstage in polygon_stages or []:
        if (
            pstage is not None
            and pstage.major is not None
            and stage is not None
            and major is not None
            and pstage.major > major
        ):
            issues.append(
                Issue("stage", f"A polygon is marked {pstage.label}, above the image's {stage.label}.", "warning")
            )
            break
    if major is not None and major >= 1 and not polygon_stages:
        issues.append(Issue("polygons", "Stage ≥ 1 but no demarcation line / ridge has been outlined.", "warning"))
    return issues
