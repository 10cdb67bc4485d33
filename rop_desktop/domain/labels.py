"""ICROP3 clinical vocabulary as plain enums.

Every field may be "not assessable" on a single image (``NA``). Values are stable strings:
they are what the store keeps and what exports write, so never rename a value.
"""

from __future__ import annotations

from enum import Enum
from typing import Self


class _Choice(str, Enum):
    """A str-valued enum with a human label."""

    @property
    def label(self) -> str:
        return _LABELS.get(self, self.value)

    @classmethod
    def parse(cls, value: object) -> Self:
        """Parse a stored/exported value or a label, case-insensitive; raises ValueError."""
        if isinstance(value, cls):
            return value
        text = str(value).strip().lower()
        for member in cls:
            if text in (member.value.lower(), member.label.lower(), member.name.lower()):
                return member
        raise ValueError(f"{value!r} is not a valid {cls.__name__}: expected one of " + ", ".join(m.value for m in cls))


class Eye(_Choice):
    OD = "OD"  # right eye
    OS = "OS"  # left eye


class RopPresence(_Choice):
    NO = "no"
    YES = "yes"
    NA = "na"


class Stage(_Choice):
    S0 = "0"
    S1 = "1"
    S2 = "2"
    S3 = "3"
    S4A = "4A"
    S4B = "4B"
    S5A = "5A"
    S5B = "5B"
    S5C = "5C"
    NA = "na"

    @property
    def severity(self) -> int | None:
        """Ordinal rank for votes and weighted kappa (0..8); None when not assessable."""
        if self is Stage.NA:
            return None
        return list(Stage).index(self)

    @property
    def major(self) -> int | None:
        """The stage number 0–5 (4A and 4B are both 4)."""
        return None if self is Stage.NA else int(self.value[0])


class Zone(_Choice):
    I = "I"  # noqa: E741 - the clinical name
    POSTERIOR_II = "posterior II"
    II = "II"
    III = "III"
    NA = "na"

    @property
    def severity(self) -> int | None:
        """Zone I is the most severe (rank 3), zone III the least (rank 0)."""
        order = {Zone.III: 0, Zone.II: 1, Zone.POSTERIOR_II: 2, Zone.I: 3}
        return order.get(self)


class Plus(_Choice):
    NORMAL = "normal"
    PRE_PLUS = "pre-plus"
    PLUS = "plus"
    NA = "na"

    @property
    def severity(self) -> int | None:
        return {Plus.NORMAL: 0, Plus.PRE_PLUS: 1, Plus.PLUS: 2}.get(self)


class Quality(_Choice):
    GRADABLE = "gradable"
    UNGRADABLE = "ungradable"


class LesionType(_Choice):
    DEMARCATION_LINE = "demarcation_line"
    RIDGE = "ridge"
    EXTRARETINAL_PROLIFERATION = "extraretinal_proliferation"


class Role(_Choice):
    GRADER = "grader"
    ADJUDICATOR = "adjudicator"
    ADMIN = "admin"


_LABELS: dict[Enum, str] = {
    Eye.OD: "OD (right)",
    Eye.OS: "OS (left)",
    RopPresence.NO: "No ROP",
    RopPresence.YES: "ROP",
    RopPresence.NA: "Not assessable",
    Stage.S0: "Stage 0",
    Stage.S1: "Stage 1",
    Stage.S2: "Stage 2",
    Stage.S3: "Stage 3",
    Stage.S4A: "Stage 4A",
    Stage.S4B: "Stage 4B",
    Stage.S5A: "Stage 5A",
    Stage.S5B: "Stage 5B",
    Stage.S5C: "Stage 5C",
    Stage.NA: "Not assessable",
    Zone.I: "Zone I",
    Zone.POSTERIOR_II: "Posterior zone II",
    Zone.II: "Zone II",
    Zone.III: "Zone III",
    Zone.NA: "Not assessable",
    Plus.NORMAL: "Normal",
    Plus.PRE_PLUS: "Pre-plus",
    Plus.PLUS: "Plus",
    Plus.NA: "Not assessable",
    Quality.GRADABLE: "Gradable",
    Quality.UNGRADABLE: "Ungradable",
    LesionType.DEMARCATION_LINE: "Demarcation line",
    LesionType.RIDGE: "Ridge",
    LesionType.EXTRARETINAL_PROLIFERATION: "Extraretinal proliferation",
    Role.GRADER: "Grader",
    Role.ADJUDICATOR: "Adjudicator",
    Role.ADMIN: "Admin",
}
