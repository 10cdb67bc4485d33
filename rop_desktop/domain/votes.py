"""Vote rules: settle the submitted grades of N graders of one image into a reference standard.

Pure functions over :class:`~rop_desktop.domain.grades.GradeValues`; the adjudication service
loads the votes and stores the :class:`VoteOutcome` (``as_detail()`` is its JSON form).

The rules, in order (each choice is deliberate; the tests pin them):

1. **Quorum** counts every submitted vote, gradable or not. Fewer than ``quorum`` votes →
   ``"insufficient"`` (nothing is settled until enough graders have answered).
2. **Image quality.** A strict majority of *all* votes saying "ungradable" settles the image as
   ungradable (method ``"ungradable_majority"``). A tie between gradable and ungradable votes
   always goes to adjudication: neither the hospital diagnosis nor a severity order says anything
   about whether *this image* can be graded. Otherwise the ungradable votes are left out of the
   grade majorities (they still counted toward the quorum).
3. **Each field** (rop, stage, plus, zone; see :class:`VoteSettings`) over the gradable votes,
   ignoring unanswered ones: if "not assessable" is a strict majority, the field settles as
   not assessable; otherwise "not assessable" votes are ignored and a value needs a strict
   majority of the assessable votes (so 2 of 3 settles, 2 of 4 does not).
4. **Stage** adds one level: with no exact majority, a strict majority at the major-stage level
   (4A + 4B, or 5A + 5B + 5C) settles the sub-stage that has a strict majority *within* that
   group (4A, 4A, 4B, 3 → 4A); an even split inside the group (4A, 4B, 3) is a tie between
   those sub-stages.
5. **Ties** (two or more values share the highest count, with no majority) follow the tie rule:
   ``"adjudicate"`` leaves them to a human; ``"hospital"`` takes the hospital's value when it is
   known and is one of the tied values (paper A); ``"severe"`` takes the more severe value
   (ROP yes over no, then ``Stage/Plus/Zone.severity``), the screening-safe choice. A plurality
   that is not a tie (2–1–1) is never broken: it goes to adjudication.
6. **ROP follows the stage.** A settled stage ≥ 1 means ROP present and stage 0 means absent:
   an unsettled (or merely tie-broken) ROP answer is taken from the stage; an ROP majority that
   contradicts the stage sends the image to adjudication, so a settled reference always passes
   :func:`~rop_desktop.domain.grades.check_grade` without errors.
7. Fields in ``required`` must settle (default rop and stage); the others (plus, zone) are left
   ``None`` with a note when they do not, and do not block the settlement.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rop_desktop.domain.errors import DomainError

from .grades import GradeValues, check_grade
from .labels import Plus, Quality, RopPresence, Stage, Zone

#: How a tie is broken (see the module documentation).
TIE_RULES: tuple[str, ...] = ("adjudicate", "hospital", "severe")
#: The grade fields that can be put to the vote.
VOTE_FIELDS: tuple[str, ...] = ("rop", "stage", "plus", "zone")
#: ``VoteOutcome.status`` values.
STATUSES: tuple[str, ...] = ("settled", "needs_adjudication", "insufficient")
#: ``VoteOutcome.method`` values of a settled outcome.
METHODS: tuple[str, ...] = ("unanimous", "majority", "hospital_tiebreak", "severity_tiebreak", "ungradable_majority")

FIELD_LABELS: dict[str, str] = {"rop": "ROP presence", "stage": "stage", "plus": "plus disease", "zone": "zone"}
_ENUMS: dict[str, type[RopPresence] | type[Stage] | type[Plus] | type[Zone]] = {
    "rop": RopPresence,
    "stage": Stage,
    "plus": Plus,
    "zone": Zone,
}
_TIEBREAKS = ("hospital_tiebreak", "severity_tiebreak")
_NA: dict[str, RopPresence | Stage | Plus | Zone] = {
    "rop": RopPresence.NA,
    "stage": Stage.NA,
    "plus": Plus.NA,
    "zone": Zone.NA,
}

Choice = RopPresence | Stage | Plus | Zone


class VoteError(DomainError):
    """Malformed votes or settings; ``reason`` is a sentence for the user."""


@dataclass(frozen=True)
class VoteSettings:
    """Study-wide vote settings (kept as JSON study settings; see :meth:`from_dict`)."""

    #: Minimum number of submitted votes (gradable or ungradable) before anything is settled.
    quorum: int = 4
    #: One of :data:`TIE_RULES`.
    tie_rule: str = "adjudicate"
    #: Fields settled by vote; must include "rop".
    fields: tuple[str, ...] = VOTE_FIELDS
    #: Fields that must settle for the image to settle: a subset of ``fields`` that includes rop
    #: and (when voted) stage, which every gradable grade needs; add plus / zone to require them.
    required: tuple[str, ...] = ("rop", "stage")

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "required", tuple(self.required))
        if isinstance(self.quorum, bool) or not isinstance(self.quorum, int) or self.quorum < 1:
            raise VoteError(f"quorum must be a whole number of votes ≥ 1, got {self.quorum!r}")
        if self.tie_rule not in TIE_RULES:
            raise VoteError(f"tie rule {self.tie_rule!r} is not one of {', '.join(TIE_RULES)}")
        unknown = [f for f in self.fields if f not in VOTE_FIELDS]
        if unknown or len(set(self.fields)) != len(self.fields):
            raise VoteError(f"vote fields {list(self.fields)!r} must be distinct names from {', '.join(VOTE_FIELDS)}")
        if "rop" not in self.fields:
            raise VoteError("vote fields must include 'rop': every reference says whether ROP is present")
        stray = [f for f in self.required if f not in self.fields]
        if stray:
            raise VoteError(f"required fields {stray!r} are not among the voted fields {list(self.fields)!r}")
        missing = [f for f in ("rop", "stage") if f in self.fields and f not in self.required]
        if missing:
            raise VoteError(
                f"required fields must include {missing!r}: a gradable reference needs ROP presence "
                "and, when it is voted, the stage"
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "quorum": self.quorum,
            "tie_rule": self.tie_rule,
            "fields": list(self.fields),
            "required": list(self.required),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VoteSettings:
        """From :meth:`as_dict`'s form; missing keys take the defaults, unknown keys are refused."""
        extra = set(data) - {"quorum", "tie_rule", "fields", "required"}
        if extra:
            raise VoteError(f"unknown vote setting(s): {', '.join(sorted(extra))}")
        return cls(**data)


@dataclass(frozen=True)
class HospitalDiagnosis:
    """The hospital's own diagnosis of the eye, parsed from free text; ``None`` = not stated."""

    rop: RopPresence | None = None
    stage: Stage | None = None
    #: The stage number 0–5 even when the sub-stage is not given ("stage 4").
    stage_major: int | None = None
    zone: Zone | None = None
    plus: Plus | None = None
    text: str = ""

    def value_of(self, name: str) -> Choice | None:
        return getattr(self, name)


@dataclass(frozen=True)
class FieldOutcome:
    """How one field was settled. ``value`` None = not settled (``note`` says why)."""

    field: str
    value: Choice | None
    #: "unanimous" | "majority" | "stage_group_majority" | "hospital_tiebreak" |
    #: "severity_tiebreak" | "follows_stage" | None (not settled)
    rule: str | None
    #: Stored value → number of gradable votes (not-assessable included), in the enum's order.
    tally: dict[str, int]
    note: str = ""


@dataclass(frozen=True)
class VoteOutcome:
    """The result of :func:`settle_votes`."""

    status: str  # one of STATUSES
    #: The settled grade; None unless ``status == "settled"``.
    reference: GradeValues | None
    method: str | None  # one of METHODS when settled
    #: "quality" and each voted field → {stored value: count}; plain JSON.
    tally: dict[str, dict[str, int]]
    #: Sentences for the adjudicator, e.g. "2–2 tie on ROP presence (ROP vs No ROP); tie rule: adjudicate".
    reasons: tuple[str, ...]
    #: Graders whose answer differs from a settled value (or who disagreed on gradability).
    dissenters: tuple[str, ...]
    fields: dict[str, FieldOutcome] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        return self.status == "settled"

    def as_detail(self) -> dict[str, Any]:
        """Plain JSON for the reference standard's ``detail`` column and exports."""
        return {
            "status": self.status,
            "method": self.method,
            "tally": self.tally,
            "reasons": list(self.reasons),
            "dissenters": list(self.dissenters),
            "fields": {
                name: {"value": f.value.value if f.value is not None else None, "rule": f.rule, "note": f.note}
                for name, f in self.fields.items()
            },
        }


# --------------------------------------------------------------------------- vote rules
def settle_votes(
    votes: Mapping[str, GradeValues],
    settings: VoteSettings | None = None,
    hospital: HospitalDiagnosis | str | None = None,
) -> VoteOutcome:
    """Settle the *submitted* grades of one image (grader name → grade) by the rules above.

    ``hospital`` (a parsed diagnosis or its text) is only used by the ``"hospital"`` tie rule.
    """
    settings = settings or VoteSettings()
    _check_votes(votes)
    if isinstance(hospital, str):
        hospital = parse_hospital_diagnosis(hospital)
    ungradable = [name for name, g in votes.items() if g.quality is Quality.UNGRADABLE]
    gradable = [name for name in votes if name not in ungradable]
    n = len(votes)
    tally: dict[str, dict[str, int]] = {"quality": {"gradable": len(gradable), "ungradable": len(ungradable)}}
    for name in settings.fields:
        tally[name] = _tally(name, [getattr(votes[g], name) for g in gradable])

    if n < settings.quorum:
        return VoteOutcome(
            "insufficient",
            None,
            None,
            tally,
            (f"{n} of the {settings.quorum} votes needed (quorum) have been submitted",),
            (),
        )
    if 2 * len(ungradable) > n:
        return VoteOutcome(
            "settled",
            GradeValues(quality=Quality.UNGRADABLE),
            "ungradable_majority",
            tally,
            (f"{len(ungradable)} of {n} graders marked the image ungradable",),
            tuple(gradable),
        )
    if 2 * len(ungradable) == n:
        return VoteOutcome(
            "needs_adjudication",
            None,
            None,
            tally,
            (
                f"{len(gradable)}–{len(ungradable)} tie on image quality (gradable vs ungradable); "
                "a quality tie is always adjudicated",
            ),
            (),
        )

    outcomes = {
        name: _settle_field(name, [getattr(votes[g], name) for g in gradable], settings.tie_rule, hospital)
        for name in settings.fields
    }
    blocking = _reconcile_rop_with_stage(outcomes)
    reasons = [f.note for f in outcomes.values() if f.note]
    if ungradable:
        reasons.append(
            f"{len(ungradable)} ungradable vote(s) ({', '.join(ungradable)}) left out of the grade majorities"
        )
    blocking += [name for name in settings.required if outcomes[name].value is None]
    dissenters = tuple(
        name
        for name in votes
        if name in ungradable or any(_differs(getattr(votes[name], f.field), f.value) for f in outcomes.values())
    )

    voted: dict[str, Any] = {name: f.value for name, f in outcomes.items()}  # each field's own enum
    reference = GradeValues(quality=Quality.GRADABLE, **voted)
    if blocking:
        unsettled = [f for f in VOTE_FIELDS if f in blocking and outcomes[f].value is None]
        if unsettled:
            reasons.append("required field(s) not settled: " + ", ".join(FIELD_LABELS[f] for f in unsettled))
        return VoteOutcome("needs_adjudication", None, None, tally, tuple(reasons), dissenters, outcomes)
    # Safety net: never settle a grade that check_grade would refuse (only the voted fields count).
    errors = [i for i in check_grade(reference) if i.severity == "error" and i.field in ("quality", *settings.fields)]
    if errors:
        reasons += [f"the settled grade is inconsistent: {i.message}" for i in errors]
        return VoteOutcome("needs_adjudication", None, None, tally, tuple(reasons), dissenters, outcomes)
    return VoteOutcome("settled", reference, _method(outcomes, dissenters), tally, tuple(reasons), dissenters, outcomes)


def paper_a_keep(
    votes: Mapping[str, GradeValues], hospital: HospitalDiagnosis | str | None, settings: VoteSettings | None = None
) -> bool:
    """Paper A's filter: keep the image's label only where the hospital diagnosis of ROP presence
    agrees with the graders' strict majority (no tie rule; quorum from ``settings``)."""
    if isinstance(hospital, str):
        hospital = parse_hospital_diagnosis(hospital)
    if hospital is None or hospital.rop in (None, RopPresence.NA):
        return False
    quorum = (settings or VoteSettings()).quorum
    outcome = settle_votes(votes, VoteSettings(quorum=quorum, fields=("rop",), required=("rop",)))
    return outcome.settled and outcome.reference is not None and outcome.reference.rop is hospital.rop


def _check_votes(votes: Mapping[str, GradeValues]) -> None:
    if not isinstance(votes, Mapping):
        raise VoteError(f"votes must map grader names to grades, got {type(votes).__name__}")
    for name, grade in votes.items():
        if not isinstance(grade, GradeValues):
            raise VoteError(f"the vote of {name!r} is a {type(grade).__name__}, not a GradeValues")


def _tally(name: str, values: Sequence[Choice | None]) -> dict[str, int]:
    counts = Counter(v for v in values if v is not None)
    return {member.value: counts[member] for member in _ENUMS[name] if counts[member]}


def _settle_field(
    name: str, values: Sequence[Choice | None], tie_rule: str, hospital: HospitalDiagnosis | None
) -> FieldOutcome:
    tally = _tally(name, values)
    label = FIELD_LABELS[name]
    answered = [v for v in values if v is not None]
    if not answered:
        return FieldOutcome(name, None, None, tally, f"{label}: no grader answered")
    na = _NA[name]
    n_na = sum(v is na for v in answered)
    if 2 * n_na > len(answered):
        return FieldOutcome(name, na, "unanimous" if n_na == len(answered) else "majority", tally)
    assessable = [v for v in answered if v is not na]
    counts = Counter(assessable)
    top, top_count = counts.most_common(1)[0]
    if 2 * top_count > len(assessable):
        return FieldOutcome(name, top, "unanimous" if top_count == len(answered) else "majority", tally)
    options = [v for v, c in counts.items() if c == top_count]
    split = "–".join(str(c) for c in sorted(counts.values(), reverse=True))
    where = ""
    if name == "stage":
        majors = Counter(v.major for v in assessable if isinstance(v, Stage))
        major, major_count = majors.most_common(1)[0]
        if 2 * major_count > len(assessable):
            group = Counter({v: c for v, c in counts.items() if isinstance(v, Stage) and v.major == major})
            sub, sub_count = group.most_common(1)[0]
            if 2 * sub_count > major_count:
                return FieldOutcome(
                    name,
                    sub,
                    "stage_group_majority",
                    tally,
                    f"stage: no exact majority ({split}); {major_count} of {len(assessable)} "
                    f"votes are stage {major}, of which {sub_count} say {sub.label}",
                )
            options = [v for v, c in group.items() if c == sub_count]
            split = "–".join(str(c) for c in sorted(group.values(), reverse=True))
            where = f" within stage {major}"
    if len(options) < 2:
        return FieldOutcome(
            name, None, None, tally, f"no majority on {label} ({split}; {top.label} leads without a majority)"
        )
    options.sort(key=lambda v: list(_ENUMS[name]).index(v))
    tie = f"{split} tie on {label}{where} ({' vs '.join(o.label for o in options)}); tie rule: {tie_rule}"
    if tie_rule == "severe":
        winner = max(options, key=lambda v: _severity(name, v))
        return FieldOutcome(name, winner, "severity_tiebreak", tally, f"{tie} → {winner.label}")
    if tie_rule == "hospital":
        said = _hospital_choice(name, options, hospital)
        if said is not None:
            return FieldOutcome(name, said, "hospital_tiebreak", tally, f"{tie} → {said.label} (hospital diagnosis)")
        stated = hospital is not None and (
            hospital.value_of(name) is not None or (name == "stage" and hospital.stage_major is not None)
        )
        why = "matches none of the tied values" if stated else f"gives no {label}"
        return FieldOutcome(name, None, None, tally, f"{tie}, but the hospital diagnosis {why}")
    return FieldOutcome(name, None, None, tally, tie)


def _severity(name: str, value: Choice) -> int:
    if name == "rop":
        return 1 if value is RopPresence.YES else 0
    return value.severity  # type: ignore[union-attr, return-value]  # NA never reaches a tie


def _hospital_choice(name: str, options: Sequence[Choice], hospital: HospitalDiagnosis | None) -> Choice | None:
    if hospital is None:
        return None
    said = hospital.value_of(name)
    if said is not None and said in options:
        return said
    if name == "stage" and said is None and hospital.stage_major is not None:
        same_major = [o for o in options if o.major == hospital.stage_major]  # type: ignore[union-attr]
        if len(same_major) == 1:
            return same_major[0]
    return None


def _reconcile_rop_with_stage(outcomes: dict[str, FieldOutcome]) -> list[str]:
    """Make ROP presence follow a settled stage (a stage majority outweighs an ROP tie-break);
    the names of the fields left in contradiction."""
    stage = outcomes.get("stage")
    rop = outcomes["rop"]
    if stage is None or stage.value is None or stage.value is Stage.NA:
        return []
    implied = RopPresence.YES if stage.value.major >= 1 else RopPresence.NO  # type: ignore[union-attr,operator]
    if rop.value is None or rop.value is RopPresence.NA or rop.rule in _TIEBREAKS:
        was = f" ({rop.note})" if rop.note else ""
        outcomes["rop"] = FieldOutcome(
            "rop", implied, "follows_stage", rop.tally, f"ROP presence follows the settled {stage.value.label}{was}"
        )
        return []
    if rop.value is not implied:
        outcomes["rop"] = FieldOutcome(
            "rop",
            rop.value,
            rop.rule,
            rop.tally,
            f"the settled ROP presence ({rop.value.label}) contradicts the settled {stage.value.label}",
        )
        return ["rop", "stage"]
    return []


def _differs(vote: Choice | None, settled: Choice | None) -> bool:
    return vote is not None and settled is not None and vote is not settled


def _method(outcomes: Mapping[str, FieldOutcome], dissenters: Sequence[str]) -> str:
    rules = {f.rule for f in outcomes.values() if f.rule is not None}
    if "hospital_tiebreak" in rules:
        return "hospital_tiebreak"
    if "severity_tiebreak" in rules:
        return "severity_tiebreak"
    return "unanimous" if not dissenters and rules == {"unanimous"} else "majority"


# --------------------------------------------------------------------------- hospital diagnosis
_ZONES = {"i": Zone.I, "1": Zone.I, "ii": Zone.II, "2": Zone.II, "iii": Zone.III, "3": Zone.III}
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5}
_RE_POSTERIOR = re.compile(r"\bposterior\s+(?:zone\s*)?(?:ii|2)\b|\bzone\s*(?:ii|2)\s*posterior\b")
_RE_ZONE = re.compile(r"\bzone\s*(iii|ii|i|[123])\b")
_RE_PRE_PLUS = re.compile(r"\bpre[\s-]?plus\b")
_RE_NO_PLUS = re.compile(r"\b(?:no|without|non)[\s-]?plus\b")
_RE_PLUS = re.compile(r"\bplus\b|\+")
_RE_AROP = re.compile(r"\ba-?p?-?rop\b|\baggressive\b")
_RE_UNSURE = re.compile(r"\?|\b(?:suspect\w*|possible|probable|query|unknown|unclear|n/?a)\b")
_RE_NO_ROP = re.compile(
    r"\b(?:no|without|absence\s+of|negative\s+for)\s+(?:\w+\s+){0,3}?rop\b"
    r"|\brop[\s-]*(?:free|negative|neg|absent)\b"
    r"|\b(?:normal|negative|nil|none|healthy|mature)\b|^\s*no\s*$"
)
_RE_ROP = re.compile(r"\brop\b|\b(?:yes|positive|present)\b")
_RE_STAGE = re.compile(r"\bst(?:age|\.)?\s*([0-5]|iv|v|iii|ii|i)\s*([abc])?(?![a-z0-9])")
_RE_LONE = re.compile(r"(?<![\w.])([0-5])\s?([abc])?(?![\w.])")


def parse_hospital_diagnosis(text: str | None) -> HospitalDiagnosis:
    """Read a hospital diagnosis such as "no ROP", "ROP stage 2", "stage 3 plus", "normal", "2",
    "zone II stage 1" or "stage 4A"; whatever is not stated (or is contradictory or hedged,
    "suspected ROP?") comes back ``None``. Never raises on text."""
    if text is None:
        return HospitalDiagnosis()
    raw = str(text).strip()
    t = " " + raw.lower().replace("_", " ").replace("–", "-").replace("—", "-") + " "

    zone: Zone | None = None
    if m := _RE_POSTERIOR.search(t):
        zone, t = Zone.POSTERIOR_II, _cut(t, m)
    elif m := _RE_ZONE.search(t):
        zone, t = _ZONES[m.group(1)], _cut(t, m)

    plus: Plus | None = None
    for pattern, value in ((_RE_PRE_PLUS, Plus.PRE_PLUS), (_RE_NO_PLUS, Plus.NORMAL), (_RE_PLUS, Plus.PLUS)):
        if m := pattern.search(t):
            plus, t = value, _cut(t, m)
            break

    arop = bool(_RE_AROP.search(t))
    t = _RE_AROP.sub(" ", t)
    major, letter = _stage_in(t)
    unsure = bool(_RE_UNSURE.search(t))
    negative = bool(_RE_NO_ROP.search(t))
    positive = arop or bool(_RE_ROP.search(_RE_NO_ROP.sub(" ", t)))

    if unsure or (negative and (positive or (major is not None and major >= 1))):
        return HospitalDiagnosis(zone=zone, plus=plus, text=raw)  # hedged or contradictory
    if negative and major is None:
        major = 0
    stage = _stage_of(major, letter)
    rop: RopPresence | None = None
    if major is not None:
        rop = RopPresence.YES if major >= 1 else RopPresence.NO
    elif positive:
        rop = RopPresence.YES
    return HospitalDiagnosis(rop=rop, stage=stage, stage_major=major, zone=zone, plus=plus, text=raw)


def _cut(text: str, match: re.Match[str]) -> str:
    return text[: match.start()] + " " + text[match.end() :]


def _stage_in(text: str) -> tuple[int | None, str]:
    """(major stage, sub-stage letter) from "stage 4a" / "st. III", else a single lone digit."""
    if m := _RE_STAGE.search(text):
        number = m.group(1)
        return (int(number) if number.isdigit() else _ROMAN[number]), m.group(2) or ""
    lone = _RE_LONE.findall(text)
    if len(lone) == 1:
        return int(lone[0][0]), lone[0][1] or ""
    return None, ""


def _stage_of(major: int | None, letter: str) -> Stage | None:
    if major is None:
        return None
    try:
        return Stage.parse(f"{major}{letter}")
    except ValueError:  # "stage 4" without its sub-stage, or "4c"
        return None
