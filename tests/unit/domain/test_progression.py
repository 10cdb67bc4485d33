"""Worsening between visits of one eye, and what puts an eye on the Needs attention list."""

from __future__ import annotations

from datetime import date

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.domain.progression import Visit, eye_history, needs_attention, worsening


def g(stage: str, zone: Zone, plus: Plus = Plus.NORMAL) -> GradeValues:
    s = Stage.parse(stage)
    return GradeValues(rop=RopPresence.NO if s is Stage.S0 else RopPresence.YES, stage=s, zone=zone, plus=plus,
                       quality=Quality.GRADABLE)


def test_each_kind_of_worsening_is_flagged() -> None:
    assert worsening(g("1", Zone.II), g("2", Zone.II)) == ["stage 1 → 2"]
    assert worsening(g("1", Zone.II), g("1", Zone.POSTERIOR_II)) == ["zone II → posterior II (more posterior)"]
    assert worsening(g("1", Zone.II, Plus.PRE_PLUS), g("1", Zone.II, Plus.PLUS)) == ["plus disease appeared"]
    assert worsening(g("1", Zone.II), g("1", Zone.II, Plus.PRE_PLUS)) == ["pre-plus appeared"]
    crossing = worsening(g("2", Zone.II, Plus.PRE_PLUS), g("2", Zone.II, Plus.PLUS))
    assert "now treatment-warranted (Type 1)" in crossing
    assert worsening(g("2", Zone.II), g("3", Zone.II))[-1] == "now close follow-up (Type 2)"


def test_improvement_or_no_change_is_not_flagged() -> None:
    assert worsening(g("2", Zone.II), g("2", Zone.II)) == []
    assert worsening(g("3", Zone.I, Plus.PLUS), g("1", Zone.III)) == []
    assert worsening(g("1", Zone.II), GradeValues()) == []  # nothing known: nothing flagged


def test_history_in_date_order_and_needs_attention() -> None:
    visits = [Visit(3, Eye.OD, date(2026, 3, 15), g("2", Zone.II, Plus.PLUS)),
              Visit(1, Eye.OD, date(2026, 3, 1), g("1", Zone.II)),
              Visit(2, Eye.OD, date(2026, 3, 8), g("2", Zone.II))]
    history = eye_history(visits)
    assert [h.visit.exam_id for h in history] == [1, 2, 3]
    assert history[0].flags == () and history[1].flags == ("stage 1 → 2",)
    assert "plus disease appeared" in history[2].flags and history[2].worse
    assert "now treatment-warranted (Type 1)" in needs_attention(history)
    stable = eye_history([Visit(1, Eye.OS, date(2026, 3, 1), g("1", Zone.II)),
                          Visit(2, Eye.OS, date(2026, 3, 8), g("1", Zone.II))])
    assert needs_attention(stable) == ()
    treated_already = eye_history([Visit(1, Eye.OS, date(2026, 3, 1), g("3", Zone.I)),
                                   Visit(2, Eye.OS, date(2026, 3, 8), g("3", Zone.I))])
    assert needs_attention(treated_already) == ("treatment-warranted",)
    assert needs_attention([]) == ()


def test_a_visit_not_graded_yet_is_listed_but_compared_with_nothing() -> None:
    history = eye_history([Visit(1, Eye.OD, date(2026, 3, 1), g("1", Zone.II)),
                           Visit(2, Eye.OD, date(2026, 3, 8), GradeValues()),          # votes pending
                           Visit(3, Eye.OD, date(2026, 3, 15), g("2", Zone.II, Plus.PLUS))])
    assert [h.flags for h in history][:2] == [(), ()]
    assert "stage 1 → 2" in history[2].flags        # against the last visit that said something
    assert "now treatment-warranted (Type 1)" in needs_attention(history)
    pending_last = eye_history([Visit(1, Eye.OD, date(2026, 3, 1), g("1", Zone.II)),
                                Visit(2, Eye.OD, date(2026, 3, 8), g("3", Zone.I)),
                                Visit(3, Eye.OD, date(2026, 3, 15), GradeValues())])
    assert needs_attention(pending_last)             # the latest visit that says something decides
