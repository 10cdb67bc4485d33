"""What the adjudicator's editor starts from, and how grades read in one line (Qt-free).

:func:`suggested_reference` pre-fills the reference editor: the stored reference when the image
has one; otherwise the votes settled with the study's settings but the tie rule "severe" (a 2–2
split takes the more severe value, the screening-safe reading), and, for a field the votes still
leave open (a 2–1–1 plurality, an ungradable tie), the most frequent assessable answer, the more
severe one on equal counts. ROP presence then follows the stage, as the vote rules do. The
adjudicator changes whatever they disagree with; nothing is stored until they settle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.domain.votes import VOTE_FIELDS, VoteError, VoteSettings, settle_votes

if TYPE_CHECKING:
    from rop_desktop.services.reference import AdjudicationCase


_NA = {"rop": RopPresence.NA, "stage": Stage.NA, "plus": Plus.NA, "zone": Zone.NA}


def submitted_votes(case: AdjudicationCase) -> dict[str, GradeValues]:
    """grader name → submitted grade of an :class:`~rop_desktop.services.reference.AdjudicationCase`."""
    return {g.name: g.values for g in case.graders if g.submitted and g.values is not None}


def suggested_reference(case: AdjudicationCase) -> GradeValues:
    """The editor's starting grade for ``case`` (see the module docstring)."""
    if case.reference is not None:
        return case.reference.values.with_(comment="")
    return suggest_from_votes(submitted_votes(case), case.settings)


def suggest_from_votes(votes: Mapping[str, GradeValues], settings: VoteSettings | None = None) -> GradeValues:
    """Majority, ties to the more severe value, pluralities to the commonest (see the module docstring)."""
    if not votes:
        return GradeValues()
    settings = replace(settings or VoteSettings(), tie_rule="severe", quorum=1)
    try:
        outcome = settle_votes(votes, settings)
    except VoteError:
        outcome = None
    if outcome is not None and outcome.settled and outcome.reference is not None:
        return outcome.reference
    gradable = [v for v in votes.values() if v.quality is not Quality.UNGRADABLE]
    if 2 * len(gradable) < len(votes):
        return GradeValues(quality=Quality.UNGRADABLE)
    fields: dict[str, Any] = {}
    for name in VOTE_FIELDS:
        settled = outcome.fields.get(name) if outcome is not None else None
        value = settled.value if settled is not None else None
        fields[name] = value if value is not None else plurality(name, [getattr(v, name) for v in gradable])
    stage = fields["stage"]
    if stage is not None and stage is not Stage.NA and stage.major >= 1:
        fields["rop"] = RopPresence.YES
    elif stage is Stage.S0 and fields["rop"] is None:
        fields["rop"] = RopPresence.NO
    return GradeValues(quality=Quality.GRADABLE, **fields)


def plurality(name: str, answers: Sequence[Any]) -> Any:
    """The commonest assessable answer (the more severe on equal counts); "not assessable" only
    when nobody could assess the field; None when nobody answered."""
    given = [a for a in answers if a is not None]
    assessable = [a for a in given if a is not _NA[name]]
    if not assessable:
        return _NA[name] if given else None
    counts = Counter(assessable)
    return max(counts, key=lambda value: (counts[value], _severity(name, value)))


def _severity(name: str, value: Any) -> int:
    if name == "rop":
        return 1 if value is RopPresence.YES else 0
    return value.severity if value.severity is not None else -1


def describe(values: GradeValues | None) -> str:
    """One line such as "ROP · Stage 1 · Zone II · Normal" ("—" for nothing answered)."""
    if values is None:
        return "—"
    if values.quality is Quality.UNGRADABLE:
        return "Ungradable"
    parts = [v.label for v in (values.rop, values.stage, values.zone, values.plus) if v is not None]
    if values.arop:
        parts.append("A-ROP")
    return " · ".join(parts) if parts else "—"


def describe_payload(payload: Mapping[str, Any] | None) -> str:
    """An audit payload in one line: a reference state (``{"values": …, "method": …}``) or a grade."""
    if not payload:
        return "—"
    raw = payload.get("values", payload)
    try:
        text = describe(GradeValues.from_dict(dict(raw)))
    except (TypeError, ValueError):
        text = ", ".join(f"{k}: {v}" for k, v in payload.items())
    method = payload.get("method")
    return f"{text} ({method})" if method else text
