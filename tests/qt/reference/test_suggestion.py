"""What the reference editor is pre-filled with, and how grades read (Qt-free helpers of the view)."""

from __future__ import annotations

from datetime import UTC

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.domain.votes import VoteSettings
from rop_desktop.ui.adjudication.history import entries_from_audit
from rop_desktop.ui.adjudication.queue_panel import short_reasons, tally_text
from rop_desktop.ui.adjudication.suggestion import describe, describe_payload, suggest_from_votes


def g(rop: str, stage: str, **more: object) -> GradeValues:
    values = GradeValues(quality=Quality.GRADABLE, rop=RopPresence.parse(rop), stage=Stage.parse(stage))
    return values.with_(**more)


UNGRADABLE = GradeValues(quality=Quality.UNGRADABLE, rop=RopPresence.NA, stage=Stage.NA)


def test_a_two_two_split_takes_the_more_severe_value() -> None:
    votes = {"A": g("yes", "1"), "B": g("yes", "1"), "C": g("no", "0"), "D": g("no", "0")}
    suggestion = suggest_from_votes(votes, VoteSettings(tie_rule="adjudicate"))
    assert (suggestion.quality, suggestion.rop, suggestion.stage) == (Quality.GRADABLE, RopPresence.YES, Stage.S1)


def test_a_plurality_takes_the_commonest_answer_and_rop_follows_the_stage() -> None:
    votes = {"A": g("yes", "2", zone=Zone.II), "B": g("yes", "2", zone=Zone.II), "C": g("yes", "1", zone=Zone.III),
             "D": g("no", "0", zone=Zone.II, plus=Plus.NORMAL)}
    suggestion = suggest_from_votes(votes)
    assert (suggestion.rop, suggestion.stage, suggestion.zone, suggestion.plus) == (
        RopPresence.YES, Stage.S2, Zone.II, Plus.NORMAL)


def test_ungradable_majority_and_gradable_tie() -> None:
    assert suggest_from_votes({"A": UNGRADABLE, "B": UNGRADABLE, "C": g("no", "0")}).quality is Quality.UNGRADABLE
    tie = suggest_from_votes({"A": UNGRADABLE, "B": UNGRADABLE, "C": g("yes", "3"), "D": g("yes", "2")})
    assert (tie.quality, tie.rop, tie.stage) == (Quality.GRADABLE, RopPresence.YES, Stage.S3)
    assert suggest_from_votes({}) == GradeValues()


def test_wording() -> None:
    assert describe(g("yes", "2", zone=Zone.I, arop=True)) == "ROP · Stage 2 · Zone I · A-ROP"
    assert describe(UNGRADABLE) == "Ungradable" and describe(None) == "—"
    payload = {"values": g("no", "0").as_dict(), "method": "adjudicated"}
    assert describe_payload(payload) == "No ROP · Stage 0 (adjudicated)" and describe_payload(None) == "—"
    assert tally_text({"rop": {"no": 2, "yes": 2}, "stage": {"0": 2, "1": 2}, "quality": {"ungradable": 0}}) == \
        "ROP no 2 yes 2\nst. 0:2 1:2"
    assert short_reasons(["2–2 tie on ROP presence (No ROP vs ROP); tie rule: adjudicate",
                          "required field(s) not settled: ROP presence"]) == "2–2 tie on ROP presence"


def test_history_rows_from_audit_records_are_in_time_order() -> None:
    from dataclasses import dataclass
    from datetime import datetime

    @dataclass
    class Record:
        at: datetime
        actor: str | None
        entity: str
        action: str
        before: dict | None
        after: dict | None

    later = Record(datetime(2026, 3, 2, tzinfo=UTC), "Dr. J", "reference", "adjudicate",
                   {"values": g("no", "0").as_dict(), "method": "majority"},
                   {"values": g("yes", "1").as_dict(), "method": "adjudicated"})
    first = Record(datetime(2026, 3, 1, tzinfo=UTC), None, "reference", "create", None,
                   {"values": g("no", "0").as_dict(), "method": "majority"})
    rows = entries_from_audit([later, first])
    assert [r.who for r in rows] == ["system", "Dr. J"]
    assert (rows[1].what, rows[1].before, rows[1].after) == (
        "reference adjudicate", "No ROP · Stage 0 (majority)", "ROP · Stage 1 (adjudicated)")
