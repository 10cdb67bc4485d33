from __future__ import annotations

import json

import pytest

from rop_desktop.domain.grades import GradeValues, check_grade
from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.domain.votes import (
    HospitalDiagnosis,
    VoteError,
    VoteOutcome,
    VoteSettings,
    paper_a_keep,
    parse_hospital_diagnosis,
    settle_votes,
)

NAMES = ("ana", "ben", "cho", "dia")


def grade(stage: str, plus: str | None = None, zone: str | None = None, rop: str | None = None) -> GradeValues:
    """A gradable grade whose ROP presence follows its stage unless given."""
    s = Stage.parse(stage)
    if rop is None:
        rop = "na" if s is Stage.NA else ("yes" if s.major >= 1 else "no")
    return GradeValues(rop=RopPresence.parse(rop), stage=s, plus=Plus.parse(plus) if plus else None,
                       zone=Zone.parse(zone) if zone else None, quality=Quality.GRADABLE)


UNGRADABLE = GradeValues(quality=Quality.UNGRADABLE)


def votes(*grades: GradeValues) -> dict[str, GradeValues]:
    return dict(zip(NAMES, grades, strict=False))


def assert_consistent(outcome: VoteOutcome) -> None:
    assert outcome.status == "settled" and outcome.reference is not None
    assert [i for i in check_grade(outcome.reference) if i.severity == "error"] == []
    json.dumps(outcome.as_detail())  # plain JSON all the way down


def test_unanimous() -> None:
    out = settle_votes(votes(*[grade("2", "normal", "II")] * 4))
    assert_consistent(out)
    assert out.method == "unanimous" and out.dissenters == () and out.reasons == ()
    assert out.reference == GradeValues(rop=RopPresence.YES, stage=Stage.S2, plus=Plus.NORMAL, zone=Zone.II,
                                        quality=Quality.GRADABLE)
    assert out.tally == {"quality": {"gradable": 4, "ungradable": 0}, "rop": {"yes": 4}, "stage": {"2": 4},
                         "plus": {"normal": 4}, "zone": {"II": 4}}


def test_three_to_one_majority_names_the_dissenter() -> None:
    out = settle_votes(votes(grade("2"), grade("2"), grade("3"), grade("2")))
    assert_consistent(out)
    assert out.method == "majority" and out.reference.stage is Stage.S2
    assert out.dissenters == ("cho",)
    assert out.tally["stage"] == {"2": 3, "3": 1}
    assert out.fields["stage"].rule == "majority"


def test_two_two_tie_is_adjudicated_by_default() -> None:
    out = settle_votes(votes(grade("2"), grade("0"), grade("2"), grade("0")))
    assert out.status == "needs_adjudication" and out.reference is None and out.method is None
    assert any(r.startswith("2–2 tie on ROP presence") and r.endswith("tie rule: adjudicate") for r in out.reasons)
    assert any(r.startswith("2–2 tie on stage (Stage 0 vs Stage 2)") for r in out.reasons)
    assert out.tally["rop"] == {"no": 2, "yes": 2}


@pytest.mark.parametrize("diagnosis,expected", [("ROP stage 2", Stage.S2), ("no ROP", Stage.S0), ("2", Stage.S2)])
def test_two_two_tie_broken_by_a_matching_hospital_diagnosis(diagnosis: str, expected: Stage) -> None:
    out = settle_votes(votes(grade("2"), grade("0"), grade("2"), grade("0")),
                       VoteSettings(tie_rule="hospital"), hospital=diagnosis)
    assert_consistent(out)
    assert out.method == "hospital_tiebreak" and out.reference.stage is expected
    assert len(out.dissenters) == 2


@pytest.mark.parametrize("diagnosis", [None, "unknown", "ROP stage 3"])
def test_hospital_rule_adjudicates_when_the_diagnosis_is_unknown_or_matches_no_side(diagnosis: str | None) -> None:
    out = settle_votes(votes(grade("2"), grade("1"), grade("2"), grade("1")),
                       VoteSettings(tie_rule="hospital"), hospital=diagnosis)
    assert out.status == "needs_adjudication"
    expected = "matches none of the tied values" if diagnosis == "ROP stage 3" else "gives no stage"
    assert any(expected in r for r in out.reasons), out.reasons


def test_severe_rule_takes_the_more_severe_side() -> None:
    out = settle_votes(votes(grade("1", "plus"), grade("3", "normal"), grade("3", "plus"), grade("1", "normal")),
                       VoteSettings(tie_rule="severe"))
    assert_consistent(out)
    assert out.method == "severity_tiebreak"
    assert (out.reference.stage, out.reference.plus) == (Stage.S3, Plus.PLUS)
    rop_vs_none = settle_votes(votes(grade("2"), grade("0"), grade("2"), grade("0")), VoteSettings(tie_rule="severe"))
    assert rop_vs_none.reference.rop is RopPresence.YES and rop_vs_none.reference.stage is Stage.S2


def test_plurality_without_tie_is_never_broken() -> None:
    out = settle_votes(votes(grade("2"), grade("2"), grade("1"), grade("3")), VoteSettings(tie_rule="severe"))
    assert out.status == "needs_adjudication"
    assert any("no majority on stage (2–1–1" in r for r in out.reasons)


def test_ungradable_majority_settles_the_image_as_ungradable() -> None:
    out = settle_votes(votes(UNGRADABLE, UNGRADABLE, grade("2"), UNGRADABLE))
    assert_consistent(out)
    assert out.method == "ungradable_majority" and out.reference == GradeValues(quality=Quality.UNGRADABLE)
    assert out.dissenters == ("cho",)
    assert out.tally["quality"] == {"gradable": 1, "ungradable": 3}


def test_one_ungradable_vote_is_left_out_of_the_gradable_majority() -> None:
    out = settle_votes(votes(UNGRADABLE, grade("2"), grade("2"), grade("2")))
    assert_consistent(out)
    assert out.method == "majority" and out.reference.stage is Stage.S2
    assert out.dissenters == ("ana",)
    assert any("1 ungradable vote(s) (ana)" in r for r in out.reasons)
    # 2 of 3 gradable votes are a strict majority of the gradable ones
    two_of_three = settle_votes(votes(UNGRADABLE, grade("2"), grade("1"), grade("2")))
    assert two_of_three.reference.stage is Stage.S2


def test_quality_tie_is_always_adjudicated() -> None:
    for rule in ("adjudicate", "hospital", "severe"):
        out = settle_votes(votes(UNGRADABLE, grade("2"), UNGRADABLE, grade("2")), VoteSettings(tie_rule=rule),
                           hospital="ROP stage 2")
        assert out.status == "needs_adjudication"
        assert "tie on image quality" in out.reasons[0]


def test_missing_quorum_is_insufficient() -> None:
    out = settle_votes(votes(grade("2"), grade("2"), grade("2")))
    assert out.status == "insufficient" and out.reference is None
    assert out.reasons == ("3 of the 4 votes needed (quorum) have been submitted",)
    assert settle_votes(votes(grade("2"), grade("2"), grade("2")), VoteSettings(quorum=3)).settled
    assert settle_votes({}, VoteSettings(quorum=1)).status == "insufficient"
    # ungradable votes count toward the quorum
    assert settle_votes(votes(grade("2"), grade("2"), grade("2"), UNGRADABLE)).settled


def test_stage_4a_4b_settles_at_the_major_stage_level() -> None:
    out = settle_votes(votes(grade("4A"), grade("4B"), grade("4A"), grade("3")))
    assert_consistent(out)
    assert out.reference.stage is Stage.S4A and out.fields["stage"].rule == "stage_group_majority"
    assert out.method == "majority" and set(out.dissenters) == {"ben", "dia"}


def test_stage_4a_4b_split_inside_the_group_is_a_tie() -> None:
    three = votes(grade("4A"), grade("4B"), grade("3"))
    out = settle_votes(three, VoteSettings(quorum=3))
    assert out.status == "needs_adjudication"
    assert any("1–1 tie on stage within stage 4 (Stage 4A vs Stage 4B)" in r for r in out.reasons)
    assert settle_votes(three, VoteSettings(quorum=3, tie_rule="severe")).reference.stage is Stage.S4B
    by_hospital = settle_votes(three, VoteSettings(quorum=3, tie_rule="hospital"), hospital="stage 4A")
    assert by_hospital.reference.stage is Stage.S4A and by_hospital.method == "hospital_tiebreak"


def test_hospital_stage_without_substage_picks_the_only_tied_option_of_that_stage() -> None:
    out = settle_votes(votes(grade("3"), grade("4A"), grade("3"), grade("4A")), VoteSettings(tie_rule="hospital"),
                       hospital="stage 4")
    assert out.reference.stage is Stage.S4A


def test_not_assessable_votes_are_ignored_for_the_field_majority() -> None:
    out = settle_votes(votes(grade("2", "na"), grade("2", "na"), grade("2", "plus"), grade("2", "plus")))
    assert_consistent(out)
    assert out.reference.plus is Plus.PLUS and out.tally["plus"] == {"plus": 2, "na": 2}
    mostly_na = settle_votes(votes(grade("2", "na"), grade("2", "na"), grade("2", "na"), grade("2", "plus")))
    assert mostly_na.reference.plus is Plus.NA
    stage_na = settle_votes(votes(grade("na"), grade("na"), grade("na"), grade("2")))
    assert_consistent(stage_na)
    assert (stage_na.reference.stage, stage_na.reference.rop) == (Stage.NA, RopPresence.NA)


def test_optional_fields_do_not_block_but_required_ones_do() -> None:
    four = votes(grade("2", "plus", "I"), grade("2", "normal", "II"), grade("2", "plus", "II"),
                 grade("2", "normal", "I"))
    out = settle_votes(four)
    assert_consistent(out)
    assert out.reference.plus is None and out.reference.zone is None
    assert any(r.startswith("2–2 tie on plus disease") for r in out.reasons)
    strict = settle_votes(four, VoteSettings(required=("rop", "stage", "plus")))
    assert strict.status == "needs_adjudication"
    assert any("required field(s) not settled: plus disease" in r for r in strict.reasons)
    unanswered = settle_votes(votes(*[grade("2")] * 4))
    assert unanswered.reference.plus is None and "plus disease: no grader answered" in unanswered.reasons


@pytest.mark.parametrize("tie_rule", ["adjudicate", "severe"])
def test_rop_follows_a_settled_stage(tie_rule: str) -> None:
    # ROP is 2–2 (cho and dia answered "no" with a not-assessable stage) but the stage is 2 of 2:
    # the stage majority settles ROP, no tie-break needed.
    out = settle_votes(votes(grade("2"), grade("2"), grade("na", rop="no"), grade("na", rop="no")),
                       VoteSettings(tie_rule=tie_rule))
    assert_consistent(out)
    assert out.reference.rop is RopPresence.YES and out.fields["rop"].rule == "follows_stage"
    assert out.method == "majority" and set(out.dissenters) == {"cho", "dia"}


def test_rop_majority_contradicting_the_stage_is_adjudicated() -> None:
    # stage: 1, 1, 0 among the assessable (2 of 3 say stage 1); ROP: 3 of 5 say absent.
    five = {"ana": grade("1"), "ben": grade("1"), "cho": grade("na", rop="no"), "dia": grade("na", rop="no"),
            "eve": grade("0")}
    out = settle_votes(five, VoteSettings(quorum=5))
    assert out.status == "needs_adjudication"
    assert any("contradicts the settled Stage 1" in r for r in out.reasons)


def test_settled_grades_pass_check_grade_and_tallies_are_json() -> None:
    cases = [
        (votes(grade("1"), grade("1"), grade("0"), grade("1")), VoteSettings()),
        (votes(grade("0"), grade("0"), grade("0"), grade("3")), VoteSettings()),
        (votes(grade("5A"), grade("5B"), grade("5A"), grade("3")), VoteSettings()),
        (votes(grade("3", "plus", "I"), grade("1", "normal", "III"), grade("3", "plus", "I"), grade("1")),
         VoteSettings(tie_rule="severe")),
        (votes(UNGRADABLE, UNGRADABLE, UNGRADABLE, grade("2")), VoteSettings()),
    ]
    for vs, settings in cases:
        out = settle_votes(vs, settings)
        assert_consistent(out)
        assert json.loads(json.dumps(out.tally)) == out.tally


def test_paper_a_keep() -> None:
    yes = votes(grade("2"), grade("1"), grade("2"), grade("0"))
    assert paper_a_keep(yes, "ROP stage 2")
    assert not paper_a_keep(yes, "no ROP")
    assert not paper_a_keep(yes, None) and not paper_a_keep(yes, "suspected ROP?")
    assert not paper_a_keep(votes(grade("2"), grade("0"), grade("2"), grade("0")), "ROP")  # no majority
    assert not paper_a_keep(votes(UNGRADABLE, UNGRADABLE, UNGRADABLE, grade("2")), "ROP")
    assert paper_a_keep(votes(grade("0"), grade("0"), grade("0")), HospitalDiagnosis(rop=RopPresence.NO),
                        VoteSettings(quorum=3))


def test_bad_input_is_refused_with_a_reason() -> None:
    with pytest.raises(VoteError, match="tie rule 'coin'"):
        VoteSettings(tie_rule="coin")
    with pytest.raises(VoteError, match="quorum"):
        VoteSettings(quorum=0)
    with pytest.raises(VoteError, match="must include 'rop'"):
        VoteSettings(fields=("stage",), required=())
    with pytest.raises(VoteError, match=r"must include \['stage'\]"):
        VoteSettings(required=("rop",))
    with pytest.raises(VoteError, match="not among the voted fields"):
        VoteSettings(fields=("rop",), required=("rop", "stage"))
    with pytest.raises(VoteError, match="'ana' is a dict"):
        settle_votes({"ana": {"stage": "2"}})  # type: ignore[dict-item]
    assert VoteSettings.from_dict(VoteSettings(quorum=3, tie_rule="severe").as_dict()) == \
        VoteSettings(quorum=3, tie_rule="severe")
    with pytest.raises(VoteError, match="unknown vote setting"):
        VoteSettings.from_dict({"quorom": 3})


@pytest.mark.parametrize("text,rop,stage,zone,plus", [
    ("no ROP", "no", "0", None, None),
    ("No ROP, zone III", "no", "0", "III", None),
    ("normal", "no", "0", None, None),
    ("ROP negative", "no", "0", None, None),
    ("0", "no", "0", None, None),
    ("ROP stage 2", "yes", "2", None, None),
    ("Stage 3 plus", "yes", "3", None, "plus"),
    ("stage III+", "yes", "3", None, "plus"),
    ("2", "yes", "2", None, None),
    ("zone II stage 1", "yes", "1", "II", None),
    ("posterior zone II, stage 3, pre-plus", "yes", "3", "posterior II", "pre-plus"),
    ("ROP stage 2, no plus", "yes", "2", None, "normal"),
    ("stage 4A", "yes", "4A", None, None),
    ("ROP 2 at 34 weeks", "yes", "2", None, None),
    ("ROP", "yes", None, None, None),
    ("A-ROP", "yes", None, None, None),
    ("stage 4", "yes", None, None, None),
    ("", None, None, None, None),
    ("unknown", None, None, None, None),
    ("suspected ROP?", None, None, None, None),
    ("no ROP stage 2", None, None, None, None),  # contradictory
])
def test_parse_hospital_diagnosis(text: str, rop: str | None, stage: str | None, zone: str | None,
                                  plus: str | None) -> None:
    d = parse_hospital_diagnosis(text)
    assert d.rop is (RopPresence.parse(rop) if rop else None)
    assert d.stage is (Stage.parse(stage) if stage else None)
    assert d.zone is (Zone.parse(zone) if zone else None)
    assert d.plus is (Plus.parse(plus) if plus else None)
    assert d.text == text


def test_parse_hospital_diagnosis_keeps_the_major_stage() -> None:
    assert parse_hospital_diagnosis("stage 4").stage_major == 4
    assert parse_hospital_diagnosis(None) == HospitalDiagnosis()
