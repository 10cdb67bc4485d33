"""Qt-free editing of one :class:`GradeValues`: edit operations, implied-field rules, validation.

Every change the grader makes, by mouse or keyboard, is one *edit operation* (:class:`SetField`,
:class:`CycleField`, :class:`ToggleFlag`, :class:`StepField`) applied by :class:`GradeEditor`.
The editor adds the answers a clinician would otherwise have to type twice:

* grading any clinical field of an image whose quality is unset marks it *gradable*;
* a stage chosen while ROP is unanswered answers it (stage 0 → no ROP, stage ≥ 1 → ROP);
* "no ROP" chosen while the stage is unanswered sets stage 0;
* marking the image *ungradable* clears the clinical fields (ROP, stage, zone, plus, A-ROP,
  extent) and refuses edits to them; marking it gradable again restores what was cleared.

Explicit answers are never overwritten by these rules: contradictions stay visible to
:func:`~rop_desktop.domain.grades.check_grade`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rop_desktop.domain.errors import Refusal
from rop_desktop.domain.grades import GRADE_FIELDS, GradeValues
from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone

#: Fields that describe the retina; an ungradable image has none of them.
CLINICAL_FIELDS: tuple[str, ...] = ("rop", "stage", "zone", "plus", "arop", "extent_clock_hours")


class EditRefused(Exception):
    """An edit that cannot be made to the grade as it stands; ``reason`` says why, for the grader."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SetField:
    """Set ``field`` to ``value``."""

    field: str
    value: object


@dataclass(frozen=True)
class CycleField:
    """Move ``field`` to the next of ``values`` (the first one when the current value is not among them)."""

    field: str
    values: tuple[object, ...]


@dataclass(frozen=True)
class ToggleFlag:
    """Flip a boolean field (unanswered counts as false)."""

    field: str


@dataclass(frozen=True)
class StepField:
    """Add ``delta`` to an integer field, clamped to ``low..high`` (unanswered counts as ``low``)."""

    field: str
    delta: int
    low: int
    high: int


EditOp = SetField | CycleField | ToggleFlag | StepField


def op_target(values: GradeValues, op: EditOp) -> object:
    """The value ``op`` gives its field when applied to ``values``."""
    if op.field not in GRADE_FIELDS:
        raise ValueError(f"unknown grade field {op.field!r}: expected one of {', '.join(GRADE_FIELDS)}")
    current = getattr(values, op.field)
    if isinstance(op, SetField):
        return op.value
    if isinstance(op, CycleField):
        if current in op.values:
            return op.values[(op.values.index(current) + 1) % len(op.values)]
        return op.values[0]
    if isinstance(op, ToggleFlag):
        return not bool(current)
    if isinstance(op, StepField):
        base = op.low if current is None else int(current)
        return min(max(base + op.delta, op.low), op.high)
    raise TypeError(f"not an edit operation: {op!r}")


class GradeEditor:
    """Holds the grade being edited and applies edit operations with the implied-field rules."""

    def __init__(self, values: GradeValues | None = None) -> None:
        self._values = values or GradeValues()
        self._cleared: GradeValues | None = None  # clinical fields cleared by "ungradable"

    @property
    def values(self) -> GradeValues:
        return self._values

    def reset(self, values: GradeValues) -> None:
        """Start editing ``values`` (forgets what an earlier "ungradable" cleared)."""
        self._values = values
        self._cleared = None

    def apply(self, op: EditOp) -> bool:
        """Apply ``op``; True when the grade changed. Raises :class:`EditRefused`."""
        new = self._with_field(op.field, op_target(self._values, op))
        changed = new != self._values
        self._values = new
        return changed

    def _with_field(self, name: str, value: object) -> GradeValues:
        old = self._values
        if name in CLINICAL_FIELDS and old.quality is Quality.UNGRADABLE:
            raise EditRefused("The image is marked ungradable: mark it gradable before grading it.")
        new = old.with_(**{name: value})
        if name == "quality":
            return self._quality_changed(old, new)
        if name in CLINICAL_FIELDS:
            if new.quality is None:
                new = new.with_(quality=Quality.GRADABLE)
            if name == "stage" and new.rop is None and isinstance(value, Stage) and value.major is not None:
                new = new.with_(rop=RopPresence.YES if value.major >= 1 else RopPresence.NO)
            if name == "rop" and value is RopPresence.NO and new.stage is None:
                new = new.with_(stage=Stage.S0)
        return new

    def _quality_changed(self, old: GradeValues, new: GradeValues) -> GradeValues:
        if new.quality is Quality.UNGRADABLE and old.quality is not Quality.UNGRADABLE:
            self._cleared = old
            return new.with_(**{name: None for name in CLINICAL_FIELDS})
        if old.quality is Quality.UNGRADABLE and new.quality is not Quality.UNGRADABLE and self._cleared:
            restored = {name: getattr(self._cleared, name) for name in CLINICAL_FIELDS}
            self._cleared = None
            return new.with_(**restored)
        return new


class InvalidGradeValues(Refusal):
    """Values the panel cannot show (a wrong type or a number out of range); ``reason`` says which."""


_ENUM_FIELDS = {"rop": RopPresence, "stage": Stage, "zone": Zone, "plus": Plus, "quality": Quality}
_RANGES = {"extent_clock_hours": (0, 12), "confidence": (1, 5)}


def validate_values(values: GradeValues) -> None:
    """Raise :class:`InvalidGradeValues` unless every field has its type and range."""
    if not isinstance(values, GradeValues):
        raise InvalidGradeValues(f"expected GradeValues, got {type(values).__name__}")
    for name, enum in _ENUM_FIELDS.items():
        value = getattr(values, name)
        if value is not None and not isinstance(value, enum):
            raise InvalidGradeValues(f"{name} must be a {enum.__name__} or None, not {value!r}")
    for name, (low, high) in _RANGES.items():
        value = getattr(values, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            raise InvalidGradeValues(f"{name} must be an integer {low}–{high} or None, not {value!r}")
    if values.arop is not None and not isinstance(values.arop, bool):
        raise InvalidGradeValues(f"arop must be True, False or None, not {values.arop!r}")
    if not isinstance(values.comment, str):
        raise InvalidGradeValues(f"comment must be text, not {values.comment!r}")
